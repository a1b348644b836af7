# tier = "silo": the dedicated network. Two availability zones; the load
# balancer in public subnets, everything else in private subnets that reach
# out (image pulls, AWS APIs) through one NAT gateway.

locals {
  azs = local.silo ? slice(data.aws_availability_zones.available.names, 0, 2) : []
  # 10.42.0.0/16 -> public 10.42.0.0/24, 10.42.1.0/24; private 10.42.10.0/24, 10.42.11.0/24.
  public_subnets  = { for i, az in local.azs : az => cidrsubnet(var.vpc_cidr, 8, i) }
  private_subnets = { for i, az in local.azs : az => cidrsubnet(var.vpc_cidr, 8, 10 + i) }
}

resource "aws_vpc" "silo" {
  #checkov:skip=CKV2_AWS_11:flow logs are enabled account-wide by the platform's baseline, not per tenant VPC
  count                = local.silo ? 1 : 0
  cidr_block           = var.vpc_cidr
  enable_dns_support   = true
  enable_dns_hostnames = true
  tags                 = merge(local.tags, { Name = local.name })
}

# No rule in the default security group: nothing can use it by accident.
resource "aws_default_security_group" "silo" {
  count  = local.silo ? 1 : 0
  vpc_id = aws_vpc.silo[0].id
  tags   = local.tags
}

resource "aws_internet_gateway" "silo" {
  count  = local.silo ? 1 : 0
  vpc_id = aws_vpc.silo[0].id
  tags   = merge(local.tags, { Name = local.name })
}

resource "aws_subnet" "public" {
  for_each          = local.public_subnets
  vpc_id            = aws_vpc.silo[0].id
  availability_zone = each.key
  cidr_block        = each.value
  tags              = merge(local.tags, { Name = "${local.name}-public-${each.key}" })
}

resource "aws_subnet" "private" {
  for_each          = local.private_subnets
  vpc_id            = aws_vpc.silo[0].id
  availability_zone = each.key
  cidr_block        = each.value
  tags              = merge(local.tags, { Name = "${local.name}-private-${each.key}" })
}

resource "aws_eip" "nat" {
  count  = local.silo ? 1 : 0
  domain = "vpc"
  tags   = merge(local.tags, { Name = "${local.name}-nat" })
}

resource "aws_nat_gateway" "silo" {
  count         = local.silo ? 1 : 0
  allocation_id = aws_eip.nat[0].id
  subnet_id     = aws_subnet.public[local.azs[0]].id
  tags          = merge(local.tags, { Name = local.name })
  depends_on    = [aws_internet_gateway.silo]
}

resource "aws_route_table" "public" {
  count  = local.silo ? 1 : 0
  vpc_id = aws_vpc.silo[0].id

  route {
    cidr_block = "0.0.0.0/0"
    gateway_id = aws_internet_gateway.silo[0].id
  }

  tags = merge(local.tags, { Name = "${local.name}-public" })
}

resource "aws_route_table" "private" {
  count  = local.silo ? 1 : 0
  vpc_id = aws_vpc.silo[0].id

  route {
    cidr_block     = "0.0.0.0/0"
    nat_gateway_id = aws_nat_gateway.silo[0].id
  }

  tags = merge(local.tags, { Name = "${local.name}-private" })
}

resource "aws_route_table_association" "public" {
  for_each       = aws_subnet.public
  subnet_id      = each.value.id
  route_table_id = aws_route_table.public[0].id
}

resource "aws_route_table_association" "private" {
  for_each       = aws_subnet.private
  subnet_id      = each.value.id
  route_table_id = aws_route_table.private[0].id
}

# ---- security groups: internet -> ALB (443) -> app (8000) -> PostgreSQL / Redis ----

resource "aws_security_group" "alb" {
  count       = local.silo ? 1 : 0
  name        = "${local.name}-alb"
  description = "HTTPS from the internet to the load balancer"
  vpc_id      = aws_vpc.silo[0].id
  tags        = local.tags

  ingress {
    description = "HTTPS"
    from_port   = 443
    to_port     = 443
    protocol    = "tcp"
    cidr_blocks = ["0.0.0.0/0"]
  }

  egress {
    description = "To the app tasks in the VPC"
    from_port   = 8000
    to_port     = 8000
    protocol    = "tcp"
    cidr_blocks = [var.vpc_cidr]
  }
}

resource "aws_security_group" "app" {
  #checkov:skip=CKV_AWS_382:outbound webhooks and mail go to customer-chosen hosts and ports (the app vets addresses)
  count       = local.silo ? 1 : 0
  name        = "${local.name}-app"
  description = "Atrium web, worker and rqcron tasks"
  vpc_id      = aws_vpc.silo[0].id
  tags        = local.tags

  ingress {
    description     = "gunicorn from the load balancer"
    from_port       = 8000
    to_port         = 8000
    protocol        = "tcp"
    security_groups = [aws_security_group.alb[0].id]
  }

  egress {
    description = "Database, Redis, AWS APIs, outbound webhooks and mail"
    from_port   = 0
    to_port     = 0
    protocol    = "-1"
    cidr_blocks = ["0.0.0.0/0"]
  }
}

resource "aws_security_group" "db" {
  count       = local.silo ? 1 : 0
  name        = "${local.name}-db"
  description = "PostgreSQL from the app tasks only"
  vpc_id      = aws_vpc.silo[0].id
  tags        = local.tags

  ingress {
    description     = "PostgreSQL"
    from_port       = 5432
    to_port         = 5432
    protocol        = "tcp"
    security_groups = [aws_security_group.app[0].id]
  }
}

resource "aws_security_group" "redis" {
  count       = local.silo ? 1 : 0
  name        = "${local.name}-redis"
  description = "Redis from the app tasks only"
  vpc_id      = aws_vpc.silo[0].id
  tags        = local.tags

  ingress {
    description     = "Redis (TLS)"
    from_port       = 6379
    to_port         = 6379
    protocol        = "tcp"
    security_groups = [aws_security_group.app[0].id]
  }
}
