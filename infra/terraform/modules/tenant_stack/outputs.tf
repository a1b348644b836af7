# What operators and the next steps need (the runbook's DNS check, the app's
# settings). Attributes of the other tier are null.

output "tier" {
  description = "pooled or silo."
  value       = var.tier
}

output "url" {
  description = "The tenant's base URL."
  value       = "https://${var.domain}"
}

output "s3_bucket" {
  description = "Bucket of the tenant's files: the shared bucket (pooled) or its own (silo)."
  value       = local.pooled ? local.shared_bucket : one(aws_s3_bucket.silo[*].id)
}

output "s3_prefix" {
  description = "Key prefix of the tenant's files: tenants/<tenant_id>/ (pooled), empty (silo: the whole bucket)."
  value       = local.pooled ? local.tenant_prefix : ""
}

output "secret_arn" {
  description = "Secrets Manager secret: tenant settings (pooled) or the app's settings (silo)."
  value       = local.pooled ? one(aws_secretsmanager_secret.tenant[*].arn) : one(aws_secretsmanager_secret.app[*].arn)
}

output "tenant_role_arn" {
  description = "Pooled: the role confined to the tenant's S3 prefix."
  value       = one(aws_iam_role.tenant[*].arn)
}

output "load_balancer_dns_name" {
  description = "Where the tenant's DNS record points."
  value       = local.pooled ? one(data.aws_lb.shared[*].dns_name) : one(aws_lb.silo[*].dns_name)
}

output "db_endpoint" {
  description = "Silo: the RDS PostgreSQL address."
  value       = one(aws_db_instance.silo[*].address)
}

output "db_master_secret_arn" {
  description = "Silo: the RDS-managed secret of the admin user (run scripts/db/create-app-role.sh with it)."
  value       = one(flatten([for db in aws_db_instance.silo : [for s in db.master_user_secret : s.secret_arn]]))
}

output "redis_endpoint" {
  description = "Silo: the ElastiCache primary endpoint (TLS)."
  value       = one(aws_elasticache_replication_group.silo[*].primary_endpoint_address)
}

output "ecs_cluster" {
  description = "Silo: the ECS cluster running web, worker and rqcron."
  value       = one(aws_ecs_cluster.silo[*].name)
}

output "log_groups" {
  description = "Silo: CloudWatch log group per service."
  value       = { for k, g in aws_cloudwatch_log_group.service : k => g.name }
}
