# tier = "pooled": the tenant's slice of the shared stack. The app runs in the
# shared services; what is the tenant's own is an S3 prefix, a role confined to
# it, a DNS record and a secret for tenant-specific settings.

resource "aws_iam_role" "tenant" {
  count       = local.pooled ? 1 : 0
  name        = "${local.short_name}-tenant"
  description = "Assumed by shared Atrium tasks acting for tenant ${var.slug}; reaches only its S3 prefix."

  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "ecs-tasks.amazonaws.com" }
      Action    = "sts:AssumeRole"
      Condition = { StringEquals = { "aws:SourceAccount" = local.account_id } }
    }]
  })

  tags = local.tags
}

data "aws_iam_policy_document" "tenant_prefix" {
  count = local.pooled ? 1 : 0

  statement {
    sid       = "ListOwnPrefixOnly"
    actions   = ["s3:ListBucket"]
    resources = ["arn:${local.partition}:s3:::${local.shared_bucket}"]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = [local.tenant_prefix, "${local.tenant_prefix}*"]
    }
  }

  statement {
    sid       = "ObjectsUnderOwnPrefix"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
    resources = ["arn:${local.partition}:s3:::${local.shared_bucket}/${local.tenant_prefix}*"]
  }

  statement {
    sid       = "ReadOwnSecret"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [aws_secretsmanager_secret.tenant[0].arn]
  }
}

resource "aws_iam_role_policy" "tenant_prefix" {
  count  = local.pooled ? 1 : 0
  name   = "tenant-prefix"
  role   = aws_iam_role.tenant[0].id
  policy = data.aws_iam_policy_document.tenant_prefix[0].json
}

resource "aws_route53_record" "pooled" {
  count   = local.pooled ? 1 : 0
  zone_id = data.aws_route53_zone.tenants.zone_id
  name    = var.domain
  type    = "A"

  alias {
    name                   = data.aws_lb.shared[0].dns_name
    zone_id                = data.aws_lb.shared[0].zone_id
    evaluate_target_health = true
  }
}

resource "aws_secretsmanager_secret" "tenant" {
  #checkov:skip=CKV_AWS_149:a pooled slice has no KMS key of its own; the AWS-managed key encrypts it
  #checkov:skip=CKV2_AWS_57:tenant settings, not credentials: nothing to rotate
  count                   = local.pooled ? 1 : 0
  name                    = "atrium/tenants/${var.slug}/settings"
  description             = "Tenant-specific settings of ${var.slug} (pooled)."
  recovery_window_in_days = 7
  tags                    = local.tags
}

resource "aws_secretsmanager_secret_version" "tenant" {
  count     = local.pooled ? 1 : 0
  secret_id = aws_secretsmanager_secret.tenant[0].id
  secret_string = jsonencode({
    tenant_id = var.tenant_id
    slug      = var.slug
    s3_bucket = local.shared_bucket
    s3_prefix = local.tenant_prefix
  })

  # Operators add keys by hand (or another pipeline does): Terraform writes the first version only.
  lifecycle {
    ignore_changes = [secret_string]
  }
}
