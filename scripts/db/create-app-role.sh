#!/usr/bin/env bash
# Creates the application's PostgreSQL role and database.
#
# The role is NOSUPERUSER NOBYPASSRLS: superusers bypass row-level security, so
# the app must never connect as one. CREATEDB lets the test runner make its
# test database. Usage: create-app-role.sh [ROLE] [DATABASE]  (needs a superuser
# connection: PGHOST/PGUSER default to 127.0.0.1/postgres).
set -euo pipefail
role=${1:-atrium}
db=${2:-atrium}
export PGHOST=${PGHOST:-127.0.0.1} PGUSER=${PGUSER:-postgres}
psql -v ON_ERROR_STOP=1 -qX -d postgres <<SQL
DO \$\$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '${role}') THEN
    CREATE ROLE "${role}" LOGIN NOSUPERUSER NOBYPASSRLS CREATEDB NOCREATEROLE;
  ELSE
    ALTER ROLE "${role}" NOSUPERUSER NOBYPASSRLS CREATEDB NOCREATEROLE;
  END IF;
END
\$\$;
SQL
if ! psql -qXtA -d postgres -c "SELECT 1 FROM pg_database WHERE datname = '${db}'" | grep -q 1; then
  createdb -O "$role" "$db"
fi
echo "==> PostgreSQL role '${role}' (no superuser, no BYPASSRLS) owns database '${db}'"
