#!/usr/bin/env bash
# `scripts/tenant-infra.sh SLUG plan|apply|destroy [TERRAFORM ARGS…]`: one tenant's Terraform run.
#
#   1. `manage.py tenant_tfvars SLUG` → $ATRIUM_INFRA_DIR/<slug>.tfvars.json (default var/infra)
#   2. terraform init of infra/terraform/envs/tenant with the tenant's own state object,
#      s3://$TF_STATE_BUCKET/tenants/<slug>.tfstate (its own TF_DATA_DIR, so tenants never share one)
#   3. terraform plan|apply|destroy -var-file=<that file>; extra arguments go to terraform
#      (e.g. -auto-approve, -target=…). apply and destroy ask for confirmation unless told not to.
#
# Environment: TF_STATE_BUCKET (required), TF_STATE_REGION (default $AWS_REGION, else eu-west-1),
# TF_STATE_LOCK_TABLE (a DynamoDB lock table; without it the S3 lock file, Terraform >= 1.10),
# ATRIUM_IMAGE (the image silo tasks run), ATRIUM_PYTHON (the python that runs manage.py),
# TERRAFORM (the terraform binary). docs/runbooks/tenant-infrastructure.md.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
  echo "usage: scripts/tenant-infra.sh SLUG plan|apply|destroy [TERRAFORM ARGS...]" >&2
  exit 2
}
[ $# -ge 2 ] || usage
slug=$1
action=$2
shift 2
case $action in
  plan | apply | destroy) ;;
  *) usage ;;
esac
if ! [[ $slug =~ ^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$ ]]; then
  echo "error: '$slug' is not a tenant slug (lower-case letters, digits and hyphens)." >&2
  exit 2
fi

terraform=${TERRAFORM:-terraform}
if ! command -v "$terraform" >/dev/null 2>&1; then
  echo "error: terraform not found (looked for '$terraform' on PATH). Install Terraform >= 1.5, or set TERRAFORM=/path/to/terraform." >&2
  exit 1
fi
if [ -z "${TF_STATE_BUCKET:-}" ]; then
  echo "error: TF_STATE_BUCKET is not set. Name the S3 bucket that holds tenant state (one object per tenant: tenants/<slug>.tfstate)." >&2
  exit 1
fi

py=${ATRIUM_PYTHON:-}
if [ -z "$py" ]; then
  for candidate in .venv-run/bin/python .venv/bin/python; do
    if [ -x "$candidate" ]; then
      py=$candidate
      break
    fi
  done
fi
py=${py:-python3}

infra_dir=${ATRIUM_INFRA_DIR:-var/infra}
mkdir -p "$infra_dir"
infra_dir=$(cd "$infra_dir" && pwd)
tfvars=$infra_dir/$slug.tfvars.json

# Written whole or not at all: a failed command (unknown slug) leaves no half file behind.
if ! "$py" manage.py tenant_tfvars "$slug" >"$tfvars.tmp"; then
  rm -f "$tfvars.tmp"
  echo "error: manage.py tenant_tfvars $slug failed (see above); nothing was run." >&2
  exit 1
fi
mv "$tfvars.tmp" "$tfvars"
echo "==> $tfvars"

backend=(
  "-backend-config=bucket=$TF_STATE_BUCKET"
  "-backend-config=key=tenants/$slug.tfstate"
  "-backend-config=region=${TF_STATE_REGION:-${AWS_REGION:-eu-west-1}}"
  "-backend-config=encrypt=true"
)
if [ -n "${TF_STATE_LOCK_TABLE:-}" ]; then
  backend+=("-backend-config=dynamodb_table=$TF_STATE_LOCK_TABLE")
else
  backend+=("-backend-config=use_lockfile=true")
fi

root=infra/terraform/envs/tenant
export TF_DATA_DIR=$infra_dir/$slug.terraform
echo "==> terraform init (state: s3://$TF_STATE_BUCKET/tenants/$slug.tfstate)"
"$terraform" "-chdir=$root" init -input=false -reconfigure "${backend[@]}"
echo "==> terraform $action"
case $action in
  plan) "$terraform" "-chdir=$root" plan -input=false "-var-file=$tfvars" "$@" ;;
  apply) "$terraform" "-chdir=$root" apply "-var-file=$tfvars" "$@" ;;
  destroy) "$terraform" "-chdir=$root" destroy "-var-file=$tfvars" "$@" ;;
esac
