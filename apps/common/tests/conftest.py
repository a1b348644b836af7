"""Fixtures for apps.common's web-layer tests (logging, middleware, errors).

Names are specific (`atrium_log_lines`) because other test modules in this
package bring fixtures of their own.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from apps.common.logging import JsonFormatter


@pytest.fixture
def atrium_log_lines() -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """What the configured console handler writes, parsed line by line.

    The real handler from `LOGGING` (its JsonFormatter and RedactionFilter) is
    kept; only its stream is pointed at a buffer for the test.
    """
    handlers = {h for name in ("atrium", "django") for h in logging.getLogger(name).handlers}
    # pytest adds capture handlers of its own (StreamHandler subclasses too): pick ours by its formatter.
    console = [h for h in handlers if isinstance(h, logging.StreamHandler) and isinstance(h.formatter, JsonFormatter)]
    assert console, "LOGGING has no JSON console handler"
    buffer = io.StringIO()
    previous = [h.setStream(buffer) for h in console]

    def lines() -> list[dict[str, Any]]:
        return [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]

    try:
        yield lines
    finally:
        for handler, stream in zip(console, previous, strict=True):
            if stream is not None:
                handler.setStream(stream)
