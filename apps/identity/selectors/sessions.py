"""Reads about sessions: the ones a user can see and end (`auth/sessions/`)."""

from __future__ import annotations

from uuid import UUID

from django.db.models import QuerySet
from django.utils import timezone

from apps.identity.models import AuthSession


def session_list(*, user_id: UUID | str) -> QuerySet[AuthSession]:
    """The user's live sessions in every tenant and portal, most recently used first."""
    return (
        AuthSession.objects.filter(user_id=user_id, revoked_at__isnull=True, expires_at__gt=timezone.now())
        .select_related("portal")
        .order_by("-last_used_at", "-created_at", "-id")
    )
