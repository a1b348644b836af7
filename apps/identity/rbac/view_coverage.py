"""Which actions a view can perform, and which of them its `required_permissions` misses.

For tests and the URL walker (`tests/test_url_walker.py`): every action of
every view must be mapped, or `ActionPermission` denies it. Actions are named
as `ActionPermission` names them (`request_checks.py`).
"""

from __future__ import annotations

from rest_framework.views import APIView
from rest_framework.viewsets import ViewSetMixin

_STANDARD_ACTIONS = ("list", "create", "retrieve", "update", "partial_update", "destroy")


def view_actions(view_class: type[APIView]) -> set[str]:
    """The actions a view class can be asked to perform, as `ActionPermission` names them.

    For tests that check `required_permissions` covers every action. OPTIONS
    (DRF's metadata) and HEAD (follows GET) are left out.
    """
    if issubclass(view_class, ViewSetMixin):
        names = {name for name in _STANDARD_ACTIONS if hasattr(view_class, name)}
        names |= {extra.__name__ for extra in view_class.get_extra_actions()}
        return names
    return {m for m in view_class.http_method_names if m not in {"options", "head"} and hasattr(view_class, m)}


def uncovered_actions(view_class: type[APIView]) -> set[str]:
    """Actions of `view_class` missing from its `required_permissions` (they would all be denied)."""
    required = getattr(view_class, "required_permissions", None) or {}
    return view_actions(view_class) - set(required)
