"""The bench's controls, served by the same gunicorn as Atrium when `BENCH_CONTROLS=1` (never otherwise).

- `bare`: a plain Django view answering `{"ok": true}`, through the full middleware stack: the
  ceiling any view on this server can reach; every flow is reported as a fraction of it.
- `stock`: what a team would write without Atrium's tenancy work: a DRF `ListAPIView` with
  DRF's `PageNumberPagination`, simplejwt's `JWTAuthentication` (user loaded from the database),
  filtered by the token's `tenant_id` claim, over a copy of the audit rows without row-level
  security (`bench_stock_auditrow`, made by the harness; see `models.py`).
"""
