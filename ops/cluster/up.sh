#!/usr/bin/env bash
# Academy dev/test cluster: single-node Slurm (partitions cpu + gpu, 4 fake GPUs, accounting in
# slurmdbd on MariaDB) + JupyterHub (batchspawner) on this machine. Idempotent: run it again at any
# time; it installs only what is missing, restarts only what changed, and ends when Slurm's node is
# idle and the hub API answers. Needs root. See ops/cluster/README.md for every variable.
#
#   ops/cluster/up.sh            # bring up (first time ~1 min, then ~15 s)
#   ops/cluster/down.sh          # stop everything (--purge: also drop state + accounting DB)
#
# The platform and the integration tests read $ACADEMY_CLUSTER_STATE/academy.env afterwards.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TEMPLATES="$REPO/ops/cluster/templates"

# ---- configuration (environment, with defaults) ------------------------------------------------
STATE=${ACADEMY_CLUSTER_STATE:-/var/lib/academy-cluster}
HUB_PORT=${ACADEMY_HUB_PORT:-8000}                  # public proxy port (browser + REST)
HUB_PROXY_API_PORT=${ACADEMY_HUB_PROXY_API_PORT:-8001}
HUB_API_PORT=${ACADEMY_HUB_API_PORT:-8081}          # hub's own port (jobs call back here)
HUB_SPAWNER=${ACADEMY_HUB_SPAWNER:-slurm}           # slurm | local
HUB_AUTH=${ACADEMY_HUB_AUTH:-shared-password}       # shared-password | oauth
HUB_CULL_IDLE=${ACADEMY_HUB_CULL_IDLE_TIMEOUT:-3600}
HUB_POLL_INTERVAL=${ACADEMY_HUB_POLL_INTERVAL:-5}
SLURMCTLD_PORT=${ACADEMY_SLURMCTLD_PORT:-6817}
SLURMD_PORT=${ACADEMY_SLURMD_PORT:-6818}
SLURMDBD_PORT=${ACADEMY_SLURMDBD_PORT:-6819}
ACCOUNTING=${ACADEMY_SLURM_ACCOUNTING:-slurmdbd}    # slurmdbd | none
CLUSTER=${ACADEMY_SLURM_CLUSTER:-academy}
SLURM_ACCOUNT=${ACADEMY_SLURM_ACCOUNT:-training}
MAX_TIME=${ACADEMY_SLURM_MAX_TIME:-24:00:00}
NGPUS=${ACADEMY_FAKE_GPUS:-4}
MYSQL_HOST=${ACADEMY_MYSQL_HOST:-127.0.0.1}
MYSQL_PORT=${ACADEMY_MYSQL_PORT:-3306}
DB_NAME=${ACADEMY_SLURM_DB:-slurm_acct_db}
DB_USER=${ACADEMY_SLURM_DB_USER:-slurm}
SLURM_ETC=/etc/slurm                                # where Slurm's clients look for slurm.conf
VENV="$STATE/venv"
HUB_PIP_SPEC="jupyterhub>=6,<7 batchspawner>=1.3 jupyterlab>=4 oauthenticator>=17 jupyterhub-idle-culler requests nbgrader>=0.9,<0.10"
CHP_SPEC="configurable-http-proxy@^5"
SYS_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

[ "$(id -u)" = 0 ] || { echo "up.sh: must run as root" >&2; exit 1; }
case "$HUB_SPAWNER" in slurm|local) ;; *) echo "ACADEMY_HUB_SPAWNER must be slurm or local" >&2; exit 2;; esac
case "$ACCOUNTING" in slurmdbd|none) ;; *) echo "ACADEMY_SLURM_ACCOUNTING must be slurmdbd or none" >&2; exit 2;; esac

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
T0=$(now_ms)
elapsed() { local d=$(( $(now_ms) - T0 )); printf '%d.%d' $((d / 1000)) $((d % 1000 / 100)); }
DONE=()
say()  { printf '[up %5ss] %s\n' "$(elapsed)" "$*"; }
did()  { DONE+=("$*"); say "$*"; }
die()  { say "ERROR: $*"; exit 1; }
alive() { [ -s "$1" ] && kill -0 "$(cat "$1" 2>/dev/null)" 2>/dev/null; }     # alive PIDFILE
wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...
    local deadline=$(( $(date +%s) + $1 )) what=$2; shift 2
    until "$@" >/dev/null 2>&1; do
        [ "$(date +%s)" -lt "$deadline" ] || return 1
        sleep 0.2
    done
}

mkdir -p "$STATE"/{slurm/ctld,slurm/d,log,run,fakegpu,hub,secrets}
chmod 755 "$STATE"           # students' jobs run $STATE/venv/bin/* (pitfall 6)
chmod 700 "$STATE/secrets"

# ---- 1. Debian packages ------------------------------------------------------------------------
need=()
for pkg_bin in munge:munged slurmctld:slurmctld slurmd:slurmd slurm-client:sbatch sudo:sudo \
               python3-venv:-; do
    pkg=${pkg_bin%%:*} bin=${pkg_bin#*:}
    if [ "$bin" = - ]; then
        dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
    else
        PATH=$SYS_PATH command -v "$bin" >/dev/null || need+=("$pkg")
    fi
done
if [ "$ACCOUNTING" = slurmdbd ]; then
    command -v slurmdbd >/dev/null || [ -x /usr/sbin/slurmdbd ] || need+=(slurmdbd)
    [ -x /usr/sbin/mariadbd ] || need+=(mariadb-server)
fi
command -v npm >/dev/null || need+=(nodejs npm)
command -v curl >/dev/null || need+=(curl)
if [ ${#need[@]} -gt 0 ]; then
    say "installing Debian packages: ${need[*]}"
    for _ in $(seq 1 600); do   # another apt run (e.g. the image's provisioning) holds the lock
        pgrep -x apt-get >/dev/null || pgrep -x dpkg >/dev/null || break; sleep 1
    done
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
    did "installed Debian packages: ${need[*]}"
fi

# ---- 2. munge ----------------------------------------------------------------------------------
mkdir -p /run/munge /var/log/munge /var/lib/munge
chown munge:munge /run/munge /var/log/munge /var/lib/munge
[ -s /etc/munge/munge.key ] || { /usr/sbin/mungekey --create --force; chown munge:munge /etc/munge/munge.key; did "created munge key"; }
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    runuser -u munge -- /usr/sbin/munged --force
    wait_for 10 munged sh -c 'munge -n | unmunge' || die "munged does not answer"
    did "started munged"
fi

# ---- 3. MariaDB + accounting database (only with slurmdbd) -------------------------------------
DB_PASS_FILE="$STATE/secrets/slurmdb.pass"
[ -s "$DB_PASS_FILE" ] || { head -c 18 /dev/urandom | base64 | tr -d '/+=' > "$DB_PASS_FILE"; chmod 600 "$DB_PASS_FILE"; }
DB_PASS=$(cat "$DB_PASS_FILE")
mysql_root() { mariadb --protocol=socket -uroot "$@"; }
if [ "$ACCOUNTING" = slurmdbd ]; then
    if ! mariadb-admin --protocol=tcp -h "$MYSQL_HOST" -P "$MYSQL_PORT" -uroot ping >/dev/null 2>&1 \
       && ! mariadb-admin --protocol=socket -uroot ping >/dev/null 2>&1; then
        mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld
        [ -d /var/lib/mysql/mysql ] || mariadb-install-db --user=mysql >/dev/null
        setsid /usr/sbin/mariadbd --user=mysql --bind-address=127.0.0.1 --port="$MYSQL_PORT" \
            >>"$STATE/log/mariadb.log" 2>&1 < /dev/null &
        echo $! > "$STATE/run/mariadb.pid"     # down.sh stops MariaDB only if we started it
        wait_for 30 mariadb mariadb-admin --protocol=socket -uroot ping || die "MariaDB did not start ($STATE/log/mariadb.log)"
        did "started MariaDB on 127.0.0.1:$MYSQL_PORT"
    fi
    if ! mariadb --protocol=tcp -h "$MYSQL_HOST" -P "$MYSQL_PORT" -u"$DB_USER" -p"$DB_PASS" \
            -e "SELECT 1" "$DB_NAME" >/dev/null 2>&1; then
        mysql_root <<SQL
CREATE DATABASE IF NOT EXISTS \`$DB_NAME\`;
CREATE USER IF NOT EXISTS '$DB_USER'@'localhost' IDENTIFIED BY '$DB_PASS';
CREATE USER IF NOT EXISTS '$DB_USER'@'127.0.0.1' IDENTIFIED BY '$DB_PASS';
ALTER USER '$DB_USER'@'localhost' IDENTIFIED BY '$DB_PASS';
ALTER USER '$DB_USER'@'127.0.0.1' IDENTIFIED BY '$DB_PASS';
GRANT ALL ON \`$DB_NAME\`.* TO '$DB_USER'@'localhost';
GRANT ALL ON \`$DB_NAME\`.* TO '$DB_USER'@'127.0.0.1';
FLUSH PRIVILEGES;
SQL
        did "created database $DB_NAME and user $DB_USER"
    fi
fi

# ---- 4. fake GPUs + Slurm configuration --------------------------------------------------------
for i in $(seq 0 $((NGPUS - 1))); do
    dev="$STATE/fakegpu/nvidia$i"
    [ -c "$dev" ] || { rm -f "$dev"; mknod -m 666 "$dev" c 195 "$i"; }
done
NODE=$(hostname -s)
# slurmd -C: "NodeName=vm CPUs=2 Boards=1 ... RealMemory=24105" -> hardware part; keep ~10% of RAM
NODE_HW=$(slurmd -C | head -1 | sed -E 's/^NodeName=[^ ]+ //')
MEM=$(sed -E 's/.*RealMemory=([0-9]+).*/\1/' <<<"$NODE_HW")
NODE_HW=$(sed -E "s/RealMemory=[0-9]+/RealMemory=$((MEM * 9 / 10))/" <<<"$NODE_HW")
if [ "$ACCOUNTING" = slurmdbd ]; then
    ACCOUNTING_LINES="AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=$SLURMDBD_PORT
AccountingStorageTRES=gres/gpu
AccountingStorageEnforce=associations,limits,qos,safe"
else
    ACCOUNTING_LINES="AccountingStorageType=accounting_storage/none"
fi
render() {  # render TEMPLATE > stdout
    local line
    while IFS= read -r line || [ -n "$line" ]; do
        line=${line//@CLUSTER@/$CLUSTER};         line=${line//@NODE@/$NODE}
        line=${line//@NODE_HW@/$NODE_HW};         line=${line//@NGPUS@/$NGPUS}
        line=${line//@LAST_GPU@/$((NGPUS - 1))};  line=${line//@STATE@/$STATE}
        line=${line//@SLURMCTLD_PORT@/$SLURMCTLD_PORT}; line=${line//@SLURMD_PORT@/$SLURMD_PORT}
        line=${line//@SLURMDBD_PORT@/$SLURMDBD_PORT};   line=${line//@MAX_TIME@/$MAX_TIME}
        line=${line//@MYSQL_HOST@/$MYSQL_HOST};   line=${line//@MYSQL_PORT@/$MYSQL_PORT}
        line=${line//@DB_USER@/$DB_USER};         line=${line//@DB_PASS@/$DB_PASS}
        line=${line//@DB_NAME@/$DB_NAME}
        line=${line//@ACCOUNTING_LINES@/$ACCOUNTING_LINES}
        printf '%s\n' "$line"
    done < "$1"
}
install_conf() {  # install_conf TEMPLATE DEST MODE -> returns 0 if the file changed
    local tmp; tmp=$(mktemp)
    render "$TEMPLATES/$1" > "$tmp"
    if cmp -s "$tmp" "$2"; then rm -f "$tmp"; return 1; fi
    install -m "$3" "$tmp" "$2"; rm -f "$tmp"; did "wrote $2"; return 0
}
mkdir -p "$SLURM_ETC"
SLURM_CHANGED=0; DBD_CHANGED=0
install_conf slurm.conf.in "$SLURM_ETC/slurm.conf" 644 && SLURM_CHANGED=1
install_conf gres.conf.in "$SLURM_ETC/gres.conf" 644 && SLURM_CHANGED=1
if [ "$ACCOUNTING" = slurmdbd ]; then
    install_conf slurmdbd.conf.in "$SLURM_ETC/slurmdbd.conf" 600 && DBD_CHANGED=1
fi

stop_pidfile() {  # stop_pidfile PIDFILE NAME  (waits on the pid: daemons remove the file early)
    local pid
    if alive "$1"; then
        pid=$(cat "$1")
        kill "$pid"
        for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        say "stopped $2"
    fi
}

# ---- 5. Slurm daemons --------------------------------------------------------------------------
if [ "$ACCOUNTING" = slurmdbd ]; then
    [ "$DBD_CHANGED" = 1 ] && stop_pidfile "$STATE/run/slurmdbd.pid" slurmdbd
    if ! alive "$STATE/run/slurmdbd.pid"; then
        /usr/sbin/slurmdbd
        did "started slurmdbd (port $SLURMDBD_PORT)"
    fi
    wait_for 30 slurmdbd sacctmgr -n show cluster || die "slurmdbd does not answer ($STATE/log/slurmdbd.log)"
    if [ -z "$(sacctmgr -n -P show cluster "$CLUSTER" format=cluster)" ]; then
        sacctmgr -i add cluster "$CLUSTER" >/dev/null; did "registered cluster $CLUSTER in slurmdbd"
    fi
    if [ -z "$(sacctmgr -n -P show account "$SLURM_ACCOUNT" format=account)" ]; then
        sacctmgr -i add account "$SLURM_ACCOUNT" cluster="$CLUSTER" \
            description="Academy training" organization=academy >/dev/null
        did "created Slurm account $SLURM_ACCOUNT"
    fi
fi
if [ "$SLURM_CHANGED" = 1 ] || [ "$DBD_CHANGED" = 1 ]; then
    # AccountingStorageEnforce etc. need a real restart; `scontrol reconfigure` is not enough
    stop_pidfile "$STATE/run/slurmctld.pid" slurmctld
    stop_pidfile "$STATE/run/slurmd.pid" slurmd
fi
if ! alive "$STATE/run/slurmctld.pid"; then /usr/sbin/slurmctld; did "started slurmctld (port $SLURMCTLD_PORT)"; fi
if ! alive "$STATE/run/slurmd.pid"; then /usr/sbin/slurmd; did "started slurmd (port $SLURMD_PORT)"; fi

node_state() { sinfo -h -N -n "$NODE" -o %t 2>/dev/null | head -1; }
resumed=0
for _ in $(seq 1 300); do
    st=$(node_state || true)
    case "$st" in
        idle|mix|alloc|comp) break ;;
        *drain*|*down*|*inval*|*drng*|drain|down|inval)
            if [ "$resumed" = 0 ]; then scontrol update nodename="$NODE" state=resume 2>/dev/null || true; resumed=1; fi ;;
    esac
    sleep 0.2
done
st=$(node_state || true)
case "$st" in idle|mix|alloc|comp) say "Slurm node $NODE is $st" ;; *) die "Slurm node $NODE is '$st' ($STATE/log/slurmd.log, slurmctld.log)";; esac

# ---- 6. JupyterHub venv (Debian's /usr/bin/python3: readable by students, pitfall 6) -----------
if [ "$(cat "$VENV/.academy-spec" 2>/dev/null)" != "$HUB_PIP_SPEC" ] || [ ! -x "$VENV/bin/jupyterhub" ]; then
    [ -x "$VENV/bin/python" ] || /usr/bin/python3 -m venv "$VENV"
    # shellcheck disable=SC2086
    "$VENV/bin/pip" install -q --disable-pip-version-check $HUB_PIP_SPEC 2>&1 | grep -v "is ignored: it is neither" || true
    "$VENV/bin/python" -c "import jupyterhub, batchspawner, jupyterlab, oauthenticator" || die "hub venv broken"
    echo "$HUB_PIP_SPEC" > "$VENV/.academy-spec"
    chmod -R o+rX "$VENV"
    did "installed hub venv $VENV ($("$VENV/bin/jupyterhub" --version))"
fi
# JupyterLab defaults for students: no "Jupyter news?" prompt, no update check (closed network)
install -D -m 644 "$REPO/notebooks/hub/lab-overrides.json" "$VENV/share/jupyter/lab/settings/overrides.json"
# nbgrader is there for its create-assignment toolbar only, in authoring servers (edit-<lab>):
# every nbgrader plugin and server extension is disabled for all servers (Academy grades, not
# nbgrader; students get none of it), and the authoring config, which the hub gives edit-<lab>
# servers as JUPYTER_CONFIG_PATH, enables create-assignment again.
NBGRADER_PLUGINS="assignment-list course-list create-assignment formgrader menu validate-assignment"
NBGRADER_SERVER_EXTS="formgrader validate_assignment assignment_list course_list"
if [ "$(cat "$VENV/.academy-nbgrader" 2>/dev/null)" != "$NBGRADER_PLUGINS/$NBGRADER_SERVER_EXTS" ]; then
    for plugin in $NBGRADER_PLUGINS; do
        "$VENV/bin/jupyter" labextension disable --level=sys_prefix "@jupyter/nbgrader:$plugin" >/dev/null 2>&1 \
            || die "could not disable nbgrader plugin $plugin"
    done
    for ext in $NBGRADER_SERVER_EXTS; do
        "$VENV/bin/jupyter" server extension disable --sys-prefix "nbgrader.server_extensions.$ext" >/dev/null 2>&1 \
            || die "could not disable nbgrader server extension $ext"
    done
    echo "$NBGRADER_PLUGINS/$NBGRADER_SERVER_EXTS" > "$VENV/.academy-nbgrader"
    chmod -R o+rX "$VENV/etc/jupyter"
    did "disabled nbgrader's plugins and server extensions in $VENV (create-assignment: authoring only)"
fi
install -D -m 644 "$REPO/notebooks/hub/authoring/labconfig/page_config.json" \
    "$VENV/etc/jupyter-authoring/labconfig/page_config.json"
if [ ! -x "$STATE/node_modules/.bin/configurable-http-proxy" ]; then
    npm install --prefix "$STATE" --no-save --no-audit --no-fund --loglevel=error "$CHP_SPEC" >/dev/null
    did "installed $CHP_SPEC (npm)"
fi

# ---- 7. secrets + env files ----------------------------------------------------------------------
secret() {  # secret NAME ENV_OVERRIDE BYTES
    local f="$STATE/secrets/$1"
    if [ -n "$2" ]; then printf '%s' "$2" > "$f"
    elif [ ! -s "$f" ]; then head -c "$3" /dev/urandom | od -An -tx1 | tr -d ' \n' > "$f"; fi
    chmod 600 "$f"; cat "$f"
}
API_TOKEN=$(secret hub_api_token "${ACADEMY_HUB_API_TOKEN:-}" 32)
SHARED_PASSWORD=$(secret hub_shared_password "${ACADEMY_HUB_SHARED_PASSWORD:-}" 12)
ADMIN_PASSWORD=$(secret hub_admin_password "${ACADEMY_HUB_ADMIN_PASSWORD:-}" 24)

write_env() {  # write_env FILE, content on stdin; returns 0 if changed
    local tmp; tmp=$(mktemp)
    cat > "$tmp"
    if cmp -s "$tmp" "$1"; then rm -f "$tmp"; return 1; fi
    install -m 600 "$tmp" "$1"; rm -f "$tmp"; did "wrote $1"
}
HUB_ENV="$STATE/hub.env"
# everything the hub process sees (it is started with `env -i`, so nothing leaks from this shell)
HUB_ENV_NEW=$(mktemp)
{
    cat <<EOF
ACADEMY_CLUSTER_STATE=$STATE
ACADEMY_HUB_PORT=$HUB_PORT
ACADEMY_HUB_PROXY_API_PORT=$HUB_PROXY_API_PORT
ACADEMY_HUB_API_PORT=$HUB_API_PORT
ACADEMY_HUB_SPAWNER=$HUB_SPAWNER
ACADEMY_HUB_AUTH=$HUB_AUTH
ACADEMY_HUB_API_TOKEN=$API_TOKEN
ACADEMY_HUB_SHARED_PASSWORD=$SHARED_PASSWORD
ACADEMY_HUB_ADMIN_PASSWORD=$ADMIN_PASSWORD
ACADEMY_HUB_CULL_IDLE_TIMEOUT=$HUB_CULL_IDLE
ACADEMY_HUB_POLL_INTERVAL=$HUB_POLL_INTERVAL
ACADEMY_HUB_CREATE_ACCOUNTS=1
ACADEMY_SLURM_ACCOUNT=$SLURM_ACCOUNT
EOF
    # pass through any other hub setting given to up.sh (limits, OAuth, ...)
    env | grep -E '^(ACADEMY_HUB_|JUPYTERHUB_CRYPT_KEY=)' | grep -vE '^ACADEMY_HUB_(PORT|PROXY_API_PORT|API_PORT|SPAWNER|AUTH|API_TOKEN|SHARED_PASSWORD|ADMIN_PASSWORD|CULL_IDLE_TIMEOUT|POLL_INTERVAL|CREATE_ACCOUNTS|URL)=' | sort || true
} > "$HUB_ENV_NEW"
write_env "$HUB_ENV" < "$HUB_ENV_NEW" || true
rm -f "$HUB_ENV_NEW"
write_env "$STATE/academy.env" <<EOF || true
# Written by ops/cluster/up.sh: what the platform (Django settings) and tests/cluster need.
ACADEMY_CLUSTER_STATE=$STATE
ACADEMY_HUB_URL=http://127.0.0.1:$HUB_PORT
ACADEMY_HUB_API_TOKEN=$API_TOKEN
ACADEMY_HUB_SPAWNER=$HUB_SPAWNER
ACADEMY_HUB_SHARED_PASSWORD=$SHARED_PASSWORD
ACADEMY_SLURM_ACCOUNTING=$ACCOUNTING
ACADEMY_SLURM_ACCOUNT=$SLURM_ACCOUNT
ACADEMY_SLURM_CLUSTER=$CLUSTER
ACADEMY_SLURM_COMMAND_PREFIX=
ACADEMY_GRADING_GPU_DEVICE_DIR=$STATE/fakegpu
EOF

# ---- 8. JupyterHub -------------------------------------------------------------------------------
HUB_PID="$STATE/hub/jupyterhub.pid"
HUB_LOG="$STATE/log/jupyterhub.log"
CONFIG="$REPO/notebooks/hub/jupyterhub_config.py"
FINGERPRINT=$(cat "$HUB_ENV" "$CONFIG" "$REPO/notebooks/hub/spawner.py" "$REPO/notebooks/hub/options.py" | md5sum | cut -d' ' -f1)
if alive "$HUB_PID" && [ "$(cat "$STATE/run/hub.fingerprint" 2>/dev/null)" != "$FINGERPRINT" ]; then
    stop_pidfile "$HUB_PID" "JupyterHub (config changed; running lab jobs are kept)"
fi
hub_api_ok() { curl -fsS -m 2 "http://127.0.0.1:$HUB_PORT/hub/api/" >/dev/null; }
if ! alive "$HUB_PID"; then
    for p in "$HUB_PORT" "$HUB_PROXY_API_PORT" "$HUB_API_PORT"; do
        # a proxy left over from a hub that was killed hard holds the ports
        port_busy() { ss -ltnH "sport = :$1" | grep -q .; }
        wait_for 5 "port $p" sh -c "! ss -ltnH 'sport = :$p' | grep -q ." || true
        if port_busy "$p"; then
            if alive "$STATE/hub/proxy.pid"; then stop_pidfile "$STATE/hub/proxy.pid" "stale configurable-http-proxy"
            else die "port $p is in use by another program (set ACADEMY_HUB_*PORT)"; fi
        fi
    done
    (
        cd "$STATE/hub"
        readarray -t hub_env < <(grep -v '^#' "$HUB_ENV")
        exec env -i PATH="$SYS_PATH" HOME=/root LANG=C.UTF-8 "${hub_env[@]}" \
            setsid "$VENV/bin/jupyterhub" -f "$CONFIG" >>"$HUB_LOG" 2>&1 < /dev/null
    ) &
    echo "$FINGERPRINT" > "$STATE/run/hub.fingerprint"
    did "started JupyterHub (spawner=$HUB_SPAWNER, auth=$HUB_AUTH) on port $HUB_PORT; log $HUB_LOG"
fi
wait_for 90 hub hub_api_ok || { tail -30 "$HUB_LOG" >&2; die "JupyterHub API does not answer on :$HUB_PORT"; }
curl -fsS -m 5 -H "Authorization: token $API_TOKEN" "http://127.0.0.1:$HUB_PORT/hub/api/users" >/dev/null \
    || die "hub does not accept the academy service token"
say "JupyterHub API answers on http://127.0.0.1:$HUB_PORT/hub/api/"

# ---- summary -----------------------------------------------------------------------------------
echo
echo "Academy cluster is up in $(elapsed) s."
if [ ${#DONE[@]} -eq 0 ]; then echo "Nothing to do: everything was installed and running."; else
    echo "Done this run:"; printf '  - %s\n' "${DONE[@]}"; fi
cat <<EOF
  Slurm:      cluster $CLUSTER, node $NODE ($(sinfo -h -o '%P %a %D %G' | tr '\n' ';'))
  Accounting: $ACCOUNTING$([ "$ACCOUNTING" = slurmdbd ] && echo " (db $DB_NAME on $MYSQL_HOST:$MYSQL_PORT)")
  Hub:        http://127.0.0.1:$HUB_PORT  (proxy API :$HUB_PROXY_API_PORT, hub :$HUB_API_PORT)
  Platform:   set -a; . $STATE/academy.env; set +a
  Logs:       $STATE/log/
EOF
