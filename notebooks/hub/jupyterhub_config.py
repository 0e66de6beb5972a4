# JupyterHub configuration shipped with Academy. Driven entirely by environment variables;
# ops/cluster/README.md lists them all with defaults. Run with:
#   jupyterhub -f notebooks/hub/jupyterhub_config.py
# (ops/cluster/up.sh does that with the variables from $ACADEMY_CLUSTER_STATE/hub.env).
import os
import secrets
import shutil
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # at runtime JupyterHub injects get_config() into this file's namespace
    from traitlets.config import get_config

c = get_config()

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from options import Limits  # noqa: E402


def env(name, default=""):
    return os.environ.get(name, default)


def env_bool(name, default=False):
    v = os.environ.get(name)
    return default if v is None else v.strip().lower() in ("1", "true", "yes", "on")


STATE = env("ACADEMY_CLUSTER_STATE", "/var/lib/academy-cluster")
DATA = env("ACADEMY_HUB_DATA_DIR", os.path.join(STATE, "hub"))
os.makedirs(DATA, exist_ok=True)
VENV_BIN = os.path.dirname(sys.executable)  # the hub venv; jobs run its batchspawner-singleuser

# --- network ------------------------------------------------------------------------------------
c.JupyterHub.bind_url = "http://{}:{}{}".format(
    env("ACADEMY_HUB_BIND_IP", "127.0.0.1"),
    env("ACADEMY_HUB_PORT", "8000"),
    env("ACADEMY_HUB_BASE_URL", "/"),
)
c.JupyterHub.hub_ip = env("ACADEMY_HUB_API_IP", "127.0.0.1")
c.JupyterHub.hub_port = int(env("ACADEMY_HUB_API_PORT", "8081"))
if env("ACADEMY_HUB_CONNECT_IP"):  # multi-node: address the compute nodes use to reach the hub
    c.JupyterHub.hub_connect_ip = env("ACADEMY_HUB_CONNECT_IP")
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{}".format(
    env("ACADEMY_HUB_PROXY_API_PORT", "8001")
)
_chp = env("ACADEMY_HUB_PROXY_CMD") or os.path.join(
    STATE, "node_modules/.bin/configurable-http-proxy"
)
if not os.path.exists(_chp):
    _chp = shutil.which("configurable-http-proxy") or _chp
c.ConfigurableHTTPProxy.command = [_chp]
c.ConfigurableHTTPProxy.pid_file = os.path.join(DATA, "proxy.pid")

# --- persistence --------------------------------------------------------------------------------
c.JupyterHub.db_url = env(
    "ACADEMY_HUB_DB_URL", "sqlite:///" + os.path.join(DATA, "jupyterhub.sqlite")
)
c.JupyterHub.cookie_secret_file = os.path.join(DATA, "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = os.path.join(DATA, "jupyterhub.pid")
# Running jobs survive a hub restart: the hub re-adds their proxy routes on start.  The local hub
# of `make run` (ops/local-hub.sh) sets ACADEMY_HUB_CLEANUP_SERVERS=1: its lab servers are plain
# processes of this machine and stop with it.
c.JupyterHub.cleanup_servers = env_bool("ACADEMY_HUB_CLEANUP_SERVERS", False)
c.JupyterHub.allow_named_servers = True  # one named server per lab
c.JupyterHub.named_server_limit_per_user = int(env("ACADEMY_HUB_NAMED_SERVER_LIMIT", "0"))

# --- servers: only Academy starts them -----------------------------------------------------------
# No options form: people never choose partition, GPUs or wall time on the hub; Academy passes the
# resource profile of the lab (validated again by apply_user_options below, REST and form alike).
LIMITS = Limits.from_env()
c.Spawner.options_form = ""
# After logging in, land on the hub's home page, not on a spawn of the default server.
c.JupyterHub.redirect_to_server = False
c.Spawner.start_timeout = int(env("ACADEMY_HUB_START_TIMEOUT", "300"))
c.Spawner.http_timeout = int(env("ACADEMY_HUB_HTTP_TIMEOUT", "120"))
# how often the hub checks that a server (Slurm job) is still alive: a scancel'd / timed-out job
# shows up as stopped after at most this many seconds
c.Spawner.poll_interval = int(env("ACADEMY_HUB_POLL_INTERVAL", "10"))

# Authoring servers (edit-<lab>: an instructor's "Edit in JupyterLab") read this Jupyter config
# directory first; its labconfig enables nbgrader's create-assignment toolbar, which the venv's
# own config disables for every other server (ops/cluster/up.sh installs both).  It must be
# readable on the compute nodes (a shared path, like the venv).
AUTHORING_CONFIG = env(
    "ACADEMY_HUB_AUTHORING_CONFIG_DIR", os.path.join(sys.prefix, "etc", "jupyter-authoring")
)

SPAWNER = env("ACADEMY_HUB_SPAWNER", "local")
if SPAWNER == "slurm":
    from spawner import SafeSlurmSpawner, make_account_hook, make_apply_user_options

    c.JupyterHub.spawner_class = SafeSlurmSpawner
    c.Spawner.apply_user_options = make_apply_user_options(LIMITS, AUTHORING_CONFIG)
    # pitfall 3: sbatch --export=<keepvars> also applies to the inner srun; sudo resets PATH
    # umask 077: what a server writes (a student's work; an instructor's source with its hidden
    # tests and solutions in an authoring server) is readable by its owner only, whatever the
    # home directory's own mode.
    c.SlurmSpawner.req_prologue = "umask 077\n" + env(
        "ACADEMY_HUB_JOB_PROLOGUE", f"export PATH={VENV_BIN}:$PATH"
    )
    c.SlurmSpawner.req_keepvars_extra = "PATH"
    c.SlurmSpawner.exec_prefix = env("ACADEMY_HUB_EXEC_PREFIX", "sudo -E -u {username}")
    c.SlurmSpawner.batchspawner_singleuser_cmd = os.path.join(VENV_BIN, "batchspawner-singleuser")
    if env("ACADEMY_SLURM_QOS"):
        c.SlurmSpawner.req_qos = env("ACADEMY_SLURM_QOS")
    c.SlurmSpawner.startup_poll_interval = 1.0
    c.SafeSlurmSpawner.job_check_interval = 3.0
    if env_bool("ACADEMY_HUB_CREATE_ACCOUNTS", False):
        # single-node dev/test cluster only: create Unix account + Slurm association on spawn.
        # On a real cluster accounts come from LDAP and the platform manages sacctmgr.
        c.Spawner.pre_spawn_hook = make_account_hook(env("ACADEMY_SLURM_ACCOUNT", "training"))
elif SPAWNER == "local":
    # embedded default: everything runs as the hub's Unix user (dev/demo only)
    from options import (
        OptionsError,
        apply_authoring_config,
        validate_options,
        validate_server_name,
    )
    from tornado import web

    def _validate_only(spawner, user_options):
        try:
            validate_server_name(spawner.name, LIMITS)
            validate_options(user_options, LIMITS)
        except OptionsError as e:
            raise web.HTTPError(400, str(e)) from None
        apply_authoring_config(spawner, AUTHORING_CONFIG)

    c.JupyterHub.spawner_class = "simple"
    c.Spawner.apply_user_options = _validate_only
    c.SimpleLocalProcessSpawner.home_dir_template = os.path.join(DATA, "homes", "{username}")
    if os.geteuid() == 0:
        c.Spawner.args = ["--allow-root"]
else:
    raise ValueError(f"ACADEMY_HUB_SPAWNER must be slurm or local, not {SPAWNER!r}")

# --- authentication ----------------------------------------------------------------------------
AUTH = env("ACADEMY_HUB_AUTH", "shared-password")
c.Authenticator.admin_users = {u for u in env("ACADEMY_HUB_ADMIN_USERS").split(",") if u}
if AUTH == "oauth":
    # Academy (django-oauth-toolkit) is the OAuth2/OIDC provider
    c.JupyterHub.authenticator_class = "generic-oauth"
    g = c.GenericOAuthenticator
    g.client_id = env("ACADEMY_HUB_OAUTH_CLIENT_ID")
    g.client_secret = env("ACADEMY_HUB_OAUTH_CLIENT_SECRET")
    g.oauth_callback_url = env("ACADEMY_HUB_OAUTH_CALLBACK_URL")  # https://<hub>/hub/oauth_callback
    g.authorize_url = env("ACADEMY_HUB_OAUTH_AUTHORIZE_URL")  # <academy>/o/authorize/
    g.token_url = env("ACADEMY_HUB_OAUTH_TOKEN_URL")  # <academy>/o/token/
    g.userdata_url = env("ACADEMY_HUB_OAUTH_USERDATA_URL")  # <academy>/o/userinfo/
    g.scope = env("ACADEMY_HUB_OAUTH_SCOPE", "openid profile email").split()
    g.username_claim = env("ACADEMY_HUB_OAUTH_USERNAME_CLAIM", "preferred_username")
    g.enable_pkce = True
    # Straight to Academy's sign-in: a student already signed in to Academy never sees a hub page.
    c.Authenticator.auto_login = True
    g.login_service = env("ACADEMY_HUB_OAUTH_LOGIN_SERVICE", "Academy")
    if env("ACADEMY_HUB_OAUTH_LOGOUT_URL"):
        g.logout_redirect_url = env("ACADEMY_HUB_OAUTH_LOGOUT_URL")
    groups = [x for x in env("ACADEMY_HUB_OAUTH_ALLOWED_GROUPS").split(",") if x]
    if groups:  # optional: also admit members of these groups (Academy's userinfo "groups")
        # Academy releases the institutions claim only to tokens granted the `groups` scope.
        g.scope = [*g.scope, "groups"] if "groups" not in g.scope else g.scope
        g.manage_groups = True
        g.auth_state_groups_key = env("ACADEMY_HUB_OAUTH_GROUPS_KEY", "oauth_user.groups")
        g.allowed_groups = set(groups)
    if env("JUPYTERHUB_CRYPT_KEY"):
        c.Authenticator.enable_auth_state = True
elif AUTH == "shared-password":
    # tests / dev only
    c.JupyterHub.authenticator_class = "shared-password"
    c.SharedPasswordAuthenticator.user_password = env(
        "ACADEMY_HUB_SHARED_PASSWORD"
    ) or secrets.token_hex(16)
    if env("ACADEMY_HUB_ADMIN_PASSWORD"):  # must be >= 32 chars
        c.SharedPasswordAuthenticator.admin_password = env("ACADEMY_HUB_ADMIN_PASSWORD")
else:
    raise ValueError(f"ACADEMY_HUB_AUTH must be oauth or shared-password, not {AUTH!r}")
# Who may log in: the people Academy sent to the hub.  Academy creates a person's hub user (REST,
# service token) when it starts their first lab session; only existing hub users (and admins)
# get in, anyone else who signs in to Academy and follows the hub's login gets a 403.
c.Authenticator.allow_all = False
c.Authenticator.allow_existing_users = True

# --- roles and services -------------------------------------------------------------------------
# People use the servers Academy started for them and nothing more: the default ``user`` role is
# replaced (JupyterHub's is ``self``, which includes ``servers``: start, stop and change one's own
# servers with any options the global limits allow, outside Academy's budgets and accounting).
roles = [
    {
        "name": "user",
        "description": "Use (not start, stop or change) one's own lab servers",
        "scopes": [
            "access:servers!user",  # JupyterLab of one's own running servers
            "read:users!user",  # the hub's home page
            "read:servers!user",
            "tokens!user",  # a token inherits these scopes, no more
        ],
    }
]
services = []
if env("ACADEMY_HUB_API_TOKEN"):
    # The Academy platform (notebooks/clients/hub.py): exactly the calls it makes.
    services.append({"name": "academy", "api_token": env("ACADEMY_HUB_API_TOKEN")})
    roles.append(
        {
            "name": "academy-platform",
            "services": ["academy"],
            "scopes": [
                "admin:users",  # POST /users/<u>: create the hub user of a session (not admins)
                "list:users",  # GET /users?state=active: the stray-server sweep
                "read:servers",  # GET /users/<u>: server models; /progress
                "admin:server_state",  # state.job_id (the Slurm job id)
                "start:servers",  # POST /users/<u>/servers/<lab>
                "delete:servers",  # DELETE /users/<u>/servers/<lab>
                "access:servers",  # Jupyter contents API through the proxy (lab files, submit)
            ],
        }
    )

CULL_IDLE = int(env("ACADEMY_HUB_CULL_IDLE_TIMEOUT", "0"))
if CULL_IDLE > 0:
    try:
        import jupyterhub_idle_culler  # noqa: F401
    except ImportError:
        print("jupyterhub-idle-culler not installed; idle culling disabled", file=sys.stderr)
    else:
        services.append(
            {
                "name": "idle-culler",
                "command": [
                    sys.executable,
                    "-m",
                    "jupyterhub_idle_culler",
                    f"--timeout={CULL_IDLE}",
                    f"--cull-every={max(60, CULL_IDLE // 10)}",
                ],
            }
        )
        roles.append(
            {
                "name": "idle-culler",
                "services": ["idle-culler"],
                "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
            }
        )
c.JupyterHub.services = services
c.JupyterHub.load_roles = roles

c.JupyterHub.log_level = env("ACADEMY_HUB_LOG_LEVEL", "INFO")
