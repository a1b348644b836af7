"""The audit trail: hash-chained event streams, their heads, and the check that walks them.

Every auth and admin event is one row in a *stream*: each tenant has its own
(`tenant:<uuid>`, rows in `AuditEvent`, behind the tenant wall) and events with
no tenant go to the platform stream (`platform`, rows in `PlatformAuditEvent`).
Within a stream, event `seq` n stores `prev_hash` = the hash of event n-1 (64
zeros for the first) and `hash` = sha256(prev_hash + canonical JSON of its own
fields), so editing a row breaks its hash and deleting one breaks `seq`
continuity and the next row's link; each stream's `AuditHead` (count and last
hash) catches the deletion of its newest rows.

This package is the face the rest of the code imports; its modules, one
concern each:

- `chain`: the canonical form and the hash, shared by writer and verifier.
- `draft`: an event's fields shaped into what the row will store.
- `append`: appending to a stream under its head lock.
- `durable`: the second-connection writer for events that must outlive a rollback.
- `record`: `audit_record`, the entry point, and the log line.
- `user_events`: `audit_record_user_event`, an account's events in every stream that answers for it.
- `redaction`: `audit_data_redacted`, the one rule for what auditors may read.
- `verify`: `audit_chain_verify`, the check behind `manage.py verify_audit_chain`.

The API's read of a tenant's events is a selector
(`apps.identity.selectors.audit_event_list`).
"""

from apps.identity.services.audit.chain import GENESIS_HASH, PLATFORM_STREAM, compute_hash, event_hash, stream_for
from apps.identity.services.audit.record import audit_record
from apps.identity.services.audit.redaction import REDACTED, audit_data_redacted
from apps.identity.services.audit.user_events import audit_record_user_event
from apps.identity.services.audit.verify import StreamReport, audit_chain_verify

__all__ = [
    "GENESIS_HASH",
    "PLATFORM_STREAM",
    "REDACTED",
    "StreamReport",
    "audit_chain_verify",
    "audit_data_redacted",
    "audit_record",
    "audit_record_user_event",
    "compute_hash",
    "event_hash",
    "stream_for",
]
