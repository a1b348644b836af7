# What pooled tenants share: one VPC, one HTTPS load balancer for *.<zone>,
# one PostgreSQL (row-level security keeps tenants apart), one Redis and one
# bucket (a prefix per tenant, see tenant_stack/main_pooled.tf). The shared
# web/worker/rqcron services are deployed like a silo's (tenant_stack/ecs.tf).

data "aws_caller_identity" "current" {}

data "aws_availability_zones" "available" {
  #checkov:skip=CKV_AWS_394:only the first two zones are used (sliced below); a new zone changes nothing
  state = "available"
}

data "aws_route53_zone" "tenants" {
  name = var.zone_name
}

locals {
  azs       = slice(data.aws_availability_zones.available.names, 0, 2)
  public    = { for i, az in local.azs : az => cidrsubnet(var.vpc_cidr, 8, i) }
  private   = { for i, az in local.azs : az => cidrsubnet(var.vpc_cidr, 8, 10 + i) }
  bucket    = "${var.name}-files-${data.aws_caller_identity.current.account_id}-${var.region}"
  tags      = { "atrium:stack" = var.name }
  vpc_cidrs = [var.vpc_cidr]
}

resource "aws_kms_key" "shared" {
  description         = "Atrium shared stack ${var.name}"
  enable_key_rotation = true
  policy              = data.aws_iam_policy_document.key.json
  tags                = local.tags
}

# The account administers the key; IAM policies grant its use.
data "aws_iam_policy_document" "key" {
  #checkov:skip=CKV_AWS_111:a key policy's "*" resource is the key itself
  #checkov:skip=CKV_AWS_356:a key policy's "*" resource is the key itself
  #checkov:skip=CKV_AWS_109:the account root administers its own key (AWS's default key policy)
  statement {
    sid       = "AccountAdministers"
    actions   = ["kms:*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:aws:iam::${data.aws_caller_identity.current.account_id}:root"]
    }
  }
}

resource "random_password" "redis_auth" {
  length  = 48
  special = false
}

# ---- network ----

resource "aws_vpc" "shared" {
  #checkov:skip=CKV2_AWS_11:flow logs are enabled account-wide by the platform's baseline
  cidr_block           = var.vpc_cidr
  enable_dns_support   = true
  enable_dns_hostnames = true
  tags                 = merge(local.tags, { Name = var.name })
}

resource "aws_default_security_group" "shared" {
  vpc_id = aws_vpc.shared.id
  tags   = local.tags
}

resource "aws_internet_gateway" "shared" {
  vpc_id = aws_vpc.shared.id
  tags   = local.tags
}

resource "aws_subnet" "public" {
  for_each          = local.public
  vpc_id            = aws_vpc.shared.id
  availability_zone = each.key
  cidr_block        = each.value
  tags              = merge(local.tags, { Name = "${var.name}-public-${each.key}" })
}

resource "aws_subnet" "private" {
  for_each          = local.private
  vpc_id            = aws_vpc.shared.id
  availability_zone = each.key
  cidr_block        = each.value
  tags              = merge(local.tags, { Name = "${var.name}-private-${each.key}" })
}

resource "aws_route_table" "public" {
  vpc_id = aws_vpc.shared.id
  tags   = local.tags

  route {
    cidr_block = "0.0.0.0/0"
    gateway_id = aws_internet_gateway.shared.id
  }
}

resource "aws_route_table_association" "public" {
  for_each       = aws_subnet.public
  subnet_id      = each.value.id
  route_table_id = aws_route_table.public.id
}

resource "aws_security_group" "alb" {
  name        = "${var.name}-alb"
  description = "HTTPS from the internet"
  vpc_id      = aws_vpc.shared.id
  tags        = local.tags

  ingress {
    description = "HTTPS"
    from_port   = 443
    to_port     = 443
    protocol    = "tcp"
    cidr_blocks = ["0.0.0.0/0"]
  }

  egress {
    description = "To the app tasks"
    from_port   = 8000
    to_port     = 8000
    protocol    = "tcp"
    cidr_blocks = local.vpc_cidrs
  }
}

resource "aws_security_group" "data" {
  name        = "${var.name}-data"
  description = "PostgreSQL and Redis from inside the VPC only"
  vpc_id      = aws_vpc.shared.id
  tags        = local.tags

  ingress {
    description = "PostgreSQL"
    from_port   = 5432
    to_port     = 5432
    protocol    = "tcp"
    cidr_blocks = local.vpc_cidrs
  }

  ingress {
    description = "Redis (TLS)"
    from_port   = 6379
    to_port     = 6379
    protocol    = "tcp"
    cidr_blocks = local.vpc_cidrs
  }
}

# ---- HTTPS load balancer for every pooled tenant's host name ----

resource "aws_acm_certificate" "wildcard" {
  domain_name       = "*.${var.zone_name}"
  validation_method = "DNS"
  tags              = local.tags

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_route53_record" "certificate_validation" {
  for_each        = { for o in aws_acm_certificate.wildcard.domain_validation_options : o.domain_name => o }
  zone_id         = data.aws_route53_zone.tenants.zone_id
  name            = each.value.resource_record_name
  type            = each.value.resource_record_type
  records         = [each.value.resource_record_value]
  ttl             = 300
  allow_overwrite = true
}

resource "aws_acm_certificate_validation" "wildcard" {
  certificate_arn         = aws_acm_certificate.wildcard.arn
  validation_record_fqdns = [for r in aws_route53_record.certificate_validation : r.fqdn]
}

resource "aws_lb" "shared" {
  #checkov:skip=CKV_AWS_91:request logs are the app's JSON lines in CloudWatch (one per request)
  #checkov:skip=CKV2_AWS_28:WAF is a per-deployment choice; the app throttles and locks out itself
  name                       = var.name
  load_balancer_type         = "application"
  subnets                    = [for s in aws_subnet.public : s.id]
  security_groups            = [aws_security_group.alb.id]
  drop_invalid_header_fields = true
  enable_deletion_protection = true
  tags                       = local.tags
}

resource "aws_lb_target_group" "web" {
  name        = "${var.name}-web"
  port        = 8000
  protocol    = "HTTP"
  target_type = "ip"
  vpc_id      = aws_vpc.shared.id
  tags        = local.tags

  health_check {
    path    = "/readyz"
    matcher = "200"
  }
}

resource "aws_lb_listener" "https" {
  load_balancer_arn = aws_lb.shared.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = "ELBSecurityPolicy-TLS13-1-2-2021-06"
  certificate_arn   = aws_acm_certificate_validation.wildcard.certificate_arn

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.web.arn
  }
}

# ---- shared PostgreSQL and Redis ----

resource "aws_db_subnet_group" "shared" {
  name       = var.name
  subnet_ids = [for s in aws_subnet.private : s.id]
  tags       = local.tags
}

resource "aws_db_parameter_group" "shared" {
  name   = var.name
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

resource "aws_db_instance" "shared" {
  #checkov:skip=CKV_AWS_118:enhanced monitoring needs its own IAM role; CloudWatch metrics and the exported logs suffice
  identifier                          = var.name
  engine                              = "postgres"
  engine_version                      = "16"
  instance_class                      = var.db_instance_class
  allocated_storage                   = 100
  max_allocated_storage               = 1000
  storage_type                        = "gp3"
  storage_encrypted                   = true
  kms_key_id                          = aws_kms_key.shared.arn
  db_name                             = "atrium"
  username                            = "atrium_admin"
  manage_master_user_password         = true
  db_subnet_group_name                = aws_db_subnet_group.shared.name
  parameter_group_name                = aws_db_parameter_group.shared.name
  vpc_security_group_ids              = [aws_security_group.data.id]
  publicly_accessible                 = false
  multi_az                            = true
  backup_retention_period             = var.backup_retention_days
  copy_tags_to_snapshot               = true
  deletion_protection                 = true
  skip_final_snapshot                 = false
  final_snapshot_identifier           = "${var.name}-final"
  auto_minor_version_upgrade          = true
  iam_database_authentication_enabled = true
  performance_insights_enabled        = true
  performance_insights_kms_key_id     = aws_kms_key.shared.arn
  enabled_cloudwatch_logs_exports     = ["postgresql", "upgrade"]
  tags                                = local.tags
}

resource "aws_elasticache_subnet_group" "shared" {
  name       = var.name
  subnet_ids = [for s in aws_subnet.private : s.id]
  tags       = local.tags
}

resource "aws_elasticache_replication_group" "shared" {
  replication_group_id       = var.name
  description                = "Atrium shared stack"
  engine                     = "redis"
  engine_version             = "7.1"
  node_type                  = var.redis_node_type
  num_cache_clusters         = 2
  automatic_failover_enabled = true
  subnet_group_name          = aws_elasticache_subnet_group.shared.name
  security_group_ids         = [aws_security_group.data.id]
  at_rest_encryption_enabled = true
  kms_key_id                 = aws_kms_key.shared.arn
  transit_encryption_enabled = true
  auth_token                 = random_password.redis_auth.result
  snapshot_retention_limit   = 7
  tags                       = local.tags
}

# ---- the bucket: one prefix per pooled tenant ----

resource "aws_s3_bucket" "files" {
  #checkov:skip=CKV_AWS_18:object access is audited by CloudTrail data events of the account
  #checkov:skip=CKV_AWS_144:cross-region replication is a disaster-recovery choice per deployment; versioning keeps history
  #checkov:skip=CKV2_AWS_62:nothing consumes bucket events; the app records uploads itself
  bucket = local.bucket
  tags   = local.tags
}

resource "aws_s3_bucket_versioning" "files" {
  bucket = aws_s3_bucket.files.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "files" {
  bucket = aws_s3_bucket.files.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.shared.arn
    }
    bucket_key_enabled = true
  }
}

# Old versions of replaced or deleted files go after 90 days; unfinished uploads after 7.
resource "aws_s3_bucket_lifecycle_configuration" "files" {
  bucket = aws_s3_bucket.files.id

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

resource "aws_s3_bucket_public_access_block" "files" {
  bucket                  = aws_s3_bucket.files.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

data "aws_iam_policy_document" "files_tls_only" {
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.files.arn, "${aws_s3_bucket.files.arn}/*"]

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

resource "aws_s3_bucket_policy" "files" {
  bucket     = aws_s3_bucket.files.id
  policy     = data.aws_iam_policy_document.files_tls_only.json
  depends_on = [aws_s3_bucket_public_access_block.files]
}
