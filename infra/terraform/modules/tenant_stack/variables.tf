# Inputs. The first block is exactly what `manage.py tenant_tfvars SLUG` prints
# (the root module passes each through); the rest have defaults that match
# the shared stack's names and are rarely changed.

variable "slug" {
  description = "The tenant's slug: DNS label, resource names and tags."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$", var.slug))
    error_message = "slug must be a lowercase DNS label (a-z, 0-9, '-'; at most 63 characters)."
  }
}

variable "tenant_id" {
  description = "The tenant row's UUID: the S3 prefix and the short resource names derive from it."
  type        = string

  validation {
    condition     = can(regex("^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", var.tenant_id))
    error_message = "tenant_id must be a lowercase UUID."
  }
}

variable "tier" {
  description = "pooled: a slice of the shared stack; silo: a dedicated stack."
  type        = string

  validation {
    condition     = contains(["pooled", "silo"], var.tier)
    error_message = "tier must be \"pooled\" or \"silo\"."
  }
}

variable "region" {
  description = "AWS region of the tenant's resources (the tenant row's region)."
  type        = string

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.region))
    error_message = "region must be an AWS region name such as eu-west-1."
  }
}

variable "domain" {
  description = "The tenant's host name, <slug>.<tenant domain suffix>; its parent is the Route53 zone."
  type        = string

  validation {
    condition     = can(regex("^([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z]{2,63}$", var.domain))
    error_message = "domain must be a lowercase host name."
  }
}

variable "plan" {
  description = "The tenant's billing plan code (tags only; the sizes below already follow it)."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9_-]{1,32}$", var.plan))
    error_message = "plan must be a plan code (a-z, 0-9, '_', '-')."
  }
}

variable "image" {
  description = "The Atrium container image (repository:tag or @digest) that silo tasks run."
  type        = string

  validation {
    condition     = length(trimspace(var.image)) > 0
    error_message = "image must not be empty."
  }
}

variable "sizes" {
  description = "Sizes by plan, from apps/identity/infra_sizing.py: database, Redis and ECS task sizes (silo)."
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

  validation {
    condition     = var.sizes.web_count >= 1 && var.sizes.worker_count >= 1
    error_message = "sizes.web_count and sizes.worker_count must be at least 1."
  }

  validation {
    condition     = contains([256, 512, 1024, 2048, 4096], var.sizes.cpu) && var.sizes.memory >= 512
    error_message = "sizes.cpu must be a Fargate CPU value (256-4096) and sizes.memory at least 512."
  }

  validation {
    condition     = can(regex("^db\\.", var.sizes.db_instance_class)) && can(regex("^cache\\.", var.sizes.redis_node_type))
    error_message = "sizes.db_instance_class must start with db. and sizes.redis_node_type with cache."
  }

  validation {
    condition     = var.sizes.db_allocated_storage >= 20
    error_message = "sizes.db_allocated_storage must be at least 20 (GiB)."
  }
}

# ---- defaults: names shared with modules/shared_stack, retention, addressing ----

variable "shared_name" {
  description = "Name of the shared stack (its ALB, bucket prefix and parameters) that pooled tenants use."
  type        = string
  default     = "atrium-shared"
}

variable "log_retention_days" {
  description = "CloudWatch log retention of the silo's services."
  type        = number
  default     = 365

  validation {
    condition     = contains([30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a CloudWatch retention value of at least 30."
  }
}

variable "backup_retention_days" {
  description = "Days of RDS automated backups (point-in-time restore window) of a silo."
  type        = number
  default     = 14

  validation {
    condition     = var.backup_retention_days >= 7 && var.backup_retention_days <= 35
    error_message = "backup_retention_days must be between 7 and 35."
  }
}

variable "vpc_cidr" {
  description = "Address range of a silo's VPC (a /16; subnets are carved from it)."
  type        = string
  default     = "10.42.0.0/16"

  validation {
    condition     = can(cidrhost(var.vpc_cidr, 0)) && endswith(var.vpc_cidr, "/16")
    error_message = "vpc_cidr must be an IPv4 /16."
  }
}
