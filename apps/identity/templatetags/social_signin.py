"""`{% load social_signin %}`: the social sign-in providers a portal offers, for its login page's buttons.

    {% social_providers portal as providers %}

The same answer as `login_methods` of the portal's public API
(`apps.identity.social_providers.portal_providers`): configured, and listed by
the portal when it lists any.
"""

from __future__ import annotations

from django import template

from apps.identity.models import Portal
from apps.identity.social_providers import SocialProvider, portal_providers

register = template.Library()


@register.simple_tag
def social_providers(portal: object) -> list[SocialProvider]:
    """The providers `portal` offers; none for anything that is not a portal."""
    return portal_providers(portal=portal) if isinstance(portal, Portal) else []
