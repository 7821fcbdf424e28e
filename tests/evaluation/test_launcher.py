"""The launcher on a real one-node Slurm cluster (`make slurm-up`, shared by the session): shards, job
arrays through submitit, progress, a failed shard named with its log while the others' results stay, a
rerun that submits only what is missing, and the node check failing closed naming the node. Without
Slurm installed the Slurm tests skip and say how to install it, like the vLLM test."""

from __future__ import annotations

import _thread
import functools
import os
import shutil
import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from evalpin.base.errors import EvalpinError
from evalpin.config.compose import compose, load_typed_params
from evalpin.evaluation import evaluate_stage, launcher
from support import TEMPLATE, demo_conf, dvc, evalpin
from support.outputs import forget_results, output_bytes
from support.slurm import FileWorker, cluster_up, missing, slurm_launcher, when_running

TASKS = ["t1", "t2", "t3", "t4", "t5"]
needs_slurm = pytest.mark.skipif(bool(missing()), reason=str(missing()))


@pytest.fixture(scope="session")
def slurm_cluster() -> Iterator[str]:
    """The one-node cluster, started once (scripts/slurm_up.sh: idempotent); stopped at the end only
    if this session started it."""
    line = cluster_up()
    yield line
    if not line.endswith("(sinfo)"):  # not "up: node N is idle (sinfo)": this session started it
        subprocess.run([str(TEMPLATE / "scripts" / "slurm_down.sh")], check=True, capture_output=True)


@pytest.fixture
def on_the_nodes(monkeypatch: pytest.MonkeyPatch) -> None:
    """The jobs import the test workers by name: tests/ on the PYTHONPATH they inherit from sbatch."""
    paths = [str(TEMPLATE / "tests"), os.environ.get("PYTHONPATH", "")]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(paths))


def test_local_is_one_shard_and_slurm_shards_by_tasks_per_job():
    assert launcher.shards({"name": "local"}, TASKS) == [TASKS]
    by_two = launcher.shards(slurm_launcher("x", tasks_per_job=2), TASKS)
    assert by_two == [["t1", "t2"], ["t3", "t4"], ["t5"]]
    assert launcher.shards({"name": "local"}, []) == []
    with pytest.raises(EvalpinError, match=r"launcher\.name is 'k8s'; conf/launcher/ offers local, slurm"):
        launcher.shards({"name": "k8s"}, TASKS)
    with pytest.raises(EvalpinError, match=r"launcher has no poll_s; conf/launcher/slurm\.yaml lists"):
        launcher.shards({k: v for k, v in slurm_launcher("x").items() if k != "poll_s"}, TASKS)


def test_the_template_composes_the_local_launcher_and_no_stage_depends_on_it(tmp_path):
    import yaml

    assert compose(demo_conf(tmp_path))["launcher"] == {"name": "local"}  # any project's conf
    slurm = yaml.safe_load((TEMPLATE / "conf/launcher/slurm.yaml").read_text())
    assert sorted(slurm) == sorted(["name", *launcher.SLURM_KEYS])
    stages = yaml.safe_load((TEMPLATE / "dvc.yaml").read_text())["stages"]
    assert all("launcher" not in stage.get("params", []) for stage in stages.values())


@needs_slurm
def test_a_failed_shard_is_named_with_its_log_and_the_rerun_submits_only_the_missing(
    slurm_cluster, on_the_nodes, tmp_path, capfd, caplog
):
    store = tmp_path / "store"
    store.mkdir()
    (store / "broken").write_text("t3")
    worker, cfg = FileWorker(store), slurm_launcher(".slurm", tasks_per_job=2)
    with pytest.raises(EvalpinError) as failed:
        launcher.run(tmp_path, cfg, launcher.shards(cfg, worker.pending(TASKS)), worker)
    message = str(failed.value)
    assert message.startswith("1 of 3 Slurm jobs failed; the other jobs' results are kept")
    host = socket.gethostname()
    assert f"shard 1 (t3, t4): EvalpinError: node {host}: task t3: the worker failed on purpose" in message
    log = Path(message.rsplit("log: ", 1)[1])
    assert log.is_file() and log.parent == tmp_path / ".slurm" and "failed on purpose" in log.read_text()
    first = {t: (store / t).read_text() for t in ("t1", "t2", "t5")}
    assert worker.pending(TASKS) == ["t3", "t4"] and all(job.isdigit() for job in first.values())
    progress = capfd.readouterr().err
    assert "slurm: 3 jobs: 0 pending, 0 running, 3 done (1 failed)" in progress

    (store / "broken").unlink()
    launcher.run(tmp_path, cfg, launcher.shards(cfg, worker.pending(TASKS)), worker)
    assert worker.pending(TASKS) == []
    assert {t: (store / t).read_text() for t in first} == first  # kept, not rerun
    assert (store / "t3").read_text() == (store / "t4").read_text() != first["t1"]  # one new job
    assert "slurm: 1 jobs: 0 pending, 0 running, 1 done" in capfd.readouterr().err
    assert "sacct" not in caplog.text  # states come from squeue: no "Bypassing sacct error" on any poll


@needs_slurm
def test_the_delivery_is_verified_on_the_node_naming_it(slurm_cluster, reproduced_repo):
    params = load_typed_params(reproduced_repo)
    weights = reproduced_repo / "models/demo-tiny/model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-1] + b"\0")
    worker = functools.partial(evaluate_stage.run_tasks, reproduced_repo, params)
    with pytest.raises(EvalpinError) as failed:
        launcher.run(reproduced_repo, slurm_launcher(".evalpin/slurm"), [["demo_color_mc"]], worker)
    message = str(failed.value)
    assert f"shard 0 (demo_color_mc): DriftError: node {socket.gethostname()}: models/demo-tiny" in message
    assert "model.safetensors  weights  changed" in message
    assert f"log: {reproduced_repo}/.evalpin/slurm/" in message


SLURM_HERE = """# @package _global_
defaults:
  - override /launcher: slurm
launcher:
  tasks_per_job: 3
  cpus_per_task: 1
  poll_s: 0.3
"""


@needs_slurm
def test_dvc_repro_on_slurm_equals_the_local_run_byte_for_byte(
    slurm_cluster, reproduced_repo_origin, reproduced_repo
):
    """The session's local run against the same repository evaluated by a job array (2 jobs of up to 3
    tasks, selected per machine in conf/local/); then back to local: the launcher is no stage parameter,
    so the evaluate stage does not rerun."""
    repo = reproduced_repo
    (repo / "conf/local").mkdir()
    (repo / "conf/local/default.yaml").write_text(SLURM_HERE)
    forget_results(repo)
    evalpin(repo, "compose")
    proc = dvc(repo, "repro")
    assert "slurm: 2 jobs: 0 pending, 0 running, 2 done\n" in proc.stderr
    assert len(list((repo / ".evalpin/slurm").glob("*_log.err"))) == 2
    local = output_bytes(reproduced_repo_origin)
    assert len(local) > 10 and output_bytes(repo) == local

    shutil.rmtree(repo / "conf/local")
    evalpin(repo, "compose")
    assert "Stage 'evaluate' didn't change, skipping" in dvc(repo, "repro").stdout


@needs_slurm
def test_an_array_sbatch_refuses_is_one_message_naming_the_field(slurm_cluster, tmp_path):
    cfg = {**slurm_launcher(".slurm"), "partition": "no-such-partition"}
    with pytest.raises(EvalpinError, match=r"sbatch refused the job array: .*invalid partition"):
        launcher.run(tmp_path, cfg, [["t1"]], print)


@needs_slurm
def test_a_job_killed_without_a_result_fails_its_shard_and_ctrl_c_cancels_the_array(
    slurm_cluster, on_the_nodes, tmp_path, monkeypatch, capfd
):
    store = tmp_path / "store"
    store.mkdir()
    (store / "slow").write_text("t1")
    worker, cfg = FileWorker(store), slurm_launcher(".slurm")
    monkeypatch.setattr(launcher, "GRACE_S", 0.5)  # (15 s: a result may reach a shared filesystem late)
    killer = when_running(lambda job: subprocess.run(["scancel", "--signal", "KILL", job], check=True))
    with pytest.raises(EvalpinError, match=r"shard 0 \(t1\): the job ended without a result \(killed"):
        launcher.run(tmp_path, cfg, [["t1"]], worker)
    killer.join()

    # Ctrl-C as a fresh `evalpin` process takes it: an earlier test of this worker may have left another
    # SIGINT handler in place (interrupt_main does nothing under SIG_IGN or SIG_DFL)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    interrupter = when_running(lambda job: _thread.interrupt_main())
    with pytest.raises(KeyboardInterrupt):
        launcher.run(tmp_path, cfg, [["t1"]], worker)
    interrupter.join()
    signal.signal(signal.SIGINT, previous)
    assert "slurm: cancelled job array" in capfd.readouterr().err
    left = subprocess.run(["squeue", "-h", "-n", "evalpin", "-t", "PD,R"], capture_output=True, text=True)
    assert left.stdout.strip() == ""
