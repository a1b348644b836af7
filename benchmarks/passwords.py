"""The one password hash every seeded user gets, and what one check of it costs (the login target's reference).

Computed by the `hash` task (benchmarks/tasks.py) in a Django process with Atrium's settings
(`PASSWORD_HASHERS`: Argon2 first), with Django's `make_password` and `check_password`.

`concurrent` measures the check as the `login` flow pays for it: right after each pass's login
load, with the workers idle, with as many processes checking at once as the flow has connections
(one per worker; Argon2 runs its lanes in threads, so two hashing workers share the cores). Each
pass's login is judged against the check measured beside it (`report.login_pairs`): Argon2's
cost drifts by 10-20 % from one minute to the next on a small machine, so a yardstick measured
minutes apart decided the target by chance. The first figure (`reference`) is taken while
`migrate` runs beside it and stays in the results for the record only.
"""

from __future__ import annotations

import multiprocessing
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


def _checks(job: tuple[str, str, int]) -> list[float]:
    from django.contrib.auth.hashers import check_password

    password, encoded, repeat = job
    check_password(password, encoded)  # warm
    cpu = []
    for _ in range(repeat):
        started = time.process_time()
        assert check_password(password, encoded)
        cpu.append(time.process_time() - started)
    return cpu


def concurrent(password: str, encoded: str, processes: int, repeat: int = 5) -> dict[str, Any]:
    """CPU per check with `processes` processes checking `encoded` at once (forked: Django is set up)."""
    with multiprocessing.get_context("fork").Pool(processes) as pool:
        per_process = pool.map(_checks, [(password, encoded, repeat)] * processes)
    cpu = [value for values in per_process for value in values]
    return {"processes": processes, "check_cpu_ms": round(statistics.median(cpu) * 1000, 3), "checks": len(cpu)}
