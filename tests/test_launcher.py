"""The launcher on a real one-node Slurm cluster (`make slurm-up`, shared by the session): shards, job
arrays through submitit, progress, a failed shard named with its log while the others' results stay, a
rerun that submits only what is missing, and the node check failing closed naming the node. Without
Slurm installed the Slurm tests skip and say how to install it, like the vLLM test."""

from __future__ import annotations

import functools
import os
import socket
from pathlib import Path

import pytest

from evalpin import launcher, nodecheck
from evalpin.compose import load_params
from evalpin.errors import EvalpinError
from support import TEMPLATE
from support.slurm import FileWorker, cluster_up, missing, slurm_launcher

TASKS = ["t1", "t2", "t3", "t4", "t5"]
needs_slurm = pytest.mark.skipif(bool(missing()), reason=str(missing()))


@pytest.fixture(scope="session")
def slurm_cluster() -> str:
    """The one-node cluster, started once (scripts/slurm_up.sh: idempotent)."""
    return cluster_up()


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


def test_the_template_composes_the_local_launcher_and_slurm_yaml_has_every_field():
    assert load_params(TEMPLATE)["launcher"] == {"name": "local"}
    import yaml

    slurm = yaml.safe_load((TEMPLATE / "conf/launcher/slurm.yaml").read_text())
    assert sorted(slurm) == sorted(["name", *launcher.SLURM_KEYS])


@needs_slurm
def test_a_failed_shard_is_named_with_its_log_and_the_rerun_submits_only_the_missing(
    slurm_cluster, on_the_nodes, tmp_path, capfd
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


@needs_slurm
def test_the_node_check_fails_closed_naming_the_node(slurm_cluster, pinned_repo):
    params = load_params(pinned_repo)
    weights = next(p for p in (pinned_repo / "models/demo-tiny").iterdir() if p.suffix == ".safetensors")
    weights.write_bytes(weights.read_bytes()[:-1] + b"\0")
    worker = functools.partial(nodecheck.check, pinned_repo, params)
    cfg = slurm_launcher(".evalpin/slurm")
    with pytest.raises(EvalpinError) as failed:
        launcher.run(pinned_repo, cfg, [["demo_color_mc"]], worker)
    message = str(failed.value)
    assert f"shard 0 (demo_color_mc): DriftError: node {socket.gethostname()}: models/demo-tiny" in message
    assert f"{weights.name}" in message and f"log: {pinned_repo}/.evalpin/slurm/" in message
