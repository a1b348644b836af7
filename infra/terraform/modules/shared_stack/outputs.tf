output "vpc_id" {
  description = "The shared VPC."
  value       = aws_vpc.shared.id
}

output "private_subnet_ids" {
  description = "Where the shared ECS services run."
  value       = [for s in aws_subnet.private : s.id]
}

output "alb_dns_name" {
  description = "The load balancer every pooled tenant's DNS record points at."
  value       = aws_lb.shared.dns_name
}

output "web_target_group_arn" {
  description = "Target group of the shared web service."
  value       = aws_lb_target_group.web.arn
}

output "bucket" {
  description = "The shared files bucket (tenant_stack derives the same name)."
  value       = aws_s3_bucket.files.id
}

output "db_endpoint" {
  description = "The shared PostgreSQL address."
  value       = aws_db_instance.shared.address
}

output "redis_endpoint" {
  description = "The shared Redis primary endpoint (TLS)."
  value       = aws_elasticache_replication_group.shared.primary_endpoint_address
}
