# tier = "silo": the tenant's dedicated data stores, bucket, secrets, load
# balancer and DNS. The ECS services that run Atrium are in ecs.tf, the
# network in network.tf.

resource "aws_kms_key" "silo" {
  count                   = local.silo ? 1 : 0
  description             = "Atrium silo ${var.slug}: database, Redis, bucket, secrets and logs"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.silo_key[0].json
  tags                    = local.tags
}

# The account administers the key (IAM policies grant its use); CloudWatch Logs may use it for this silo's groups.
data "aws_iam_policy_document" "silo_key" {
  #checkov:skip=CKV_AWS_111:a key policy's "*" resource is the key itself
  #checkov:skip=CKV_AWS_356:a key policy's "*" resource is the key itself
  #checkov:skip=CKV_AWS_109:the account root administers its own key (AWS's default key policy)
  count = local.silo ? 1 : 0

  statement {
    sid       = "AccountAdministers"
    actions   = ["kms:*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  statement {
    sid       = "LogsEncryptThisSilo"
    actions   = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["logs.${var.region}.amazonaws.com"]
    }

    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${local.partition}:logs:${var.region}:${local.account_id}:log-group:/atrium/${var.slug}/*"]
    }
  }
}

# ---- secrets: generated here, kept in Secrets Manager, injected into the tasks (ecs.tf) ----

resource "random_password" "django_secret_key" {
  count   = local.silo ? 1 : 0
  length  = 64
  special = false
}

# Passwords of the two database login roles (docs/runbooks/database-roles.md); the
# runbook sets them after scripts/db/create-app-role.sh. URL-safe: no special characters.
resource "random_password" "db_web" {
  count   = local.silo ? 1 : 0
  length  = 40
  special = false
}

resource "random_password" "db_operator" {
  count   = local.silo ? 1 : 0
  length  = 40
  special = false
}

resource "random_password" "redis_auth" {
  count   = local.silo ? 1 : 0
  length  = 48
  special = false
}

resource "aws_secretsmanager_secret" "app" {
  #checkov:skip=CKV2_AWS_57:the passwords are set in PostgreSQL and Redis too; rotate by the runbook, not a Lambda
  count                   = local.silo ? 1 : 0
  name                    = "atrium/tenants/${var.slug}/app"
  description             = "Atrium settings of silo ${var.slug}: DJANGO_SECRET_KEY, DATABASE_URL, REDIS_URL."
  kms_key_id              = aws_kms_key.silo[0].arn
  recovery_window_in_days = 7
  tags                    = local.tags
}

resource "aws_secretsmanager_secret_version" "app" {
  count     = local.silo ? 1 : 0
  secret_id = aws_secretsmanager_secret.app[0].id
  secret_string = jsonencode({
    DJANGO_SECRET_KEY = random_password.django_secret_key[0].result
    # Web, worker and rqcron connect as the web role, which can never lift row security.
    DATABASE_URL = "postgres://atrium_web:${random_password.db_web[0].result}@${aws_db_instance.silo[0].address}:5432/atrium?sslmode=require"
    # manage.py migrate and operator commands (one-off tasks) connect as the operator role.
    OPERATOR_DATABASE_URL = "postgres://atrium:${random_password.db_operator[0].result}@${aws_db_instance.silo[0].address}:5432/atrium?sslmode=require"
    REDIS_URL             = "rediss://:${random_password.redis_auth[0].result}@${aws_elasticache_replication_group.silo[0].primary_endpoint_address}:6379/0"
  })
}

# ---- PostgreSQL ----

resource "aws_db_subnet_group" "silo" {
  count      = local.silo ? 1 : 0
  name       = local.short_name
  subnet_ids = [for s in aws_subnet.private : s.id]
  tags       = local.tags
}

resource "aws_db_parameter_group" "silo" {
  count  = local.silo ? 1 : 0
  name   = local.short_name
  family = "postgres16"
  tags   = local.tags

  parameter {
    name  = "rds.force_ssl"
    value = "1"
  }

  parameter {
    name  = "log_min_duration_statement"
    value = "1000"
  }
}

resource "aws_db_instance" "silo" {
  #checkov:skip=CKV_AWS_353:Performance Insights is not offered on the smallest classes the free plan uses
  #checkov:skip=CKV_AWS_118:enhanced monitoring needs its own IAM role; CloudWatch metrics and the exported logs suffice
  count                               = local.silo ? 1 : 0
  identifier                          = local.short_name
  engine                              = "postgres"
  engine_version                      = "16"
  instance_class                      = var.sizes.db_instance_class
  allocated_storage                   = var.sizes.db_allocated_storage
  max_allocated_storage               = var.sizes.db_allocated_storage * 4
  storage_type                        = "gp3"
  storage_encrypted                   = true
  kms_key_id                          = aws_kms_key.silo[0].arn
  db_name                             = "atrium"
  username                            = "atrium_admin"
  manage_master_user_password         = true # RDS keeps it in Secrets Manager; never in Terraform state
  db_subnet_group_name                = aws_db_subnet_group.silo[0].name
  parameter_group_name                = aws_db_parameter_group.silo[0].name
  vpc_security_group_ids              = [aws_security_group.db[0].id]
  publicly_accessible                 = false
  multi_az                            = var.sizes.db_multi_az
  backup_retention_period             = var.backup_retention_days
  backup_window                       = "02:00-03:00"
  maintenance_window                  = "sun:03:30-sun:04:30"
  copy_tags_to_snapshot               = true
  deletion_protection                 = true
  skip_final_snapshot                 = false
  final_snapshot_identifier           = "${local.short_name}-final"
  auto_minor_version_upgrade          = true
  iam_database_authentication_enabled = true
  enabled_cloudwatch_logs_exports     = ["postgresql", "upgrade"]
  tags                                = local.tags
}

# ---- Redis (RQ queues, cache, throttling, revocation) ----

resource "aws_elasticache_subnet_group" "silo" {
  count      = local.silo ? 1 : 0
  name       = local.short_name
  subnet_ids = [for s in aws_subnet.private : s.id]
  tags       = local.tags
}

resource "aws_elasticache_replication_group" "silo" {
  count                      = local.silo ? 1 : 0
  replication_group_id       = local.short_name
  description                = "Atrium silo ${var.slug}"
  engine                     = "redis"
  engine_version             = "7.1"
  node_type                  = var.sizes.redis_node_type
  num_cache_clusters         = var.sizes.db_multi_az ? 2 : 1
  automatic_failover_enabled = var.sizes.db_multi_az
  port                       = 6379
  subnet_group_name          = aws_elasticache_subnet_group.silo[0].name
  security_group_ids         = [aws_security_group.redis[0].id]
  at_rest_encryption_enabled = true
  kms_key_id                 = aws_kms_key.silo[0].arn
  transit_encryption_enabled = true
  auth_token                 = random_password.redis_auth[0].result
  snapshot_retention_limit   = 7
  tags                       = local.tags
}

# ---- S3: the tenant's files ----

resource "aws_s3_bucket" "silo" {
  #checkov:skip=CKV_AWS_18:object access is audited by CloudTrail data events of the account, not a log bucket per tenant
  #checkov:skip=CKV_AWS_144:cross-region replication is a disaster-recovery choice per deployment; versioning keeps history
  #checkov:skip=CKV2_AWS_62:nothing consumes bucket events; the app records uploads itself
  count  = local.silo ? 1 : 0
  bucket = "${local.short_name}-files-${local.account_id}"
  tags   = local.tags
}

resource "aws_s3_bucket_versioning" "silo" {
  count  = local.silo ? 1 : 0
  bucket = aws_s3_bucket.silo[0].id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "silo" {
  count  = local.silo ? 1 : 0
  bucket = aws_s3_bucket.silo[0].id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.silo[0].arn
    }
    bucket_key_enabled = true
  }
}

# Old versions of replaced or deleted files go after 90 days; unfinished uploads after 7.
resource "aws_s3_bucket_lifecycle_configuration" "silo" {
  count  = local.silo ? 1 : 0
  bucket = aws_s3_bucket.silo[0].id

  rule {
    id     = "expire-old-versions"
    status = "Enabled"

    filter {}

    noncurrent_version_expiration {
      noncurrent_days = 90
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
}

resource "aws_s3_bucket_public_access_block" "silo" {
  count                   = local.silo ? 1 : 0
  bucket                  = aws_s3_bucket.silo[0].id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

data "aws_iam_policy_document" "silo_bucket" {
  count = local.silo ? 1 : 0

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.silo[0].arn, "${aws_s3_bucket.silo[0].arn}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "silo" {
  count      = local.silo ? 1 : 0
  bucket     = aws_s3_bucket.silo[0].id
  policy     = data.aws_iam_policy_document.silo_bucket[0].json
  depends_on = [aws_s3_bucket_public_access_block.silo]
}

# ---- HTTPS: certificate, load balancer (443 only), DNS ----

resource "aws_acm_certificate" "silo" {
  count             = local.silo ? 1 : 0
  domain_name       = var.domain
  validation_method = "DNS"
  tags              = local.tags

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_route53_record" "certificate_validation" {
  for_each = {
    for o in flatten([for c in aws_acm_certificate.silo : [for d in c.domain_validation_options : d]]) : o.domain_name => o
  }
  zone_id         = data.aws_route53_zone.tenants.zone_id
  name            = each.value.resource_record_name
  type            = each.value.resource_record_type
  records         = [each.value.resource_record_value]
  ttl             = 300
  allow_overwrite = true
}

resource "aws_acm_certificate_validation" "silo" {
  count                   = local.silo ? 1 : 0
  certificate_arn         = aws_acm_certificate.silo[0].arn
  validation_record_fqdns = [for r in aws_route53_record.certificate_validation : r.fqdn]
}

resource "aws_lb" "silo" {
  #checkov:skip=CKV_AWS_91:request logs are the app's JSON lines in CloudWatch (one per request)
  #checkov:skip=CKV2_AWS_28:WAF is a per-deployment choice; the app throttles and locks out itself
  count                      = local.silo ? 1 : 0
  name                       = local.short_name
  load_balancer_type         = "application"
  internal                   = false
  subnets                    = [for s in aws_subnet.public : s.id]
  security_groups            = [aws_security_group.alb[0].id]
  drop_invalid_header_fields = true
  enable_deletion_protection = true
  tags                       = local.tags
}

resource "aws_lb_target_group" "web" {
  count       = local.silo ? 1 : 0
  name        = local.short_name
  port        = 8000
  protocol    = "HTTP"
  target_type = "ip"
  vpc_id      = aws_vpc.silo[0].id
  tags        = local.tags

  health_check {
    path    = "/readyz"
    matcher = "200"
  }
}

resource "aws_lb_listener" "https" {
  count             = local.silo ? 1 : 0
  load_balancer_arn = aws_lb.silo[0].arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = "ELBSecurityPolicy-TLS13-1-2-2021-06"
  certificate_arn   = aws_acm_certificate_validation.silo[0].certificate_arn

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.web[0].arn
  }
}

resource "aws_route53_record" "silo" {
  count   = local.silo ? 1 : 0
  zone_id = data.aws_route53_zone.tenants.zone_id
  name    = var.domain
  type    = "A"

  alias {
    name                   = aws_lb.silo[0].dns_name
    zone_id                = aws_lb.silo[0].zone_id
    evaluate_target_health = true
  }
}
