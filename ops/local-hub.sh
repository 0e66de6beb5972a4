#!/usr/bin/env bash
# JupyterHub for the embedded default (`make run`): the shipped notebooks/hub/jupyterhub_config.py
# with the local process spawner (every lab server runs as this Unix user: development and demos
# only) and logins through Academy's OAuth2 provider.  No root, no Slurm.
#
#   ops/local-hub.sh --setup   install into var/hub (a venv with jupyterhub + jupyterlab +
#                              oauthenticator, configurable-http-proxy from npm) and write
#                              var/hub/academy.env; idempotent
#   ops/local-hub.sh           run the hub in the foreground (runplatform starts it)
#
# Ports (kept off a cluster hub's 8000/8001/8081): ACADEMY_LOCAL_HUB_PORT (8400),
# ACADEMY_LOCAL_HUB_PROXY_API_PORT (8401), ACADEMY_LOCAL_HUB_API_PORT (8481).
# State: ACADEMY_LOCAL_HUB_STATE, by default $ACADEMY_VAR_DIR/hub (var/hub).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
STATE=${ACADEMY_LOCAL_HUB_STATE:-${ACADEMY_VAR_DIR:-$ROOT/var}/hub}
HUB_PORT=${ACADEMY_LOCAL_HUB_PORT:-8400}
PROXY_API_PORT=${ACADEMY_LOCAL_HUB_PROXY_API_PORT:-8401}
API_PORT=${ACADEMY_LOCAL_HUB_API_PORT:-8481}
ACADEMY=http://${ACADEMY_HOST:-127.0.0.1}:${ACADEMY_PORT:-8300}
HUB=http://127.0.0.1:$HUB_PORT

secret() { [[ -s $1 ]] || { head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$1"; chmod 600 "$1"; }; cat "$1"; }

if [[ ${1:-} == --setup ]]; then
  mkdir -p "$STATE"
  if [[ ! -x $STATE/venv/bin/jupyterhub ]]; then
    echo "[local-hub] installing JupyterHub, JupyterLab and oauthenticator into $STATE/venv (once)"
    "$(bin/find-python)" -m venv "$STATE/venv"
    "$STATE/venv/bin/pip" install --quiet "jupyterhub>=6,<7" "jupyterlab>=4" "oauthenticator>=17"
  fi
  install -D -m 644 "$ROOT/notebooks/hub/lab-overrides.json" \
    "$STATE/venv/share/jupyter/lab/settings/overrides.json"
  if [[ ! -x $STATE/node_modules/.bin/configurable-http-proxy ]]; then
    if command -v npm >/dev/null; then
      echo "[local-hub] installing configurable-http-proxy (npm)"
      (cd "$STATE" && npm install --silent --no-audit --no-fund "configurable-http-proxy@^5" >/dev/null)
    else
      echo "[local-hub] npm is missing: lab sessions stay unavailable (install Node.js and npm)" >&2
      exit 1
    fi
  fi
  {
    echo "ACADEMY_HUB_URL=$HUB"
    echo "ACADEMY_HUB_PUBLIC_URL=$HUB"
    echo "ACADEMY_HUB_API_TOKEN=$(secret "$STATE/api-token")"
    echo "ACADEMY_LOCAL_HUB_OAUTH_SECRET=$(secret "$STATE/oauth-secret")"
  } > "$STATE/academy.env"
  chmod 600 "$STATE/academy.env"
  exit 0
fi

[[ -s $STATE/academy.env ]] || { echo "run ops/local-hub.sh --setup first" >&2; exit 1; }
export PATH="$STATE/venv/bin:$PATH"
export ACADEMY_CLUSTER_STATE=$STATE ACADEMY_HUB_DATA_DIR=$STATE/data
export ACADEMY_HUB_PORT=$HUB_PORT ACADEMY_HUB_PROXY_API_PORT=$PROXY_API_PORT ACADEMY_HUB_API_PORT=$API_PORT
export ACADEMY_HUB_PROXY_CMD=$STATE/node_modules/.bin/configurable-http-proxy
export ACADEMY_HUB_SPAWNER=local ACADEMY_HUB_AUTH=oauth
# Its lab servers are processes of this machine: they stop when the hub stops (runplatform also
# stops them through the API first, and ends whatever outlives the hub).
export ACADEMY_HUB_CLEANUP_SERVERS=1
export ACADEMY_HUB_API_TOKEN=$(cat "$STATE/api-token")
export ACADEMY_HUB_OAUTH_CLIENT_ID=academy-local-hub
export ACADEMY_HUB_OAUTH_CLIENT_SECRET=$(cat "$STATE/oauth-secret")
export ACADEMY_HUB_OAUTH_CALLBACK_URL=$HUB/hub/oauth_callback
export ACADEMY_HUB_OAUTH_AUTHORIZE_URL=$ACADEMY/o/authorize/
export ACADEMY_HUB_OAUTH_TOKEN_URL=$ACADEMY/o/token/
export ACADEMY_HUB_OAUTH_USERDATA_URL=$ACADEMY/oauth/userinfo
export ACADEMY_HUB_OAUTH_SCOPE="profile email"
exec "$STATE/venv/bin/jupyterhub" -f "$ROOT/notebooks/hub/jupyterhub_config.py"
