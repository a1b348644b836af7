"""Two seeded tenants (see `support.seed`), local storage in this test's temporary directory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from apps.operations.tests.support import Seeded, seed


@pytest.fixture(autouse=True)
def media_root(tmp_path: Path, settings: Any) -> Path:
    """Local storage writes under this test's temporary directory."""
    root = tmp_path / "media"
    settings.MEDIA_ROOT = str(root)
    return root


@pytest.fixture
def seeded(rbac_seeded: None, django_capture_on_commit_callbacks: Any) -> tuple[Seeded, Seeded]:
    """acme and globex, each: tenant, portal, owner and member, subscription, steps, audit events, a file."""
    with django_capture_on_commit_callbacks(execute=True):
        return seed("acme-arch"), seed("globex-arch")
