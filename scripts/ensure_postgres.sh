#!/usr/bin/env bash
# Makes sure a PostgreSQL server accepts connections on 127.0.0.1:5432 for the warehouse tests:
#   - already reachable: says so and exits 0;
#   - otherwise installs Debian's `postgresql` if missing (apt-get, as root or via sudo), creates the
#     cluster if there is none, allows trust auth for user postgres on loopback, starts it, creates
#     database `test`, and waits until it answers.
# Idempotent; prints what it did. Host/port/db can be changed with PGHOST/PGPORT/QC_TEST_PGDATABASE.
set -euo pipefail

HOST=${PGHOST:-127.0.0.1}
PORT=${PGPORT:-5432}
DB=${QC_TEST_PGDATABASE:-test}
say() { echo "ensure_postgres: $*"; }

SUDO=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else say "not root and no sudo: cannot install or start PostgreSQL"; fi
fi

reachable() {
  if command -v pg_isready >/dev/null 2>&1; then
    pg_isready -q -h "$HOST" -p "$PORT" -t 2
  else
    (exec 3<>"/dev/tcp/$HOST/$PORT") 2>/dev/null
  fi
}

ensure_db() {
  local found
  found=$(psql -h "$HOST" -p "$PORT" -U postgres -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$DB'")
  if [ "$found" != 1 ]; then
    psql -h "$HOST" -p "$PORT" -U postgres -d postgres -qc "CREATE DATABASE \"$DB\"" && say "created database $DB"
  fi
}

if reachable; then
  say "PostgreSQL already accepts connections on $HOST:$PORT"
  if command -v psql >/dev/null 2>&1 && psql -h "$HOST" -p "$PORT" -U postgres -d postgres -qtAc "SELECT 1" >/dev/null 2>&1; then
    ensure_db
  fi
  exit 0
fi

if ! command -v pg_ctlcluster >/dev/null 2>&1 || ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
  say "installing Debian package postgresql"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends postgresql postgresql-client >/dev/null
fi

VER=$(ls /usr/lib/postgresql | sort -V | tail -n1)
[ -n "$VER" ] || { say "no PostgreSQL version under /usr/lib/postgresql after install"; exit 1; }
clusters=$(pg_lsclusters -h 2>/dev/null || true)
if ! awk -v v="$VER" '$1==v && $2=="main" {found=1} END {exit !found}' <<<"$clusters"; then
  say "creating cluster $VER/main on port $PORT"
  $SUDO pg_createcluster "$VER" main --port "$PORT" >/dev/null
fi

CONF_DIR=/etc/postgresql/$VER/main
HBA=$CONF_DIR/pg_hba.conf
if ! $SUDO grep -Eq '^host[[:space:]]+all[[:space:]]+all[[:space:]]+127\.0\.0\.1/32[[:space:]]+trust' "$HBA"; then
  say "allowing trust auth on loopback in $HBA (test server only)"
  tmp=$(mktemp)
  {
    echo "# added by callqc scripts/ensure_postgres.sh for the test server"
    echo "local   all   all                 trust"
    echo "host    all   all   127.0.0.1/32  trust"
    echo "host    all   all   ::1/128       trust"
    $SUDO cat "$HBA"
  } > "$tmp"
  $SUDO cp "$tmp" "$HBA"
  rm -f "$tmp"
fi
$SUDO sed -i -E "s/^#?port = [0-9]+/port = $PORT/" "$CONF_DIR/postgresql.conf"
$SUDO sed -i -E "s/^#?listen_addresses = .*/listen_addresses = 'localhost'/" "$CONF_DIR/postgresql.conf"

status=$(pg_lsclusters -h | awk -v v="$VER" '$1==v && $2=="main" {print $4}')
if [ "$status" = online ]; then
  say "reloading cluster $VER/main"
  $SUDO pg_ctlcluster --skip-systemctl-redirect "$VER" main reload || $SUDO pg_ctlcluster --skip-systemctl-redirect "$VER" main restart
else
  say "starting cluster $VER/main"
  $SUDO pg_ctlcluster --skip-systemctl-redirect "$VER" main start
fi

for _ in $(seq 1 60); do
  if reachable; then break; fi
  sleep 0.5
done
reachable || { say "PostgreSQL did not come up on $HOST:$PORT"; exit 1; }
ensure_db
say "PostgreSQL $VER ready on $HOST:$PORT (database $DB)"
