# Inputs of the stack that pooled tenants share.

variable "name" {
  description = "Name of the shared stack; tenant_stack's shared_name must be the same."
  type        = string
  default     = "atrium-shared"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}$", var.name))
    error_message = "name must be a lowercase name of at most 31 characters (it names the ALB)."
  }
}

variable "region" {
  description = "AWS region of the shared stack."
  type        = string

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.region))
    error_message = "region must be an AWS region name such as eu-west-1."
  }
}

variable "zone_name" {
  description = "Route53 zone of the tenant host names (the tenant domain suffix, e.g. atrium.example.com)."
  type        = string

  validation {
    condition     = can(regex("^([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z]{2,63}$", var.zone_name))
    error_message = "zone_name must be a lowercase DNS name."
  }
}

variable "vpc_cidr" {
  description = "Address range of the shared VPC (a /16)."
  type        = string
  default     = "10.40.0.0/16"

  validation {
    condition     = can(cidrhost(var.vpc_cidr, 0)) && endswith(var.vpc_cidr, "/16")
    error_message = "vpc_cidr must be an IPv4 /16."
  }
}

variable "db_instance_class" {
  description = "RDS instance class of the shared PostgreSQL."
  type        = string
  default     = "db.r6g.large"
}

variable "redis_node_type" {
  description = "ElastiCache node type of the shared Redis."
  type        = string
  default     = "cache.r6g.large"
}

variable "backup_retention_days" {
  description = "Days of automated backups of the shared database."
  type        = number
  default     = 30

  validation {
    condition     = var.backup_retention_days >= 7 && var.backup_retention_days <= 35
    error_message = "backup_retention_days must be between 7 and 35."
  }
}
