"""The time every MFA check reads: token expiry, the wrong-code lock, the TOTP step.

Read as `clock.now()`, never `time.time()` directly, so tests replace `now`
(monkeypatch) to move on in time instead of sleeping.
"""

from __future__ import annotations

import time


def now() -> float:
    """The Unix time, as every MFA check sees it."""
    return time.time()
