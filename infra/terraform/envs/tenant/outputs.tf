output "tier" {
  description = "pooled or silo."
  value       = module.tenant.tier
}

output "url" {
  description = "The tenant's base URL (check its DNS after apply)."
  value       = module.tenant.url
}

output "s3_bucket" {
  description = "Bucket of the tenant's files."
  value       = module.tenant.s3_bucket
}

output "s3_prefix" {
  description = "Key prefix of the tenant's files (pooled)."
  value       = module.tenant.s3_prefix
}

output "secret_arn" {
  description = "The tenant's Secrets Manager secret."
  value       = module.tenant.secret_arn
}

output "load_balancer_dns_name" {
  description = "Where the tenant's DNS record points."
  value       = module.tenant.load_balancer_dns_name
}

output "db_endpoint" {
  description = "Silo: the RDS address."
  value       = module.tenant.db_endpoint
}

output "db_master_secret_arn" {
  description = "Silo: the RDS-managed admin secret."
  value       = module.tenant.db_master_secret_arn
}

output "ecs_cluster" {
  description = "Silo: the ECS cluster."
  value       = module.tenant.ecs_cluster
}
