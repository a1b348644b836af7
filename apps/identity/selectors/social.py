"""Reads about linked social identities: what a member's security page lists (writes: `services.social`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from allauth.socialaccount.models import SocialAccount

from apps.identity.social_providers import provider_label

# A member rarely has more than one link per provider; the page shows at most this many.
LINKS_SHOWN = 20


@dataclass(frozen=True)
class SocialLink:
    id: int
    provider: str
    label: str  # the provider's name on the page ("Google", the OIDC provider's name)
    display: str  # who at the provider: an address or a login, as the provider gave it
    linked_at: datetime


def _display(extra: Any) -> str:
    """What names the identity: Atrium's own record of it, else the provider's data as allauth stored it."""
    if not isinstance(extra, dict):
        return ""
    sources = [extra, extra.get("userinfo"), extra.get("id_token")]
    for key in ("display", "email", "login", "preferred_username", "name"):
        for source in sources:
            value = source.get(key) if isinstance(source, dict) else None
            if isinstance(value, str) and value.strip():
                return value.strip()[:254]
    return ""


def social_links(*, user_id: UUID) -> list[SocialLink]:
    """The user's linked identities, oldest first (one query)."""
    rows = (
        SocialAccount.objects.filter(user_id=user_id)
        .order_by("date_joined", "id")
        .values("id", "provider", "extra_data", "date_joined")[:LINKS_SHOWN]
    )
    return [
        SocialLink(
            id=int(row["id"]),
            provider=str(row["provider"]),
            label=provider_label(str(row["provider"])),
            display=_display(row["extra_data"]),
            linked_at=row["date_joined"],
        )
        for row in rows
    ]
