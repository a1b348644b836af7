import io

import jwt
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.identity.tokens import keyring

pytestmark = pytest.mark.django_db(transaction=True)


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("jwt_keys", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def keys_dir(tmp_path, settings):
    settings.JWT_KEYS_DIR = str(tmp_path)
    return tmp_path


def test_rotation_keeps_old_tokens_valid_until_pruned(keys_dir, login, member, portal, api):
    run("add")
    tokens = login(member(), portal)
    old_kid = jwt.get_unverified_header(tokens["access"])["kid"]
    out = run("add")
    assert "signs from now" in out
    assert keyring.signing_key().kid != old_kid
    listing = run("list")
    assert old_kid in listing
    assert "verifies" in listing
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    assert api.get("/api/v1/identity/auth/me/").status_code == 200
    with pytest.raises(CommandError, match="may still be alive"):
        run("prune")
    run("prune", "--yes")
    assert old_kid not in run("list")
    assert api.get("/api/v1/identity/auth/me/").status_code == 401


def test_prune_with_one_key_does_nothing(keys_dir):
    run("add")
    assert "nothing to prune" in run("prune")
    assert len(list(keys_dir.glob("*.pem"))) == 1


def test_keys_are_written_private(keys_dir):
    run("add")
    (path,) = keys_dir.glob("*.pem")
    assert path.stat().st_mode & 0o777 == 0o600


def test_deploy_check_refuses_a_production_without_signing_key(tmp_path, settings):
    from apps.identity.checks import jwt_signing_key_present

    settings.JWT_KEYS_DIR = str(tmp_path / "empty")
    settings.JWT_PRIVATE_KEY = ""
    settings.JWT_GENERATE_DEV_KEY = False
    errors = jwt_signing_key_present()
    assert [e.id for e in errors] == ["identity.E001"]
    assert "JWT_KEYS_DIR" in errors[0].msg
    settings.JWT_KEYS_DIR = str(tmp_path)
    run("add")
    assert jwt_signing_key_present() == []
