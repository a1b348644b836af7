# One tenant: its slice of the shared stack (pooled) or its own stack (silo).
module "tenant" {
  source = "../../modules/tenant_stack"

  slug      = var.slug
  tenant_id = var.tenant_id
  tier      = var.tier
  region    = var.region
  domain    = var.domain
  plan      = var.plan
  image     = var.image
  sizes     = var.sizes
}
