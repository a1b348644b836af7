#!/usr/bin/env bash
# Creates Atrium's PostgreSQL roles and database (ADR 0008), or re-asserts them.
#
#   atrium_rls_bypass  NOLOGIN marker. The `operator_bypass` row-level security
#                      policy applies only to its members: for anyone else the
#                      `app.bypass_rls` setting does nothing.
#   ROLE               the operator: owns the database and the tables, runs
#                      migrations and management commands; member of the marker.
#   WEB_ROLE           the web and worker processes (gunicorn, rqworker): DML on
#                      the tables only, not a member of the marker, so no SQL it
#                      runs (an injected statement included) can lift RLS.
#
# Neither login role is SUPERUSER or BYPASSRLS: those skip every policy. The
# operator keeps CREATEDB so the test runner can make its test database.
# Usage: create-app-role.sh [ROLE] [DATABASE] [WEB_ROLE]
#   (defaults: atrium, atrium, ROLE_web; needs a superuser connection:
#   PGHOST/PGUSER default to 127.0.0.1/postgres). Safe to rerun at any time.
set -euo pipefail
role=${1:-atrium}
db=${2:-atrium}
web=${3:-${role}_web}
marker=atrium_rls_bypass
export PGHOST=${PGHOST:-127.0.0.1} PGUSER=${PGUSER:-postgres}

if [ "$role" = "$web" ] || [ "$role" = "$marker" ] || [ "$web" = "$marker" ]; then
  echo "ROLE, WEB_ROLE and ${marker} must be three different roles" >&2
  exit 2
fi

psql -v ON_ERROR_STOP=1 -qX -d postgres <<SQL
SET client_min_messages = warning;
DO \$\$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '${marker}') THEN
    CREATE ROLE "${marker}" NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
  ELSE
    ALTER ROLE "${marker}" NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
  END IF;
  -- INHERIT: a policy "TO role" applies to members only through inheritance.
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '${role}') THEN
    CREATE ROLE "${role}" LOGIN INHERIT NOSUPERUSER NOBYPASSRLS CREATEDB NOCREATEROLE;
  ELSE
    ALTER ROLE "${role}" LOGIN INHERIT NOSUPERUSER NOBYPASSRLS CREATEDB NOCREATEROLE;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '${web}') THEN
    CREATE ROLE "${web}" LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOREPLICATION;
  ELSE
    ALTER ROLE "${web}" LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOREPLICATION;
  END IF;
END
\$\$;
GRANT "${marker}" TO "${role}";
-- The web role belongs to no other role: a membership (direct or through the
-- operator) would hand it the operator's bypass. Any found is revoked.
DO \$\$
DECLARE granted record;
BEGIN
  FOR granted IN
    SELECT r.rolname FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid
    WHERE m.member = (SELECT oid FROM pg_roles WHERE rolname = '${web}')
  LOOP
    EXECUTE format('REVOKE %I FROM %I', granted.rolname, '${web}');
  END LOOP;
END
\$\$;
SQL

if ! psql -qXtA -d postgres -c "SELECT 1 FROM pg_database WHERE datname = '${db}'" | grep -q 1; then
  createdb -O "$role" "$db"
fi

# Inside the database: what the web role may touch. Default privileges cover
# every table, sequence and function the operator creates later (migrations);
# the GRANT ... ON ALL lines cover what exists already.
psql -v ON_ERROR_STOP=1 -qX -d "$db" <<SQL
SET client_min_messages = warning;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT CONNECT ON DATABASE "${db}" TO "${web}";
GRANT USAGE ON SCHEMA public TO "${web}";
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO "${web}";
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO "${web}";
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO "${web}";
ALTER DEFAULT PRIVILEGES FOR ROLE "${role}" IN SCHEMA public
  GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO "${web}";
ALTER DEFAULT PRIVILEGES FOR ROLE "${role}" IN SCHEMA public
  GRANT USAGE, SELECT ON SEQUENCES TO "${web}";
ALTER DEFAULT PRIVILEGES FOR ROLE "${role}" REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;
ALTER DEFAULT PRIVILEGES FOR ROLE "${role}" IN SCHEMA public
  GRANT EXECUTE ON FUNCTIONS TO "${web}";
SQL

# Refuse to report success unless the roles are what the policies rely on.
check=$(psql -qXtA -d postgres <<SQL
SELECT string_agg(problem, '; ') FROM (
  SELECT rolname || ' is SUPERUSER or BYPASSRLS' AS problem FROM pg_roles
   WHERE rolname IN ('${role}', '${web}', '${marker}') AND (rolsuper OR rolbypassrls)
  UNION ALL
  SELECT '${web} is a member of ${marker}' WHERE pg_has_role('${web}', '${marker}', 'MEMBER')
  UNION ALL
  SELECT '${role} does not inherit ${marker}' WHERE NOT pg_has_role('${role}', '${marker}', 'USAGE')
) problems;
SQL
)
if [ -n "$check" ]; then
  echo "PostgreSQL roles are not safe: ${check}" >&2
  exit 1
fi
echo "==> PostgreSQL operator role '${role}' (member of ${marker}) owns database '${db}'"
echo "==> PostgreSQL web/worker role '${web}' (no bypass; DML on the tables) can use it"
