#!/bin/sh
# PostgreSQL's first start (docker-entrypoint-initdb.d): the service's two roles and its
# database. Neither role is a superuser.
#   typhoon_owner  owns the database and its tables; `typhoon db upgrade` (the migrate job)
#                  connects as it and grants typhoon_app what the service needs;
#   typhoon_app    what API, workers and scheduler connect as: reads and writes rows, may not
#                  UPDATE or DELETE audit rows, owns and creates nothing.
# Passwords come from Docker secrets (files), never from this file or the compose file.
# Runs again by hand the same way (`psql` as a superuser) with other names for tests:
# TYPHOON_DB_NAME, TYPHOON_DB_OWNER, TYPHOON_DB_APP.
set -eu

db="${TYPHOON_DB_NAME:-typhoon}"
owner="${TYPHOON_DB_OWNER:-typhoon_owner}"
app="${TYPHOON_DB_APP:-typhoon_app}"
owner_password="$(cat "${TYPHOON_DB_OWNER_PASSWORD_FILE:-/run/secrets/db_owner_password}")"
app_password="$(cat "${TYPHOON_DB_APP_PASSWORD_FILE:-/run/secrets/db_app_password}")"
if [ -z "$owner_password" ] || [ -z "$app_password" ]; then
  echo "init-roles: the owner and app passwords must not be empty" >&2
  exit 1
fi

psql -v ON_ERROR_STOP=1 --no-psqlrc --username "${POSTGRES_USER:-postgres}" --dbname postgres \
  -v db="$db" -v owner="$owner" -v app="$app" \
  -v owner_password="$owner_password" -v app_password="$app_password" <<'SQL'
CREATE ROLE :"owner" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'owner_password';
CREATE ROLE :"app" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'app_password';
CREATE DATABASE :"db" OWNER :"owner";
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
GRANT CONNECT ON DATABASE :"db" TO :"app";
SQL
echo "init-roles: database $db, owner $owner, application role $app"
