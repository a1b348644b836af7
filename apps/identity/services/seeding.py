"""`rbac_seed`: make the permission catalogue and the system roles match the code.

The declarations in each app's `permissions.py` are the source of truth
(`apps.identity.rbac.declared_catalogue()`). Seeding, in one transaction inside
the named escape `unscoped()` (system roles are NULL-tenant rows, which the
row-level security policy lets tenants read but only the escape write):

- creates declared codes that are missing, updates changed descriptions and
  deletes codes no longer declared;
- creates the system roles `owner`, `admin`, `member` (names Owner, Admin,
  Member) and sets their permissions to the union of the apps' grants;
- strips codes no longer declared from tenants' custom roles;
- bumps the RBAC version if anything changed, so every process reloads.

A second run changes nothing. `dry_run=True` (`seed_rbac --check`) computes the
same differences and writes nothing.

This is operator code. On PostgreSQL the escape works only for the operator
database role (ADR 0008): `seed_rbac` runs as it at deploy. The request path
only reads system roles, which needs no escape (`services.tenants.system_role`);
on the web or worker role a seed raises `BypassUnavailable` and writes
nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import connection
from django.utils import timezone

from apps.common.tenancy import unscoped
from apps.identity import rbac
from apps.identity.models import SYSTEM_ROLE_CODES, Permission, Role

_ADVISORY_LOCK_KEY = "atrium.seed_rbac"


@dataclass
class Tally:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0


@dataclass
class RbacSeedReport:
    """What differed between the code and the database (and, unless a dry run, was fixed)."""

    dry_run: bool
    permissions: Tally = field(default_factory=Tally)
    roles: Tally = field(default_factory=Tally)
    custom_roles_updated: int = 0
    changes: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.changes)

    def summary(self) -> str:
        p, r = self.permissions, self.roles
        return (
            f"permissions: {p.created} created, {p.updated} updated, {p.unchanged} unchanged, {p.removed} removed; "
            f"system roles: {r.created} created, {r.updated} updated, {r.unchanged} unchanged; "
            f"custom roles: {self.custom_roles_updated} updated"
        )


@dataclass
class _Plan:
    create_permissions: dict[str, str] = field(default_factory=dict)
    update_permissions: dict[str, str] = field(default_factory=dict)
    remove_permissions: list[str] = field(default_factory=list)
    create_roles: dict[str, list[str]] = field(default_factory=dict)
    update_roles: dict[Any, tuple[str, list[str]]] = field(default_factory=dict)  # pk → (name, codes)
    update_custom_roles: dict[Any, list[str]] = field(default_factory=dict)  # pk → codes


def rbac_seed(*, dry_run: bool = False) -> RbacSeedReport:
    """Make the database's RBAC match the declarations; with `dry_run`, only report the differences."""
    catalogue = rbac.declared_catalogue()
    report = RbacSeedReport(dry_run=dry_run)
    with unscoped():
        if not dry_run:
            _lock_against_concurrent_seeds()
        plan = _plan(catalogue, report)
        if report.changed and not dry_run:
            _apply(plan)
            rbac.bump_rbac_version()
    return report


def _lock_against_concurrent_seeds() -> None:
    # Two deploys seeding at once would both insert a missing code; the second
    # waits here for the first to commit, then finds nothing to do. SQLite
    # serialises writers on its own.
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [_ADVISORY_LOCK_KEY])


def _plan(catalogue: rbac.Catalogue, report: RbacSeedReport) -> _Plan:
    plan = _Plan()
    declared = dict(catalogue.permissions)

    stored = dict(Permission.objects.values_list("code", "description"))
    for code in sorted(declared):
        if code not in stored:
            plan.create_permissions[code] = declared[code]
            report.permissions.created += 1
            report.changes.append(f"+ permission {code}")
        elif stored[code] != declared[code]:
            plan.update_permissions[code] = declared[code]
            report.permissions.updated += 1
            report.changes.append(f"~ permission {code}: description {stored[code]!r} -> {declared[code]!r}")
        else:
            report.permissions.unchanged += 1
    for code in sorted(stored.keys() - declared.keys()):
        plan.remove_permissions.append(code)
        report.permissions.removed += 1
        report.changes.append(f"- permission {code} (no longer declared)")

    system_roles = {role.code: role for role in Role.all_roles.filter(tenant__isnull=True)}
    for code in SYSTEM_ROLE_CODES:
        name = rbac.SYSTEM_ROLE_NAMES[code]
        codes = sorted(catalogue.grants.get(code, frozenset()))
        role = system_roles.get(code)
        if role is None:
            plan.create_roles[code] = codes
            report.roles.created += 1
            report.changes.append(f"+ role {code}: {', '.join(codes) or '(no permissions)'}")
            continue
        current = list(role.permissions or [])
        if role.name == name and current == codes:
            report.roles.unchanged += 1
            continue
        plan.update_roles[role.pk] = (name, codes)
        report.roles.updated += 1
        report.changes.append(f"~ role {code}: {_describe_change(role.name, name, current, codes)}")

    # Every other role is read: "holds a code outside the catalogue" is not a
    # portable JSON query (SQLite has no JSON containment), and this runs at deploy.
    others = Role.all_roles.exclude(tenant__isnull=True, code__in=SYSTEM_ROLE_CODES).values_list(
        "pk", "tenant__slug", "code", "permissions"
    )
    for pk, tenant_slug, code, permissions in others.iterator():
        current = list(permissions or [])
        kept = [p for p in current if p in declared]
        if kept != current:
            plan.update_custom_roles[pk] = kept
            report.custom_roles_updated += 1
            dropped = sorted(set(current) - set(kept))
            report.changes.append(f"~ custom role {tenant_slug or '(no tenant)'}/{code}: -{' -'.join(dropped)}")
    return plan


def _describe_change(old_name: str, new_name: str, old: list[str], new: list[str]) -> str:
    parts: list[str] = []
    if old_name != new_name:
        parts.append(f"name {old_name!r} -> {new_name!r}")
    parts += [f"+{code}" for code in sorted(set(new) - set(old))]
    parts += [f"-{code}" for code in sorted(set(old) - set(new))]
    if not parts:  # same set, stored out of order or with duplicates
        parts.append("normalised order")
    return " ".join(parts)


def _apply(plan: _Plan) -> None:
    Permission.objects.bulk_create(
        [Permission(code=code, description=description) for code, description in plan.create_permissions.items()]
    )
    for code, description in plan.update_permissions.items():
        Permission.objects.filter(code=code).update(description=description)
    if plan.remove_permissions:
        Permission.objects.filter(code__in=plan.remove_permissions).delete()

    for code, codes in plan.create_roles.items():
        Role.all_roles.create(tenant=None, code=code, name=rbac.SYSTEM_ROLE_NAMES[code], permissions=codes)
    now = timezone.now()
    for pk, (name, codes) in plan.update_roles.items():
        Role.all_roles.filter(pk=pk).update(name=name, permissions=codes, updated_at=now)
    for pk, codes in plan.update_custom_roles.items():
        Role.all_roles.filter(pk=pk).update(permissions=codes, updated_at=now)
