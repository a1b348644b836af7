# Exactly the keys `manage.py tenant_tfvars SLUG` prints into var/infra/<slug>.tfvars.json
# (tests/test_infra_terraform.py compares them). Validation is the module's.

variable "slug" {
  description = "The tenant's slug."
  type        = string
}

variable "tenant_id" {
  description = "The tenant row's UUID."
  type        = string
}

variable "tier" {
  description = "pooled or silo (the tenant row's tier)."
  type        = string
}

variable "region" {
  description = "AWS region (the tenant row's region)."
  type        = string
}

variable "domain" {
  description = "The tenant's host name."
  type        = string
}

variable "plan" {
  description = "The tenant's billing plan code."
  type        = string
}

variable "image" {
  description = "The Atrium container image silo tasks run."
  type        = string
}

variable "sizes" {
  description = "Sizes by plan (apps/identity/infra_sizing.py)."
  type = object({
    db_instance_class    = string
    db_allocated_storage = number
    db_multi_az          = bool
    redis_node_type      = string
    web_count            = number
    worker_count         = number
    cpu                  = number
    memory               = number
  })
}
