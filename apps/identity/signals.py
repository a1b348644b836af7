"""Signal receivers: safety nets for changes made outside the services."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import pre_delete
from django.dispatch import receiver

from apps.identity import revocation
from apps.identity.models import User


@receiver(pre_delete, sender=User, dispatch_uid="identity.user_deleted_revokes_tokens")
def user_deleted_revokes_tokens(sender: type[User], instance: User, **kwargs: Any) -> None:
    """A deleted user's access tokens stop at their next request (sessions go with the row)."""
    revocation.revoke_user_before_now(instance.id)
