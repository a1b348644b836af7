"""infra/terraform: every file parses, the root module, the tenant module and `tenant_tfvars` agree,
the silo's data stores are locked down, and scripts/tenant-infra.sh runs terraform for one tenant.

No cloud access: files are read with python-hcl2; `terraform fmt` runs only where a
terraform binary is installed; the script is driven with a fake terraform and python.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from apps.billing.catalogue import DEFAULT_PLANS
from apps.identity.infra_sizing import SIZES_BY_PLAN
from apps.identity.tests.infra_support import (
    ROOT_MODULE,
    SHARED_MODULE,
    TENANT_MODULE,
    TERRAFORM,
    load,
    named_blocks,
    object_attributes,
    plain,
    resources,
    squeeze,
    tf_files,
)
from config.env import BASE_DIR

SCRIPT = Path(BASE_DIR) / "scripts" / "tenant-infra.sh"
TENANT_FILES = {"main_pooled.tf", "main_silo.tf", "network.tf", "data.tf", "ecs.tf", "variables.tf", "outputs.tf"}


def test_every_terraform_file_parses():
    files = tf_files()
    assert {p.name for p in files if p.parent == TENANT_MODULE} >= TENANT_FILES | {"versions.tf"}
    assert {p.parent for p in files} == {ROOT_MODULE, TENANT_MODULE, SHARED_MODULE}
    for path in files:
        assert isinstance(load(path), dict), path


def test_the_root_module_passes_each_of_its_variables_to_the_tenant_module_by_name():
    root_variables = named_blocks(ROOT_MODULE, "variable")
    call = named_blocks(ROOT_MODULE, "module")["tenant"]
    assert plain(call["source"]) == "../../modules/tenant_stack"
    passed = {k: plain(v) for k, v in call.items() if k != "source"}
    assert passed == {name: f"var.{name}" for name in root_variables}
    module_variables = named_blocks(TENANT_MODULE, "variable")
    assert set(root_variables) <= set(module_variables)
    for name, body in module_variables.items():
        if name not in root_variables:
            assert "default" in body, f"{name} is not passed by the root module and has no default"
        else:
            assert squeeze(body["type"]) == squeeze(root_variables[name]["type"]), name


def test_module_inputs_are_typed_and_described_and_the_required_ones_validated():
    for module in (TENANT_MODULE, SHARED_MODULE):
        for name, body in named_blocks(module, "variable").items():
            assert body.get("type"), f"{module.name}.{name} has no type"
            assert body.get("description"), f"{module.name}.{name} has no description"
            if "default" not in body:
                assert body.get("validation"), f"{module.name}.{name} has no validation"


def test_the_sizing_table_covers_every_catalogue_plan_with_the_modules_sizes_attributes():
    module_sizes = object_attributes(named_blocks(TENANT_MODULE, "variable")["sizes"]["type"])
    assert {plan["code"] for plan in DEFAULT_PLANS} <= set(SIZES_BY_PLAN)
    for plan, sizes in SIZES_BY_PLAN.items():
        assert set(sizes) == module_sizes, plan
        assert sizes["cpu"] in {256, 512, 1024, 2048, 4096}, plan
        assert sizes["memory"] >= 512, plan


def test_root_outputs_read_outputs_the_module_has():
    module_outputs = set(named_blocks(TENANT_MODULE, "output"))
    for name, body in named_blocks(ROOT_MODULE, "output").items():
        assert plain(body["value"]) == f"module.tenant.{name}", name
        assert name in module_outputs, name


def test_terraform_and_providers_are_pinned():
    for module in (ROOT_MODULE, TENANT_MODULE, SHARED_MODULE):
        blocks = [b for p in tf_files(module) if p.parent == module for b in load(p).get("terraform", [])]
        assert any(plain(b.get("required_version")) == ">= 1.5.0" for b in blocks), module
        providers = {k: v for b in blocks for entry in b.get("required_providers", []) for k, v in entry.items()}
        assert set(providers) == {"aws", "random"}, module
        for provider in providers.values():
            version = plain(provider["version"])
            assert version[0].isdigit() if module == ROOT_MODULE else version.startswith("~>"), (module, version)
    root_terraform = load(ROOT_MODULE / "versions.tf")["terraform"][0]
    assert "s3" in {name for backend in root_terraform["backend"] for name in backend}


def test_every_tenant_module_resource_exists_for_one_tier_only():
    for (rtype, name), (path, body) in resources(TENANT_MODULE).items():
        guard = plain(body.get("count", body.get("for_each", "")))
        assert guard, f"{rtype}.{name} has neither count nor for_each"
        if path.name == "main_pooled.tf":
            assert "local.pooled" in str(guard), f"{rtype}.{name}"
        elif "count" in body:
            assert "local.silo" in str(guard), f"{rtype}.{name}"
        else:  # for_each over silo-only collections
            assert any(s in str(guard) for s in ("local.services", "_subnets", "aws_subnet.", ".silo")), guard


def test_silo_data_stores_are_encrypted_private_retained_and_protected():
    res = {key: body for key, (_, body) in resources(TENANT_MODULE).items()}
    db = res[("aws_db_instance", "silo")]
    assert db["storage_encrypted"] is True
    assert db["deletion_protection"] is True
    assert db["publicly_accessible"] is False
    assert db["skip_final_snapshot"] is False
    assert plain(db["backup_retention_period"]) == "var.backup_retention_days"
    assert named_blocks(TENANT_MODULE, "variable")["backup_retention_days"]["default"] >= 7
    redis = res[("aws_elasticache_replication_group", "silo")]
    assert redis["at_rest_encryption_enabled"] is True
    assert redis["transit_encryption_enabled"] is True
    block = res[("aws_s3_bucket_public_access_block", "silo")]
    assert all(block[k] is True for k in ("block_public_acls", "block_public_policy", "ignore_public_acls"))
    assert block["restrict_public_buckets"] is True
    versioning = res[("aws_s3_bucket_versioning", "silo")]["versioning_configuration"][0]
    assert plain(versioning["status"]) == "Enabled"
    assert ("aws_s3_bucket_server_side_encryption_configuration", "silo") in res
    tls_only = resources(TENANT_MODULE, "data")[("aws_iam_policy_document", "silo_bucket")][1]["statement"][0]
    assert plain(tls_only["effect"]) == "Deny"
    assert plain(tls_only["condition"][0]["variable"]) == "aws:SecureTransport"
    listeners = [body for (rtype, _), body in res.items() if rtype == "aws_lb_listener"]
    assert listeners
    assert all(plain(b["protocol"]) == "HTTPS" and b["port"] == 443 for b in listeners)
    logs = res[("aws_cloudwatch_log_group", "service")]
    assert plain(logs["retention_in_days"]) == "var.log_retention_days"


def test_silo_tasks_get_their_settings_from_secrets_manager_and_run_one_rqcron():
    res = {key: body for key, (_, body) in resources(TENANT_MODULE).items()}
    container = str(res[("aws_ecs_task_definition", "service")]["container_definitions"])
    assert "aws_secretsmanager_secret.app[0].arn" in container
    assert "valueFrom" in container
    secret_keys = str(load(TENANT_MODULE / "ecs.tf")["locals"][0]["app_secret_keys"])
    for key in ("DJANGO_SECRET_KEY", "DATABASE_URL", "REDIS_URL"):
        assert key in secret_keys
        assert key in str(res[("aws_secretsmanager_secret_version", "app")]["secret_string"])
    ecs_locals = load(TENANT_MODULE / "ecs.tf")["locals"][0]
    assert "local.silo" in str(ecs_locals["services"])
    services = str(ecs_locals["service_definitions"])
    assert "rqcron" in services
    assert "rqworker" in services
    assert "gunicorn" in services
    service = res[("aws_ecs_service", "service")]
    assert "rqcron" in str(service["deployment_maximum_percent"])


def test_the_pooled_role_reaches_only_the_tenants_prefix_of_the_shared_bucket():
    statements = resources(TENANT_MODULE, "data")[("aws_iam_policy_document", "tenant_prefix")][1]["statement"]
    by_sid = {plain(s["sid"]): s for s in statements}
    assert "local.tenant_prefix" in str(by_sid["ObjectsUnderOwnPrefix"]["resources"])
    assert plain(by_sid["ListOwnPrefixOnly"]["condition"][0]["variable"]) == "s3:prefix"
    assert not any(plain(r) == "*" for s in statements for r in s["resources"])


def test_terraform_fmt_when_available():
    """`terraform fmt -check` where a terraform binary is installed; without one there is nothing to run."""
    terraform = shutil.which("terraform")
    if terraform is None:
        return
    result = subprocess.run(
        [terraform, "fmt", "-check", "-recursive", "-diff", str(TERRAFORM)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_checkov_skip_names_a_check_and_a_reason():
    skips = [line.strip() for p in tf_files() for line in p.read_text().splitlines() if "checkov:skip" in line]
    assert skips, "the modules document why each skipped checkov check does not apply"
    for skip in skips:
        assert re.fullmatch(r"#checkov:skip=CKV2?_AWS_\d+:\S.{10,}", skip), skip


def test_checkov_when_available():
    """checkov ($CHECKOV or .venv-checkov, made by scripts/ci/ensure-checkov.sh) finds no failed check.

    make test installs it first; a bare pytest run without it skips, except in CI, which must scan.
    """
    checkov = os.environ.get("CHECKOV") or str(Path(BASE_DIR) / ".venv-checkov" / "bin" / "checkov")
    if not Path(checkov).is_file():
        if os.environ.get("CI"):
            pytest.fail("checkov is missing in CI: scripts/ci/ensure-checkov.sh installs it into .venv-checkov")
        pytest.skip("checkov not installed: run scripts/ci/ensure-checkov.sh")
    result = subprocess.run(
        [checkov, "-d", str(TERRAFORM), "--framework", "terraform", "--skip-download", "--compact", "--quiet"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]


# ---- scripts/tenant-infra.sh ----


def _executable(path: Path, body: str) -> Path:
    path.write_text("#!/usr/bin/env bash\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def _run_script(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {"PATH": os.environ["PATH"], "ATRIUM_INFRA_DIR": str(tmp_path / "infra"), "HOME": str(tmp_path)}
    return subprocess.run(["bash", str(SCRIPT), *args], env={**base, **env}, capture_output=True, text=True)


def _fakes(tmp_path: Path, *, tfvars_exit: int = 0) -> dict[str, str]:
    log = tmp_path / "terraform.log"
    terraform = _executable(tmp_path / "terraform", f'echo "$*" >>"{log}"\n')
    tfvars = json.dumps({"slug": "initech", "tier": "pooled"})
    python = _executable(
        tmp_path / "python",
        f'[ "$1 $2 $3" = "manage.py tenant_tfvars initech" ] || exit 9\n'
        f"[ {tfvars_exit} = 0 ] || {{ echo 'unknown tenant slug' >&2; exit {tfvars_exit}; }}\n"
        f"echo '{tfvars}'\n",
    )
    return {"TERRAFORM": str(terraform), "ATRIUM_PYTHON": str(python), "TF_STATE_BUCKET": "acme-tf-state"}


def test_script_says_terraform_is_missing(tmp_path):
    result = _run_script(tmp_path, "initech", "plan", TERRAFORM=str(tmp_path / "no-terraform"), TF_STATE_BUCKET="b")
    assert result.returncode == 1
    assert "terraform not found" in result.stderr


def test_script_says_the_state_bucket_is_missing(tmp_path):
    env = _fakes(tmp_path)
    del env["TF_STATE_BUCKET"]
    result = _run_script(tmp_path, "initech", "plan", **env)
    assert result.returncode == 1
    assert "TF_STATE_BUCKET is not set" in result.stderr
    assert not (tmp_path / "terraform.log").exists()


def test_script_refuses_an_unknown_action_or_a_bad_slug(tmp_path):
    env = _fakes(tmp_path)
    assert _run_script(tmp_path, "initech", "import", **env).returncode == 2
    assert _run_script(tmp_path, "../etc", "plan", **env).returncode == 2
    assert not (tmp_path / "terraform.log").exists()


def test_script_writes_the_tfvars_and_plans_with_the_tenants_own_state(tmp_path):
    result = _run_script(tmp_path, "initech", "plan", "-lock-timeout=60s", **_fakes(tmp_path))
    assert result.returncode == 0, result.stderr
    tfvars = tmp_path / "infra" / "initech.tfvars.json"
    assert json.loads(tfvars.read_text()) == {"slug": "initech", "tier": "pooled"}
    init, plan = (tmp_path / "terraform.log").read_text().splitlines()
    assert init.startswith("-chdir=infra/terraform/envs/tenant init")
    assert "-backend-config=bucket=acme-tf-state" in init
    assert "-backend-config=key=tenants/initech.tfstate" in init
    assert plan == f"-chdir=infra/terraform/envs/tenant plan -input=false -var-file={tfvars} -lock-timeout=60s"


def test_script_runs_nothing_when_the_tenant_is_unknown(tmp_path):
    result = _run_script(tmp_path, "initech", "apply", **_fakes(tmp_path, tfvars_exit=1))
    assert result.returncode == 1
    assert "tenant_tfvars initech failed" in result.stderr
    assert not (tmp_path / "terraform.log").exists()
    assert list((tmp_path / "infra").iterdir()) == []
