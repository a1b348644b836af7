"""Counting the password hashes a request costs: structural timing tests, not stopwatches."""

from __future__ import annotations

from django.contrib.auth.hashers import Argon2PasswordHasher

COUNTING_HASHER = "apps.identity.tests.hashing_support.CountingHasher"


class CountingHasher(Argon2PasswordHasher):
    """The production hasher, counting every hash it computes (encode) or checks (verify).

    Both count: the unknown-e-mail path once hashed a dummy (encode) and then
    verified against it (verify) — twice the work of a wrong password.
    """

    calls = 0
    # Cheap parameters: the count matters here, not the cost.
    time_cost = 1
    memory_cost = 8
    parallelism = 1

    def encode(self, password, salt):  # type: ignore[no-untyped-def]
        type(self).calls += 1
        return super().encode(password, salt)

    def verify(self, password, encoded):  # type: ignore[no-untyped-def]
        type(self).calls += 1
        return super().verify(password, encoded)
