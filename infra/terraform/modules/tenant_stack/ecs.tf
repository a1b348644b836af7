# tier = "silo": Atrium on ECS Fargate — web (gunicorn behind the ALB), the RQ
# worker, and exactly one rqcron (it schedules the periodic jobs; two would
# schedule them twice). All three run the same image with the same settings.

locals {
  app_secret_keys = ["DJANGO_SECRET_KEY", "DATABASE_URL", "REDIS_URL"]

  service_definitions = {
    web = {
      command = ["gunicorn", "config.wsgi", "-c", "config/gunicorn.conf.py", "--bind", "0.0.0.0:8000"]
      count   = var.sizes.web_count
    }
    worker = {
      command = ["python", "manage.py", "rqworker", "--with-scheduler", "default", "mail", "billing", "webhooks"]
      count   = var.sizes.worker_count
    }
    rqcron = {
      command = ["python", "manage.py", "rqcron"]
      count   = 1
    }
  }
  services = { for name, service in local.service_definitions : name => service if local.silo }

  app_environment = [
    { name = "ALLOWED_HOSTS", value = var.domain },
    { name = "PUBLIC_BASE_URL", value = "https://${var.domain}" },
    { name = "AWS_STORAGE_BUCKET_NAME", value = one(aws_s3_bucket.silo[*].id) },
    { name = "AWS_S3_REGION_NAME", value = var.region },
    { name = "TRUSTED_PROXIES", value = var.vpc_cidr },
    { name = "LOG_LEVEL", value = "INFO" },
  ]
}

resource "aws_cloudwatch_log_group" "service" {
  for_each          = local.services
  name              = "/atrium/${var.slug}/${each.key}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.silo[0].arn
  tags              = local.tags
}

resource "aws_ecs_cluster" "silo" {
  count = local.silo ? 1 : 0
  name  = local.name
  tags  = local.tags

  setting {
    name  = "containerInsights"
    value = "enabled"
  }
}

# ---- roles: the execution role pulls the image and reads the secret; the task role is the app's ----

data "aws_iam_policy_document" "ecs_tasks_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "execution" {
  count              = local.silo ? 1 : 0
  name               = "${local.short_name}-exec"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
  tags               = local.tags
}

resource "aws_iam_role_policy_attachment" "execution" {
  count      = local.silo ? 1 : 0
  role       = aws_iam_role.execution[0].name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
}

data "aws_iam_policy_document" "execution_secrets" {
  count = local.silo ? 1 : 0

  statement {
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [aws_secretsmanager_secret.app[0].arn]
  }

  statement {
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.silo[0].arn]
  }
}

resource "aws_iam_role_policy" "execution_secrets" {
  count  = local.silo ? 1 : 0
  name   = "app-secret"
  role   = aws_iam_role.execution[0].id
  policy = data.aws_iam_policy_document.execution_secrets[0].json
}

resource "aws_iam_role" "task" {
  count              = local.silo ? 1 : 0
  name               = "${local.short_name}-task"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
  tags               = local.tags
}

data "aws_iam_policy_document" "task_bucket" {
  count = local.silo ? 1 : 0

  statement {
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.silo[0].arn]
  }

  statement {
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
    resources = ["${aws_s3_bucket.silo[0].arn}/*"]
  }

  statement {
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.silo[0].arn]
  }
}

resource "aws_iam_role_policy" "task_bucket" {
  count  = local.silo ? 1 : 0
  name   = "files-bucket"
  role   = aws_iam_role.task[0].id
  policy = data.aws_iam_policy_document.task_bucket[0].json
}

# ---- task definitions and services ----

resource "aws_ecs_task_definition" "service" {
  for_each                 = local.services
  family                   = "${local.name}-${each.key}"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.sizes.cpu
  memory                   = var.sizes.memory
  execution_role_arn       = aws_iam_role.execution[0].arn
  task_role_arn            = aws_iam_role.task[0].arn
  tags                     = local.tags

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }

  container_definitions = jsonencode([{
    name                   = each.key
    image                  = var.image
    command                = each.value.command
    essential              = true
    readonlyRootFilesystem = false
    portMappings           = each.key == "web" ? [{ containerPort = 8000, protocol = "tcp" }] : []
    environment            = local.app_environment
    secrets = [
      for key in local.app_secret_keys : { name = key, valueFrom = "${aws_secretsmanager_secret.app[0].arn}:${key}::" }
    ]
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.service[each.key].name
        awslogs-region        = var.region
        awslogs-stream-prefix = each.key
      }
    }
  }])
}

resource "aws_ecs_service" "service" {
  for_each        = local.services
  name            = each.key
  cluster         = aws_ecs_cluster.silo[0].id
  task_definition = aws_ecs_task_definition.service[each.key].arn
  desired_count   = each.value.count
  launch_type     = "FARGATE"
  # rqcron must never run twice, not even during a deploy: stop the old task before starting the new one.
  deployment_maximum_percent         = each.key == "rqcron" ? 100 : 200
  deployment_minimum_healthy_percent = each.key == "rqcron" ? 0 : 100
  propagate_tags                     = "SERVICE"
  tags                               = local.tags

  network_configuration {
    subnets          = [for s in aws_subnet.private : s.id]
    security_groups  = [aws_security_group.app[0].id]
    assign_public_ip = false
  }

  dynamic "load_balancer" {
    for_each = each.key == "web" ? [aws_lb_target_group.web[0].arn] : []
    content {
      target_group_arn = load_balancer.value
      container_name   = "web"
      container_port   = 8000
    }
  }

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  depends_on = [aws_lb_listener.https]
}
