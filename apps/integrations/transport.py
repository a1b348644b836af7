"""One webhook request: POST to a vetted address, short time-outs, no redirects, the first KB of the answer.

urllib3 connects to the address `apps.integrations.addresses` vetted (never
resolving the name again), sends the name in the Host header and, for
https, as the TLS SNI and the name the certificate must match. Connect
time-out `WEBHOOKS_CONNECT_TIMEOUT` (3 s); `WEBHOOKS_TIMEOUT` (10 s) for the
whole request. A redirect is an answer like any other non-2xx: a failure, not
followed. This module never raises for the receiver's behaviour; it reports.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import urllib3
from django.conf import settings
from urllib3.exceptions import ConnectTimeoutError, HTTPError, NewConnectionError, ReadTimeoutError, SSLError

from apps.integrations.addresses import Target

BODY_LIMIT = 1024  # bytes of the answer kept in the delivery log


@dataclass(frozen=True)
class Outcome:
    ok: bool
    status: int | None  # the HTTP status, None when no answer came
    duration_ms: int
    body: str  # the answer's first BODY_LIMIT bytes, decoded leniently
    error: str  # why it failed, "" on success


def _pool(target: Target, address: str) -> urllib3.HTTPConnectionPool:
    timeout = urllib3.Timeout(connect=settings.WEBHOOKS_CONNECT_TIMEOUT, total=settings.WEBHOOKS_TIMEOUT)
    if target.scheme == "https":
        return urllib3.HTTPSConnectionPool(
            address,
            target.port,
            timeout=timeout,
            retries=False,
            maxsize=1,
            cert_reqs="CERT_REQUIRED",
            server_hostname=target.host,
            assert_hostname=target.host,
        )
    return urllib3.HTTPConnectionPool(address, target.port, timeout=timeout, retries=False, maxsize=1)


def _failure(started: float, error: str, status: int | None = None, body: str = "") -> Outcome:
    return Outcome(ok=False, status=status, duration_ms=_elapsed(started), body=body, error=error[:300])


def _elapsed(started: float) -> int:
    return max(0, round((time.monotonic() - started) * 1000))


def post(*, target: Target, body: bytes, headers: dict[str, str]) -> Outcome:
    """Send `body` to the first vetted address that accepts a connection; what happened."""
    started = time.monotonic()
    sent = {
        "Host": target.host_header,
        "Content-Type": "application/json",
        "Accept-Encoding": "identity",
        "User-Agent": "Atrium-Webhooks/1",
        **headers,
    }
    last = "no address to connect to"
    for address in target.addresses:
        pool = _pool(target, address)
        try:
            response = pool.urlopen(
                "POST",
                target.path,
                body=body,
                headers=sent,
                redirect=False,
                retries=False,
                assert_same_host=False,
                preload_content=False,
            )
            try:
                answer = response.read(BODY_LIMIT, decode_content=False)
            except (HTTPError, OSError):
                answer = b""
            text = answer.decode("utf-8", errors="replace")
            status = int(response.status)
        except (NewConnectionError, ConnectTimeoutError) as exc:
            last = "could not connect" if isinstance(exc, NewConnectionError) else "timed out connecting"
            continue  # another vetted address of the same name may answer
        except ReadTimeoutError:
            return _failure(started, f"no answer within {settings.WEBHOOKS_TIMEOUT:g} s")
        except SSLError as exc:
            return _failure(started, f"TLS error: {exc}")
        except (HTTPError, OSError) as exc:
            return _failure(started, f"request failed: {type(exc).__name__}")
        finally:
            pool.close()
        if 200 <= status < 300:
            return Outcome(ok=True, status=status, duration_ms=_elapsed(started), body=text, error="")
        if 300 <= status < 400:
            return _failure(started, f"HTTP {status}: redirects are not followed", status, text)
        return _failure(started, f"HTTP {status}", status, text)
    return _failure(started, last)
