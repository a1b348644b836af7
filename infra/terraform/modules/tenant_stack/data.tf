# Lookups and names shared by both tiers.

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

data "aws_availability_zones" "available" {
  #checkov:skip=CKV_AWS_394:only the first two zones are used (network.tf slices them); a new zone changes nothing
  state = "available"
}

# The tenant's host name lives in its parent zone (<slug>.atrium.example.com -> atrium.example.com).
data "aws_route53_zone" "tenants" {
  name         = local.zone_name
  private_zone = false
}

# Pooled tenants point their record at the shared load balancer.
data "aws_lb" "shared" {
  count = local.pooled ? 1 : 0
  name  = var.shared_name
}

locals {
  pooled = var.tier == "pooled"
  silo   = var.tier == "silo"

  zone_name = trimprefix(var.domain, "${var.slug}.")
  # Readable where AWS allows 63 characters; short and unique (from the tenant id) where it allows 32.
  name       = "atrium-${var.slug}"
  short_name = "atr-${substr(replace(var.tenant_id, "-", ""), 0, 16)}"
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition

  # The shared stack names its bucket like this (modules/shared_stack).
  shared_bucket = "${var.shared_name}-files-${local.account_id}-${var.region}"
  tenant_prefix = "tenants/${var.tenant_id}/"

  tags = {
    "atrium:tenant-id" = var.tenant_id
    "atrium:tenant"    = var.slug
    "atrium:tier"      = var.tier
    "atrium:plan"      = var.plan
  }
}
