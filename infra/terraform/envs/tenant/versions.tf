# The root module of one tenant's stack. State: one S3 object per tenant, given
# at init time by scripts/tenant-infra.sh:
#   terraform init -backend-config=bucket=$TF_STATE_BUCKET -backend-config=key=tenants/<slug>.tfstate ...
terraform {
  required_version = ">= 1.5.0"

  backend "s3" {}

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "5.80.0"
    }
    random = {
      source  = "hashicorp/random"
      version = "3.6.3"
    }
  }
}

provider "aws" {
  region = var.region

  default_tags {
    tags = {
      "atrium:managed-by" = "terraform/envs/tenant"
      "atrium:tenant"     = var.slug
    }
  }
}
