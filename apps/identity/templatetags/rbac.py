"""`{% load rbac %}`: permission checks in templates, by the same function the API uses.

    {% if request|can:"billing.view_invoice" %}<a href="...">Invoices</a>{% endif %}

Navigation shows only what the principal may do; the view behind each link
checks the same code again (a hidden link is not a guard).
"""

from __future__ import annotations

from django import template

from apps.identity.rbac.request_checks import request_has_permission

register = template.Library()


@register.filter(name="can")
def can(request: object, code: str) -> bool:
    """Whether the request's principal (`request.auth`) holds `code`; False without a request."""
    if request is None or isinstance(request, str):  # missing from the context renders as ""
        return False
    return request_has_permission(request, code)
