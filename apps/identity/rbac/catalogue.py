"""The declared permission catalogue: every app's `permissions.py`, collected and validated.

Every installed Atrium app may have a `permissions` module holding
`PERMISSIONS: dict[code, description]` (codes `<app label>.<verb>_<noun>`,
or of a namespace the module lists in `NAMESPACES`) and
`GRANTS: dict[system role code, frozenset[code]]`. `declared_catalogue()`
collects them from `apps.get_app_configs()`, so identity never imports billing,
flows or files by name (the import-linter layers contract). `manage.py
seed_rbac` (`apps.identity.services.seeding`) makes the database match.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache

from django.apps import apps
from django.core.exceptions import ImproperlyConfigured

from apps.identity.models import SYSTEM_ROLE_CODES

CODE_RE = re.compile(r"^(?P<app>[a-z][a-z0-9_]*)\.(?P<verb>[a-z]+)_(?P<noun>[a-z][a-z0-9_]*)$")
SYSTEM_ROLE_NAMES: dict[str, str] = {"owner": "Owner", "admin": "Admin", "member": "Member"}
_DESCRIPTION_MAX = 200  # Permission.description's max_length
_PROJECT_PACKAGE = "apps"


@dataclass(frozen=True)
class Catalogue:
    """Every declared permission code and what the system roles are granted (union over apps)."""

    permissions: Mapping[str, str]
    grants: Mapping[str, frozenset[str]]
    sources: Mapping[str, str] = field(default_factory=dict)  # code → declaring app label


def discover_catalogue() -> Catalogue:
    """Import each installed app's `permissions` module and merge and validate the declarations.

    Raises `ImproperlyConfigured` on a malformed declaration: a code that is not
    `<this app's label>.<verb>_<noun>`, an empty description, a grant to a role
    that is not a system role, or a grant of an undeclared code.
    """
    permissions: dict[str, str] = {}
    sources: dict[str, str] = {}
    grants: dict[str, set[str]] = {code: set() for code in SYSTEM_ROLE_CODES}
    for config in apps.get_app_configs():
        # Only Atrium's own apps: a third-party `permissions` module (DRF has one) is something else.
        if config.name.split(".")[0] != _PROJECT_PACKAGE:
            continue
        name = f"{config.name}.permissions"
        # find_spec first: a missing module is normal, but an ImportError raised
        # *inside* an existing permissions module must not be swallowed.
        if importlib.util.find_spec(name) is None:
            continue
        module = importlib.import_module(name)
        declared = getattr(module, "PERMISSIONS", None)
        if declared is None:
            continue
        # An app may also declare codes of a namespace it names in `NAMESPACES` (identity: `integrations.*`).
        namespaces = {config.label, *getattr(module, "NAMESPACES", ())}
        for code, description in dict(declared).items():
            match = CODE_RE.match(code)
            if match is None or match["app"] not in namespaces:
                raise ImproperlyConfigured(f"{name}: permission code {code!r} is not '{config.label}.<verb>_<noun>'.")
            if not description or len(description) > _DESCRIPTION_MAX:
                raise ImproperlyConfigured(f"{name}: {code} needs a description of 1 to {_DESCRIPTION_MAX} characters.")
            permissions[code] = description
            sources[code] = config.label
        for role, codes in dict(getattr(module, "GRANTS", {})).items():
            if role not in grants:
                raise ImproperlyConfigured(f"{name}: GRANTS names {role!r}, which is not a system role.")
            grants[role].update(codes)
    for role, codes in grants.items():
        unknown = sorted(codes - permissions.keys())
        if unknown:
            raise ImproperlyConfigured(f"System role {role!r} is granted undeclared codes: {', '.join(unknown)}.")
    return Catalogue(
        permissions=permissions,
        grants={role: frozenset(codes) for role, codes in grants.items()},
        sources=sources,
    )


@cache
def declared_catalogue() -> Catalogue:
    """`discover_catalogue()`, once per process (declarations are code; they change on deploy)."""
    return discover_catalogue()


def ensure_declared(code: str) -> None:
    """A check naming an undeclared code is a programming error (a typo would deny everyone silently)."""
    if code not in declared_catalogue().permissions:
        raise ImproperlyConfigured(f"Permission code {code!r} is not declared in any app's permissions.py.")
