"""The event types an endpoint may subscribe to, and what each one's `data` holds.

Payloads carry ids and small facts, never secrets, passwords or e-mail
addresses: a receiver that needs more asks the API with the ids.
"""

from __future__ import annotations

from typing import Final

# The plan feature that grants outbound webhooks (billing's catalogue: `pro` and up).
FEATURE_WEBHOOKS: Final = "webhooks"
# The test event `webhooks/{id}/test/` sends: never published by a service, never subscribed to.
PING: Final = "ping"

EVENT_TYPES: Final[dict[str, str]] = {
    "member.added": "Someone joined the tenant (invitation, sign-up, the tenant's creation): user_id, role, via",
    "member.removed": "A member was removed: membership_id, user_id, role",
    "member.role_changed": "A member's role changed: membership_id, user_id, from, to",
    "invitation.accepted": "An invitation was accepted: invitation_id, user_id, role",
    "subscription.changed": "The plan or subscription status changed: subscription_id, plan, status, source",
    "file.uploaded": "A file was uploaded: file_id, name, size, content_type",
    "file.deleted": "A file was deleted: file_id, name, size",
    "flow.step_completed": "A user completed a flow step: flow, step, user_id",
}
