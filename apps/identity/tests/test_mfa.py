"""TOTP enrolment, status, disabling and backup codes through `auth/mfa/...`, and where secrets must not go."""

from __future__ import annotations

import base64
import json
import xml.etree.ElementTree as ET
from urllib.parse import parse_qs, unquote, urlparse

import pytest
from django.apps import apps
from django.core import serializers as django_serializers
from django.db import connection

from apps.common.models import TenantScopedModel
from apps.common.tenancy import tenant_context
from apps.identity import selectors
from apps.identity.models import AuditEvent, BackupCode, PlatformAuditEvent
from apps.identity.services import mfa
from apps.identity.tests.factories import PASSWORD
from apps.identity.tests.mfa_support import (
    BACKUP,
    CONFIRM,
    DISABLE,
    SETUP,
    STATUS,
    VERIFY,
    all_logs,
    bearer,
    code_for_secret,
    device_of,
    forget_last_step,
    password_login,
    totp_code,
    wrong_code,
)

# Token endpoints run outside the request transaction, as in production.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def signed_in(api_client, member, portal):  # type: ignore[no-untyped-def]
    """A member without MFA and an API client holding their access token."""
    user = member("member")
    return user, api_client(user, portal)


def enrol(client, user) -> list[str]:  # type: ignore[no-untyped-def]
    assert client.post(SETUP).status_code == 200
    response = client.post(CONFIRM, {"code": totp_code(user)})
    assert response.status_code == 200, response.content
    forget_last_step(user)
    return response.json()["backup_codes"]


def mfa_on(user) -> bool:  # type: ignore[no-untyped-def]
    return selectors.user_mfa_enabled(user=user)


def test_status_follows_enrolment_and_backup_code_use(api, signed_in, portal):
    user, client = signed_in
    assert client.get(STATUS).json() == {"enabled": False, "methods": [], "backup_codes_left": 0}
    codes = enrol(client, user)
    assert client.get(STATUS).json() == {"enabled": True, "methods": ["totp"], "backup_codes_left": 10}
    token = password_login(api, user, portal, PASSWORD)["mfa_token"]
    assert api.post(VERIFY, {"mfa_token": token, "code": codes[3]}).status_code == 200
    assert client.get(STATUS).json()["backup_codes_left"] == 9


def test_status_needs_a_bearer(api):
    assert api.get(STATUS).status_code == 401


def test_setup_returns_a_secret_an_otpauth_uri_and_a_qr_code(signed_in):
    user, client = signed_in
    response = client.post(SETUP)
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    body = response.json()
    secret = body["secret"]
    device = device_of(user)
    assert not device.confirmed
    assert base64.b32decode(secret + "=" * (-len(secret) % 8)) == device.bin_key
    uri = urlparse(body["otpauth_uri"])
    assert (uri.scheme, uri.netloc) == ("otpauth", "totp")
    params = parse_qs(uri.query)
    assert params["secret"] == [secret]
    assert params["issuer"] == ["Atrium"]
    assert unquote(uri.path) == f"/Atrium:{user.email}"
    assert body["qr_svg"].startswith("<svg")
    assert body["qr_svg"].rstrip().endswith("</svg>")
    assert not mfa_on(user)


def test_the_qr_code_is_a_standalone_svg_document(signed_in):
    """Saved as a .svg file or sent as a data URI (no HTML parser around it), it must still be SVG."""
    _, client = signed_in
    qr_svg = client.post(SETUP).json()["qr_svg"]
    root = ET.fromstring(qr_svg)  # noqa: S314 - our own server's output, parsed in a test
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert root.get("width")
    assert root.get("height")
    # It draws something: the QR modules are paths in the SVG namespace.
    assert root.findall(".//{http://www.w3.org/2000/svg}path")


def test_a_new_setup_starts_over_and_old_wrong_codes_no_longer_count(signed_in, settings):
    settings.MFA_MAX_FAILURES = 5
    user, client = signed_in
    first = client.post(SETUP).json()["secret"]
    bad = wrong_code(user)
    # Four wrong codes: one more would lock.
    assert [client.post(CONFIRM, {"code": bad}).status_code for _ in range(4)] == [400] * 4
    second = client.post(SETUP).json()["secret"]
    assert second != first
    # A code of the first secret is refused now (the count starts over at 1, not at 5: no lock) ...
    old = client.post(CONFIRM, {"code": code_for_secret(first)})
    assert old.status_code == 400, old.content
    # ... and so are three more wrong ones: 4 failures since the new setup, still under the limit.
    assert [client.post(CONFIRM, {"code": wrong_code(user)}).status_code for _ in range(3)] == [400] * 3
    confirmed = client.post(CONFIRM, {"code": code_for_secret(second)})
    assert confirmed.status_code == 200, confirmed.content
    assert len(confirmed.json()["backup_codes"]) == 10
    assert mfa_on(user)


def test_a_second_setup_replaces_the_unconfirmed_secret(signed_in):
    user, client = signed_in
    first = client.post(SETUP).json()["secret"]
    second = client.post(SETUP).json()["secret"]
    assert first != second
    assert device_of(user).__class__.objects.filter(user=user).count() == 1


def test_setup_is_refused_while_mfa_is_on(signed_in):
    user, client = signed_in
    enrol(client, user)
    assert client.post(SETUP).status_code == 409
    assert device_of(user).confirmed


def test_confirm_with_a_wrong_code_leaves_mfa_off(signed_in):
    user, client = signed_in
    client.post(SETUP)
    response = client.post(CONFIRM, {"code": wrong_code(user)})
    assert response.status_code == 400
    assert "code" in response.json()["errors"]
    assert not mfa_on(user)
    assert client.post(CONFIRM, {"code": "not a code"}).status_code == 400
    assert not mfa_on(user)


def test_confirm_without_setup_is_409(signed_in):
    _, client = signed_in
    assert client.post(CONFIRM, {"code": "123456"}).status_code == 409


def test_confirm_gives_ten_distinct_backup_codes_stored_only_hashed(signed_in):
    user, client = signed_in
    client.post(SETUP)
    response = client.post(CONFIRM, {"code": totp_code(user)})
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    codes = response.json()["backup_codes"]
    assert set(response.json()) == {"backup_codes"}  # a bearer caller gets no new tokens
    assert len(codes) == len(set(codes)) == 10
    assert all(len(c.replace("-", "")) == 10 for c in codes)
    stored = list(BackupCode.objects.filter(user=user).values_list("code_hash", flat=True))
    assert len(stored) == 10
    for code in codes:
        plain = code.replace("-", "")
        assert all(plain not in h and code not in h for h in stored)
    assert mfa_on(user)


def test_disabling_needs_a_current_code(signed_in):
    user, client = signed_in
    enrol(client, user)
    wrong = client.post(DISABLE, {"code": wrong_code(user)})
    assert wrong.status_code == 400
    assert mfa_on(user)
    assert client.post(DISABLE, {}).status_code == 400
    assert client.post(DISABLE, {"code": ""}).status_code == 400
    assert mfa_on(user)
    assert client.post(DISABLE, {"code": totp_code(user)}).status_code == 204
    assert not mfa_on(user)
    assert not BackupCode.objects.filter(user=user).exists()
    assert not device_of(user)
    assert client.get(STATUS).json() == {"enabled": False, "methods": [], "backup_codes_left": 0}
    assert client.post(DISABLE, {"code": "123456"}).status_code == 409


def test_disabling_with_a_replayed_code_is_refused(signed_in):
    user, client = signed_in
    enrol(client, user)
    code = totp_code(user)
    # The code was just used (say, to sign in): it cannot be used again to switch MFA off.
    assert mfa.codes.check_code(user=user, code=code, allow_backup=False) == "totp"
    assert client.post(DISABLE, {"code": code}).status_code == 400
    assert mfa_on(user)


def test_disabling_with_a_backup_code_works(signed_in, api, portal):
    user, client = signed_in
    codes = enrol(client, user)
    assert client.post(DISABLE, {"code": codes[0]}).status_code == 204
    assert not mfa_on(user)
    # Afterwards the password alone signs in again.
    assert "access" in password_login(api, user, portal, PASSWORD)


def test_wrong_codes_on_disable_lock_it(signed_in, settings):
    settings.MFA_MAX_FAILURES = 3
    user, client = signed_in
    enrol(client, user)
    bad = wrong_code(user)
    assert [client.post(DISABLE, {"code": bad}).status_code for _ in range(3)] == [400, 400, 429]
    locked = client.post(DISABLE, {"code": totp_code(user)})
    assert locked.status_code == 429
    assert int(locked["Retry-After"]) > 0
    assert mfa_on(user)
    if connection.vendor == "postgresql":  # durable audit inside a request needs a second writer (ADR 0005)
        assert PlatformAuditEvent.objects.filter(action="auth.mfa_failed", actor_id=user.id).count() == 3


def test_regenerating_backup_codes_invalidates_the_old_ones(signed_in, api, portal):
    user, client = signed_in
    old = enrol(client, user)
    # A backup code cannot mint new backup codes; a current TOTP code can.
    assert client.post(BACKUP, {"code": old[0]}).status_code == 400
    response = client.post(BACKUP, {"code": totp_code(user)})
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    new = response.json()["backup_codes"]
    assert len(new) == 10
    assert not set(new) & set(old)
    assert client.get(STATUS).json()["backup_codes_left"] == 10
    stale = api.post(VERIFY, {"mfa_token": password_login(api, user, portal, PASSWORD)["mfa_token"], "code": old[1]})
    assert stale.status_code == 401
    fresh = api.post(VERIFY, {"mfa_token": password_login(api, user, portal, PASSWORD)["mfa_token"], "code": new[1]})
    assert fresh.status_code == 200


def test_backup_codes_need_mfa_on(signed_in):
    _, client = signed_in
    assert client.post(BACKUP, {"code": "123456"}).status_code == 409


def test_the_totp_secret_and_backup_codes_never_reach_logs_or_audit(api, signed_in, portal):
    user, client = signed_in
    with all_logs() as logs:
        setup = client.post(SETUP).json()
        codes = client.post(CONFIRM, {"code": totp_code(user)}).json()["backup_codes"]
        forget_last_step(user)
        token = password_login(api, user, portal, PASSWORD)["mfa_token"]
        api.post(VERIFY, {"mfa_token": token, "code": wrong_code(user)})
        api.post(VERIFY, {"mfa_token": token, "code": totp_code(user)})
        api.post(VERIFY, {"mfa_token": password_login(api, user, portal, PASSWORD)["mfa_token"], "code": codes[0]})
        forget_last_step(user)
        client.post(BACKUP, {"code": totp_code(user)})
    text = logs.text()
    assert logs.records, "nothing was captured"
    for event in ("auth.mfa_setup_started", "auth.mfa_enabled", "auth.mfa_verified", "auth.mfa_failed"):
        assert event in text
    device_key = device_of(user).key
    secrets_ = [setup["secret"], setup["secret"].lower(), device_key, token, *codes]
    secrets_ += [c.replace("-", "") for c in codes]
    for secret in secrets_:
        assert secret not in text
    # Nor in the audit trail, which tenants' auditors read.
    with tenant_context(portal.tenant):
        events = list(AuditEvent.objects.values("data", "target_id")) + list(
            PlatformAuditEvent.objects.values("data", "target_id")
        )
    dumped = json.dumps(events, default=str)
    for secret in secrets_:
        assert secret not in dumped


def test_mfa_secrets_live_only_in_global_tables_outside_tenant_data(signed_in, tenant):
    """Tenant exports are built from tenant-scoped rows; the MFA tables are global and carry no tenant id."""
    user, client = signed_in
    enrol(client, user)
    device_model = device_of(user).__class__
    assert not issubclass(device_model, TenantScopedModel)
    assert not issubclass(BackupCode, TenantScopedModel)
    assert "tenant" not in {f.name for f in device_model._meta.get_fields()}
    assert "tenant" not in {f.name for f in BackupCode._meta.get_fields()}
    # The user row, the one thing an export of a member may carry, holds no MFA secret.
    dumped = django_serializers.serialize("json", [user])
    assert device_of(user).key not in dumped
    assert apps.get_model("otp_totp", "TOTPDevice") is device_model


def test_an_enrolment_token_is_refused_by_disable_and_backup_codes(api, member, portal):
    portal.mfa_required = True
    portal.save()
    user = member()
    token = password_login(api, user, portal, PASSWORD)["mfa_token"]
    assert bearer(token).post(DISABLE, {"code": "123456"}).status_code == 401
    assert bearer(token).post(BACKUP, {"code": "123456"}).status_code == 401
