#!/usr/bin/env bash
# Runs once, when the postgres container initialises an empty data volume.
#
# Grafana reads the analytics read models through a role that can only SELECT them: the
# `analytics` schema is created here (the analytics service's own `CREATE SCHEMA IF NOT EXISTS`
# then finds it) and every table that POSTGRES_USER (the user the services connect as) later
# creates in it is readable by the role. The services create all their tables themselves.
set -eo pipefail  # no -u: the postgres entrypoint sources this file when it is not executable
: "${THREADLINE_GRAFANA_DB_PASSWORD:?is needed for the grafana_reader role}"

psql --set ON_ERROR_STOP=1 --no-psqlrc --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<'SQL'
\getenv reader_password THREADLINE_GRAFANA_DB_PASSWORD
CREATE ROLE grafana_reader LOGIN PASSWORD :'reader_password';
CREATE SCHEMA IF NOT EXISTS analytics;
GRANT USAGE ON SCHEMA analytics TO grafana_reader;
ALTER DEFAULT PRIVILEGES IN SCHEMA analytics GRANT SELECT ON TABLES TO grafana_reader;
SQL
