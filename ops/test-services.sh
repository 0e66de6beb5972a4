#!/usr/bin/env bash
# Starts every service the test suite talks to, installing what is missing (as root, from
# Debian's packages): PostgreSQL, Redis, Chromium for the browser tests, and the single-node
# Slurm + JupyterHub stack (ops/cluster/up.sh).  Idempotent: whatever already runs is kept.
# Writes var/test-services.env, which `make test` sources.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p var

PG_HOST=${ACADEMY_TEST_PG_HOST:-127.0.0.1}
PG_PORT=${ACADEMY_TEST_PG_PORT:-5432}
REDIS_PORT=${ACADEMY_TEST_REDIS_PORT:-6379}

say() { printf '[test-services] %s\n' "$*"; }
is_root() { [[ $(id -u) -eq 0 ]]; }
apt_updated=0
apt_install() {
  is_root || { say "missing $*: install it (as root: apt-get install $*)"; return 1; }
  if (( ! apt_updated )); then apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# PostgreSQL
if ! port_open "$PG_HOST" "$PG_PORT"; then
  command -v pg_ctlcluster >/dev/null || apt_install postgresql
  say "starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -1)" main start || true
  for _ in $(seq 1 30); do port_open "$PG_HOST" "$PG_PORT" && break; sleep 0.5; done
fi
port_open "$PG_HOST" "$PG_PORT" || { say "PostgreSQL does not answer on $PG_HOST:$PG_PORT"; exit 1; }

# Redis
if ! port_open 127.0.0.1 "$REDIS_PORT"; then
  command -v redis-server >/dev/null || apt_install redis-server
  say "starting Redis"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/academy-test.log
  for _ in $(seq 1 20); do port_open 127.0.0.1 "$REDIS_PORT" && break; sleep 0.25; done
fi

# Chromium for Playwright (Playwright's own browser download is not used).
CHROMIUM=${CHROMIUM_PATH:-/usr/bin/chromium}
[[ -x $CHROMIUM ]] || apt_install chromium
# xgettext: the i18n test checks that the catalogues hold every string of the code.
command -v xgettext >/dev/null || apt_install gettext

# Slurm + JupyterHub.  The hub logs users in through Academy (OAuth2): the browser tests run
# Academy's live server on a fixed address that the hub's OAuth URLs name.
LIVE=${ACADEMY_TEST_LIVESERVER:-127.0.0.1:8310}
HUB_PUBLIC=http://127.0.0.1:${ACADEMY_HUB_PORT:-8000}
[[ -s var/hub-oauth-secret ]] || head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > var/hub-oauth-secret
OAUTH_SECRET=$(cat var/hub-oauth-secret)
export ACADEMY_HUB_AUTH=${ACADEMY_HUB_AUTH:-oauth}
export ACADEMY_HUB_OAUTH_CLIENT_ID=${ACADEMY_HUB_OAUTH_CLIENT_ID:-academy-test-hub}
export ACADEMY_HUB_OAUTH_CLIENT_SECRET=${ACADEMY_HUB_OAUTH_CLIENT_SECRET:-$OAUTH_SECRET}
export ACADEMY_HUB_OAUTH_CALLBACK_URL=${ACADEMY_HUB_OAUTH_CALLBACK_URL:-$HUB_PUBLIC/hub/oauth_callback}
export ACADEMY_HUB_OAUTH_AUTHORIZE_URL=${ACADEMY_HUB_OAUTH_AUTHORIZE_URL:-http://$LIVE/o/authorize/}
export ACADEMY_HUB_OAUTH_TOKEN_URL=${ACADEMY_HUB_OAUTH_TOKEN_URL:-http://$LIVE/o/token/}
export ACADEMY_HUB_OAUTH_USERDATA_URL=${ACADEMY_HUB_OAUTH_USERDATA_URL:-http://$LIVE/oauth/userinfo}
export ACADEMY_HUB_OAUTH_SCOPE=${ACADEMY_HUB_OAUTH_SCOPE:-profile email}
if [[ ${ACADEMY_SKIP_CLUSTER:-0} != 1 ]]; then
  bash ops/cluster/up.sh
  # A test cluster starts each run empty: jobs left by an interrupted run would hold the CPUs.
  squeue -h -o %i | xargs -r scancel
fi

STATE=${ACADEMY_CLUSTER_STATE:-/var/lib/academy-cluster}
{
  echo "DATABASE_URL=${DATABASE_URL:-postgresql://postgres@$PG_HOST:$PG_PORT/academy}"
  echo "CELERY_BROKER_URL=${CELERY_BROKER_URL:-redis://127.0.0.1:$REDIS_PORT/0}"
  echo "CHROMIUM_PATH=$CHROMIUM"
  echo "DJANGO_LIVE_TEST_SERVER_ADDRESS=$LIVE"
  echo "ACADEMY_HUB_OAUTH_CLIENT_ID=$ACADEMY_HUB_OAUTH_CLIENT_ID"
  echo "ACADEMY_HUB_OAUTH_CLIENT_SECRET=$ACADEMY_HUB_OAUTH_CLIENT_SECRET"
  echo "ACADEMY_HUB_OAUTH_CALLBACK_URL=$ACADEMY_HUB_OAUTH_CALLBACK_URL"
  if [[ -f $STATE/academy.env ]]; then cat "$STATE/academy.env"; fi
} > var/test-services.env
say "services up; settings in var/test-services.env"
