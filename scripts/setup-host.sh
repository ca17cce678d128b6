#!/usr/bin/env bash
# Installs what the project needs from Debian's packages, on a fresh Debian 12 as root.
# Idempotent: it installs only what is missing. Usage: setup-host.sh [--services]
#   --services  also make sure PostgreSQL (127.0.0.1:5432, database "test") and Redis run,
#               for the test suite.
set -euo pipefail

want=()
command -v python3 >/dev/null || want+=(python3)
python3 -c 'import venv, ensurepip' 2>/dev/null || want+=(python3-venv)
command -v debootstrap >/dev/null || want+=(debootstrap)
command -v sipp >/dev/null || want+=(sip-tester)
command -v mount >/dev/null || want+=(mount)
command -v curl >/dev/null || want+=(curl)
# The docs check (tests/api/test_docs_examples.py) runs the docs' examples, which use jq.
command -v jq >/dev/null || want+=(jq)

services=0
[ "${1:-}" = "--services" ] && services=1

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

if [ "$services" = 1 ]; then
  port_open 5432 || command -v pg_ctlcluster >/dev/null || want+=(postgresql)
  port_open 6379 || command -v redis-server >/dev/null || want+=(redis-server)
  # The wallboard is tested in a real headless browser.
  command -v chromium >/dev/null || want+=(chromium)
  command -v chromedriver >/dev/null || want+=(chromium-driver)
fi

if [ "${#want[@]}" -gt 0 ]; then
  echo "setup: installing ${want[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${want[@]}" >/dev/null
fi

if [ "$services" = 1 ]; then
  if ! port_open 5432; then
    echo "setup: starting PostgreSQL"
    version=$(ls /etc/postgresql | sort -n | tail -1)
    pg_ctlcluster --skip-systemctl-redirect "$version" main start
    conf=/etc/postgresql/$version/main/pg_hba.conf
    if ! grep -q "orchestrator-test" "$conf"; then
      # Trust on loopback for the test database only, as on the developers' machines.
      sed -i '1i host all all 127.0.0.1/32 trust # orchestrator-test' "$conf"
      pg_ctlcluster --skip-systemctl-redirect "$version" main reload
    fi
    for _ in $(seq 50); do port_open 5432 && break; sleep 0.2; done
  fi
  if ! psql -h 127.0.0.1 -U postgres -tAc "select 1 from pg_database where datname='test'" 2>/dev/null | grep -q 1; then
    su postgres -c "psql -tAc 'create database test'" >/dev/null 2>&1 || \
      psql -h 127.0.0.1 -U postgres -c 'create database test' >/dev/null
  fi
  if ! port_open 6379; then
    echo "setup: starting Redis"
    mkdir -p /var/lib/redis /var/log/redis
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
      --dir /var/lib/redis --logfile /var/log/redis/orchestrator.log
  fi
fi
