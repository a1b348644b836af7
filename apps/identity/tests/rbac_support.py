"""Shared by the RBAC tests (not a test module itself): permission codes, and fresh RBAC state per test.

`_fresh_rbac_state` is autouse: it applies to a test module that imports it. The `committed` and
`seeded` fixtures, which tests request by name, are in `conftest.py`.
"""

from __future__ import annotations

import pytest

from apps.identity import rbac

# Identity may not import files (import-linter layers): its codes are spelled out.
VIEW_FILE = "files.view_file"
DELETE_FILE = "files.delete_file"


@pytest.fixture(autouse=True)
def _fresh_rbac_state():
    rbac.declared_catalogue.cache_clear()
    rbac.reset_role_map()
    yield
    rbac.declared_catalogue.cache_clear()
    rbac.reset_role_map()
