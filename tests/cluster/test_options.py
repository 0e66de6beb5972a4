"""Unit tests: validation of lab server options (notebooks/hub/options.py), no hub needed."""

from types import SimpleNamespace

import pytest

from notebooks.hub.options import (
    Limits,
    OptionsError,
    apply_authoring_config,
    options_from_form,
    parse_partitions,
    parse_runtime,
    validate_options,
    validate_server_name,
)

LIMITS = Limits(
    partitions={"cpu": 0, "gpu": 4},
    max_cpus=2,
    max_memory_mb=8192,
    max_runtime=8 * 3600,
    default_runtime=3600,
    default_partition="cpu",
)


def test_defaults():
    v = validate_options({}, LIMITS)
    assert (v.partition, v.gpus, v.cpus, v.memory_mb, v.runtime) == ("cpu", 0, 1, None, "01:00:00")
    assert v.slurm_req() == {
        "partition": "cpu",
        "gres": "",
        "nprocs": "1",
        "memory": "",
        "runtime": "01:00:00",
    }
    assert validate_options(None, LIMITS) == v


def test_gpu_request():
    v = validate_options(
        {"partition": "gpu", "gpus": 2, "cpus": "2", "memory": "4G", "runtime": "00:30:00"}, LIMITS
    )
    assert v.slurm_req() == {
        "partition": "gpu",
        "gres": "gpu:2",
        "nprocs": "2",
        "memory": "4096M",
        "runtime": "00:30:00",
    }


def test_form_strings_accepted():
    v = validate_options(
        options_from_form(
            {
                "partition": ["gpu"],
                "gpus": ["1"],
                "runtime": ["2:00:00"],
                "_xsrf": ["abc"],
                "prologue": ["x"],
            }
        ),
        LIMITS,
    )
    assert (v.partition, v.gpus, v.runtime) == ("gpu", 1, "02:00:00")


@pytest.mark.parametrize(
    "opts, message",
    [
        ({"partition": "gpu\n#SBATCH --gres=gpu:4"}, "partition must be one of"),
        ({"partition": "gpu "}, "partition must be one of"),
        ({"partition": ["gpu"]}, "partition must be one of"),
        ({"partition": "debug"}, "partition must be one of"),
        ({"partition": "cpu", "gpus": 1}, "gpus must be 0..0 on partition cpu"),
        ({"partition": "gpu", "gpus": 5}, "gpus must be 0..4"),
        ({"partition": "gpu", "gpus": -1}, "gpus must be 0..4"),
        ({"partition": "gpu", "gpus": "-1"}, "gpus must be an integer"),
        ({"partition": "gpu", "gpus": "1\n#SBATCH --gres=gpu:4"}, "gpus must be an integer"),
        ({"partition": "gpu", "gpus": True}, "gpus must be an integer"),
        ({"partition": "gpu", "gpus": 1.5}, "gpus must be an integer"),
        ({"cpus": 0}, "cpus must be 1..2"),
        ({"cpus": 3}, "cpus must be 1..2"),
        ({"memory": "9G"}, "memory must be at most"),
        ({"memory": "4G; rm -rf /"}, "memory must look like"),
        ({"runtime": "08:00:01"}, "runtime must be between"),
        ({"runtime": "00:00:00"}, "runtime must be between"),
        ({"runtime": "1:00:00\n#SBATCH -p gpu"}, "runtime must look like"),
        ({"runtime": "1-00:00:00"}, "runtime must look like"),
        ({"prologue": "touch /tmp/pwned"}, "unknown option(s): prologue"),
        ({"partition": "gpu", "options": "--gres=gpu:4"}, "unknown option(s): options"),
        ({"srun": "bash -c id", "epilogue": "x"}, "unknown option(s): epilogue, srun"),
        ("gpu", "options must be an object"),
    ],
)
def test_rejected(opts, message):
    with pytest.raises(OptionsError) as exc:
        validate_options(opts, LIMITS)
    assert message in str(exc.value)


def test_max_runtime_boundary():
    assert validate_options({"runtime": "08:00:00"}, LIMITS).runtime_seconds == 8 * 3600
    assert parse_runtime("05:30") == 330


def test_limits_from_env():
    lim = Limits.from_env(
        {
            "ACADEMY_HUB_PARTITIONS": "gpu:8,cpu:0",
            "ACADEMY_HUB_MAX_RUNTIME": "02:00:00",
            "ACADEMY_HUB_MAX_CPUS": "16",
            "ACADEMY_HUB_MAX_MEMORY": "64G",
        }
    )
    assert dict(lim.partitions) == {"gpu": 8, "cpu": 0}
    assert lim.default_partition == "gpu"
    assert lim.max_runtime == 7200 and lim.max_cpus == 16 and lim.max_memory_mb == 65536
    assert validate_options({"gpus": 8}, lim).slurm_req()["gres"] == "gpu:8"
    with pytest.raises(ValueError):
        parse_partitions("gpu;rm:1")


@pytest.mark.parametrize("name", ["lab-1", "lab-123456789012", "edit-1", "edit-123456789012"])
def test_lab_session_server_names_pass(name):
    validate_server_name(name, LIMITS)


@pytest.mark.parametrize(
    "name",
    ["", "mine", "lab-", "lab-1x", "lab-1\n", "LAB-1", "lab-1234567890123", "edit-", "editlab-1"],
)
def test_other_server_names_and_the_default_server_are_refused(name):
    with pytest.raises(OptionsError, match="only lab sessions"):
        validate_server_name(name, LIMITS)


def test_only_authoring_servers_get_the_authoring_jupyter_config():
    """nbgrader's create-assignment toolbar: edit-<lab> servers only, never a student's lab-<lab>
    server, whatever the spawner's environment held from an earlier start."""
    authoring = SimpleNamespace(name="edit-7", environment={"KEEP": "1"})
    apply_authoring_config(authoring, "/venv/etc/jupyter-authoring")
    assert authoring.environment == {
        "KEEP": "1",
        "JUPYTER_CONFIG_PATH": "/venv/etc/jupyter-authoring",
    }
    lab = SimpleNamespace(name="lab-7", environment={"JUPYTER_CONFIG_PATH": "/sneaked/in"})
    apply_authoring_config(lab, "/venv/etc/jupyter-authoring")
    assert "JUPYTER_CONFIG_PATH" not in lab.environment
