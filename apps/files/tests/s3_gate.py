"""A checking front for the moto S3 server: what real S3 does with presigned URLs and moto does not.

moto (5.x) serves a presigned GET whatever its `X-Amz-Expires` and signature
say. This front, on its own 127.0.0.1 port, recomputes the SigV4 query
signature with the test credentials and refuses (403 `AccessDenied`, as S3
does) a URL that is altered or past `X-Amz-Date + X-Amz-Expires`; everything
else passes through to moto unchanged. The storage under test talks to the
front, so the presigned URLs the app hands out are checked as S3 would.
"""

from __future__ import annotations

import hmac
import http.client
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from botocore.auth import S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

_DENIED = b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>{}</Message></Error>'


def presigned_refusal(*, method: str, host: str, path: str, query: str, credentials: Credentials, region: str) -> str:
    """Why S3 would refuse this presigned request ('' if it would serve it)."""
    params = parse_qsl(query, keep_blank_values=True)
    fields = dict(params)
    try:
        signed_at = datetime.strptime(fields["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        expires = int(fields["X-Amz-Expires"])
        given = fields["X-Amz-Signature"]
    except (KeyError, ValueError):
        return "Malformed presigned URL"
    if datetime.now(UTC) > signed_at + timedelta(seconds=expires):
        return "Request has expired"
    # The query as sent, minus the signature: re-encoding it would change what was signed.
    unsigned = "&".join(pair for pair in query.split("&") if not pair.startswith("X-Amz-Signature="))
    request = AWSRequest(method=method, url=f"http://{host}{path}?{unsigned}", headers={"host": host})
    request.context["timestamp"] = fields["X-Amz-Date"]
    auth = S3SigV4QueryAuth(credentials, "s3", region, expires=expires)
    expected = auth.signature(auth.string_to_sign(request, auth.canonical_request(request)), request)
    if not hmac.compare_digest(expected, given):
        return "The request signature we calculated does not match the signature you provided"
    return ""


class S3Gate:
    def __init__(self, *, upstream: str, credentials: Credentials, region: str) -> None:
        target = urlsplit(upstream)
        gate = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def _forward(self) -> None:
                split = urlsplit(self.path)
                if "X-Amz-Signature" in split.query:
                    reason = presigned_refusal(
                        method=self.command,
                        host=self.headers["Host"],
                        path=split.path,
                        query=split.query,
                        credentials=credentials,
                        region=region,
                    )
                    if reason:
                        body = _DENIED.replace(b"{}", reason.encode())
                        self.send_response(403)
                        self.send_header("Content-Type", "application/xml")
                        self.send_header("Content-Length", str(len(body)))
                        self.end_headers()
                        self.wfile.write(body)
                        return
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                upstream_conn = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
                try:
                    headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                    headers["Host"] = target.netloc
                    upstream_conn.request(self.command, self.path, body=body, headers=headers)
                    answer = upstream_conn.getresponse()
                    payload = answer.read()
                    self.send_response(answer.status)
                    for name, value in answer.getheaders():
                        if name.lower() not in {"content-length", "transfer-encoding", "connection"}:
                            self.send_header(name, value)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(payload)
                finally:
                    upstream_conn.close()

            do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, name="s3-gate", daemon=True)
        gate.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
