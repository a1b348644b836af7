"""The one password hash every seeded user gets, and what one check of it costs (the login target's reference).

Computed by the `hash` task (benchmarks/tasks.py) in a Django process with Atrium's settings
(`PASSWORD_HASHERS`: Argon2 first), with Django's `make_password` and `check_password`.
"""

from __future__ import annotations

import statistics
import time
from typing import Any


def reference(password: str, repeat: int = 5) -> dict[str, Any]:
    from django.contrib.auth.hashers import check_password, identify_hasher, make_password

    encoded = make_password(password)
    check_password(password, encoded)  # the first call loads the library
    cpu, wall = [], []
    for _ in range(repeat):
        c0, w0 = time.process_time(), time.perf_counter()
        assert check_password(password, encoded)
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    return {
        "hash": encoded,
        "algorithm": identify_hasher(encoded).algorithm,
        "check_cpu_ms": round(statistics.median(cpu) * 1000, 3),
        "check_wall_ms": round(statistics.median(wall) * 1000, 3),
        "repeat": repeat,
    }
