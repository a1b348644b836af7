"""Gunicorn settings for production: `gunicorn config.wsgi -c config/gunicorn.conf.py`.

Its main job is Prometheus' multiprocess mode, so `/metrics` answered by any one
worker reports the counters of all of them: every worker writes its samples to
files in `PROMETHEUS_MULTIPROC_DIR`, and the exporting worker merges them.

- The directory is taken from `PROMETHEUS_MULTIPROC_DIR` (unset or empty:
  `var/prometheus` under ATRIUM_VAR_DIR) and exported to the environment here, when the master reads
  this file: workers inherit it, and `prometheus_client` reads it when a worker
  first imports it, so it must be set before then.
- Samples left by a previous run are removed before the first worker forks.
- When a worker exits, its live gauges are dropped (`mark_process_dead`);
  its counters stay, so totals do not go backwards when a worker is replaced.

Gunicorn 25+ opens a control socket under `~/.gunicorn` shared by every
gunicorn on the machine; Atrium does not use it, so it is off.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from config import env as E

MULTIPROC_DIR = Path(E.PROMETHEUS_MULTIPROC_DIR or E.VAR_DIR / "prometheus").resolve()
os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(MULTIPROC_DIR)

wsgi_app = "config.wsgi:application"
control_socket_disable = True
# Atrium writes its own JSON access line (apps.common.middleware); gunicorn's would duplicate it.
accesslog = None
errorlog = "-"
# Sync workers: measured faster than gthread at p99 for this app (gthread worsened p99 3-6x).
worker_class = "sync"
# Workers heartbeat through a file; memory-backed where available so a slow disk cannot kill them.
worker_tmp_dir = "/dev/shm" if Path("/dev/shm").is_dir() else None  # noqa: S108


def on_starting(server: Any) -> None:
    """Before any worker forks: start from an empty metrics directory."""
    MULTIPROC_DIR.mkdir(parents=True, exist_ok=True)
    # Only prometheus_client's own files: the directory may be one an operator chose.
    for stale in MULTIPROC_DIR.glob("*.db"):
        stale.unlink(missing_ok=True)


def child_exit(server: Any, worker: Any) -> None:
    """A worker is gone: drop its live gauges from the merged view."""
    from prometheus_client import multiprocess

    # Typed here: prometheus_client leaves this function unannotated.
    mark_process_dead: Callable[[int, str], None] = multiprocess.mark_process_dead
    mark_process_dead(worker.pid, str(MULTIPROC_DIR))
