"""`manage.py tenant_tfvars SLUG`: the tenant's Terraform variables, as operators feed them to terraform."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.identity.infra_sizing import SIZES_BY_PLAN
from apps.identity.tests.factories import TenantFactory
from apps.identity.tests.infra_support import ROOT_MODULE, TENANT_MODULE, named_blocks, object_attributes

pytestmark = pytest.mark.django_db


def run(*args: str) -> dict:
    out = StringIO()
    call_command("tenant_tfvars", *args, stdout=out)
    return json.loads(out.getvalue())


def test_prints_the_tenant_row_as_terraform_variables(monkeypatch):
    monkeypatch.delenv("ATRIUM_IMAGE", raising=False)
    tenant = TenantFactory(slug="initech", plan_code="pro", tier="silo", region="us-east-2")
    assert run("initech") == {
        "slug": "initech",
        "tenant_id": str(tenant.id),
        "tier": "silo",
        "region": "us-east-2",
        "domain": "initech.atrium.example.com",
        "plan": "pro",
        "image": "atrium:latest",
        "sizes": SIZES_BY_PLAN["pro"],
    }


@pytest.mark.parametrize("plan", ["free", "pro", "enterprise"])
def test_sizes_follow_the_plan(plan):
    TenantFactory(slug=f"acme-{plan}", plan_code=plan)
    assert run(f"acme-{plan}")["sizes"] == SIZES_BY_PLAN[plan]


def test_plans_are_sized_differently():
    free, enterprise = SIZES_BY_PLAN["free"], SIZES_BY_PLAN["enterprise"]
    assert free["db_instance_class"] != enterprise["db_instance_class"]
    assert enterprise["web_count"] > free["web_count"]
    assert enterprise["db_multi_az"]
    assert not free["db_multi_az"]


def test_keys_are_exactly_the_root_modules_variables_and_sizes_the_modules_type():
    TenantFactory(slug="globex")
    tfvars = run("globex")
    root_variables = named_blocks(ROOT_MODULE, "variable")
    assert set(tfvars) == set(root_variables)
    module_sizes = object_attributes(named_blocks(TENANT_MODULE, "variable")["sizes"]["type"])
    assert set(tfvars["sizes"]) == module_sizes


def test_domain_suffix_comes_from_the_setting(settings):
    settings.ATRIUM_TENANT_DOMAIN = "Tenants.Example.NET."
    TenantFactory(slug="hooli")
    assert run("hooli")["domain"] == "hooli.tenants.example.net"


def test_image_from_the_option_else_the_environment(monkeypatch):
    TenantFactory(slug="umbrella")
    monkeypatch.setenv("ATRIUM_IMAGE", "registry.example.com/atrium:1.4.2")
    assert run("umbrella")["image"] == "registry.example.com/atrium:1.4.2"
    assert run("umbrella", "--image", "registry.example.com/atrium@sha256:abc")["image"] == (
        "registry.example.com/atrium@sha256:abc"
    )


@pytest.mark.parametrize("slug", ["nope", "", "../etc", "ACME", "a" * 300])
def test_unknown_slug_exits_1_with_a_message_and_prints_nothing(slug):
    TenantFactory(slug="acme")
    out = StringIO()
    with pytest.raises(CommandError, match="unknown tenant slug") as raised:
        call_command("tenant_tfvars", slug, stdout=out)
    assert raised.value.returncode == 1
    assert out.getvalue() == ""


def test_plan_without_sizes_exits_1_naming_the_table():
    TenantFactory(slug="custom", plan_code="custom-deal")
    with pytest.raises(CommandError, match=r"'custom-deal'.*SIZES_BY_PLAN"):
        run("custom")
