"""Sign-in lockout (`apps.identity.services.lockout`): thresholds, windows and lock lengths, in seconds.

- pair: failures of one (account e-mail, client IP) pair; from `pair_threshold`
  on, each failure locks the pair for `pair_base_seconds`, doubling per further
  failure up to `pair_max_seconds`; forgotten `pair_window_seconds` after the last one.
- account: failures from every client within `account_window_seconds`; from
  `account_threshold` on, the whole account is locked, but only briefly
  (`account_lock_seconds`), so nobody can lock a user out for long from afar.
- ip: failures from one client IP across accounts (credential stuffing) within
  `ip_window_seconds`; from `ip_threshold` on that IP is locked for `ip_lock_seconds`.
"""

ATRIUM_LOCKOUT: dict[str, int] = {
    "pair_threshold": 5,
    "pair_base_seconds": 60,
    "pair_max_seconds": 900,
    "pair_window_seconds": 3600,
    "account_threshold": 20,
    "account_window_seconds": 900,
    "account_lock_seconds": 60,
    "ip_threshold": 50,
    "ip_window_seconds": 900,
    "ip_lock_seconds": 900,
}
