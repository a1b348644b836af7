"""`seed_demo` gives its tenants what `create_tenant` gives a new tenant: a subscription and onboarding steps."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from apps.billing.models import Subscription
from apps.common.tenancy import tenant_context
from apps.flows.models import Step
from apps.identity.models import Tenant

pytestmark = pytest.mark.django_db


def test_demo_tenants_get_a_subscription_and_onboarding_steps(rbac_seeded, capsys):
    call_command("seed_demo", password="a demo passphrase 42")
    call_command("seed_demo", password="a demo passphrase 42")  # a rerun adds nothing twice
    for slug in ("acme", "globex"):
        tenant = Tenant.objects.get(slug=slug)
        with tenant_context(tenant):
            assert Subscription.objects.count() == 1
            assert Step.objects.exists()
