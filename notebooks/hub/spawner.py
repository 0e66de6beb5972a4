"""JupyterHub-side helpers: the hardened Slurm spawner and the hooks the hub config installs.

Imported by ``jupyterhub_config.py`` inside the hub venv (needs jupyterhub + batchspawner). The
pure validation lives in ``options.py`` so the platform and the unit tests can use it without a hub.
"""

from __future__ import annotations

import asyncio
import pwd
import re

from batchspawner import JobStatus, SlurmSpawner
from batchspawner.batchspawner import format_template
from tornado import web
from traitlets import Float

# imported as notebooks.hub.spawner, or as spawner (the hub config puts its dir on sys.path)
try:
    from .options import (
        Limits,
        OptionsError,
        apply_authoring_config,
        validate_options,
        validate_server_name,
    )
except ImportError:  # pragma: no cover
    from options import (  # type: ignore[no-redef]
        Limits,
        OptionsError,
        apply_authoring_config,
        validate_options,
        validate_server_name,
    )

# A conservative POSIX login name; hub names that don't fit can't get a Unix account / Slurm user.
UNIX_NAME_RE = re.compile(r"[a-z_][a-z0-9_-]{0,31}")


class SafeSlurmSpawner(SlurmSpawner):
    """batchspawner's SlurmSpawner with three fixes.

    1. The batch script is rendered ONLY from the ``req_*`` traits (+ the server command). Upstream
       ``submit_batch_script`` merges the raw ``user_options`` into the template variables, which
       lets a REST client write arbitrary ``#SBATCH`` lines or shell (``prologue``, ``srun``, ...).
       Options reach ``req_*`` only through :func:`apply_user_options` (validated).
    2. A job that ends after being RUNNING but before the single-user server reported its port
       fails the spawn within ``job_check_interval`` seconds instead of hanging until
       ``start_timeout`` (upstream loops on ``self.port == 0`` without looking at the job).
    3. (config) PATH is kept for the job step: see ``req_keepvars_extra`` in the hub config.
    """

    job_check_interval = Float(
        3.0, help="Seconds between job checks while waiting for the server to come up"
    ).tag(config=True)

    async def _get_batch_script(self, **_ignored_subvars):
        subvars = self.get_req_subvars()
        subvars["cmd"] = self.cmd_formatted_for_batch()
        return format_template(self.batch_script, **subvars)

    async def start(self):
        task = asyncio.ensure_future(super().start())
        try:
            while True:
                done, _ = await asyncio.wait({task}, timeout=self.job_check_interval)
                if task in done:
                    return task.result()
                if not self.job_id or self.port:
                    continue
                job_id = self.job_id
                status = await self.query_job_status()
                if status not in (JobStatus.PENDING, JobStatus.RUNNING, JobStatus.UNKNOWN):
                    self.log.warning(
                        "Slurm job %s of %s ended during start-up", job_id, self._log_name
                    )
                    raise RuntimeError(
                        f"The Slurm job {job_id} ended before JupyterLab started "
                        f"(see ~/jupyterhub_slurmspawner_{job_id}.log)"
                    )
        except BaseException:
            task.cancel()
            raise


def make_apply_user_options(limits: Limits, authoring_config_dir: str | None = None):
    """The ``Spawner.apply_user_options`` hook (JupyterHub >= 5.3; REST and form spawns)."""

    def apply_user_options(spawner, user_options):
        try:
            validate_server_name(spawner.name, limits)
            opts = validate_options(user_options, limits)
        except OptionsError as e:
            raise web.HTTPError(400, str(e)) from None
        apply_authoring_config(spawner, authoring_config_dir)
        if isinstance(spawner, SlurmSpawner):
            req = opts.slurm_req()
            spawner.req_partition = req["partition"]
            spawner.req_gres = req["gres"]
            spawner.req_nprocs = req["nprocs"]
            spawner.req_runtime = req["runtime"]
            if req["memory"]:
                spawner.req_memory = req["memory"]
        spawner.log.info("%s validated options: %s", spawner._log_name, opts)

    return apply_user_options


async def _run(*cmd: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        *cmd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await proc.communicate()
    return proc.returncode or 0, out.decode(errors="replace").strip()


def make_account_hook(
    slurm_account: str, create_unix_user: bool = True, add_slurm_user: bool = True
):
    """``pre_spawn_hook`` for the single-node dev/test cluster.

    Creates the Unix account (``useradd -m``) and the Slurm association
    (``sacctmgr add user <u> account=<slurm_account>``) on first spawn.

    On a real cluster do NOT use this: accounts come from LDAP/SSSD and associations are managed
    by the platform (``sacctmgr add user`` per course account, with GPU-minute limits).
    """

    async def pre_spawn_hook(spawner):
        name = spawner.user.name
        if not UNIX_NAME_RE.fullmatch(name):
            raise web.HTTPError(400, f"user name {name!r} is not a valid cluster login")
        if create_unix_user:
            try:
                pwd.getpwnam(name)
            except KeyError:
                # a private home: lab work and authored sources are nobody else's to read
                rc, out = await _run(
                    "useradd", "-m", "-K", "HOME_MODE=0700", "-s", "/bin/bash", name
                )
                if rc != 0:
                    raise RuntimeError(f"useradd {name} failed: {out}") from None
                spawner.log.info("created Unix account %s", name)
        if add_slurm_user:
            rc, out = await _run(
                "sacctmgr",
                "-n",
                "-P",
                "show",
                "assoc",
                f"where user={name}",
                f"account={slurm_account}",
                "format=user",
            )
            if rc != 0 or name not in out.split():
                rc, out = await _run(
                    "sacctmgr", "-i", "add", "user", name, f"account={slurm_account}"
                )
                if rc != 0 and "Nothing new added" not in out:
                    raise RuntimeError(f"sacctmgr add user {name} failed: {out}")
                spawner.log.info("added Slurm association %s/%s", name, slurm_account)

    return pre_spawn_hook


__all__ = [
    "SafeSlurmSpawner",
    "make_account_hook",
    "make_apply_user_options",
]
