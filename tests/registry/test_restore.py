import shutil
import sys
import time

from support import dvc, evalpin_in_process, git, killed_at
from support.outputs import output_bytes

HUB_BLOBS = "demo/hub/models--evalpin--demo-tiny/blobs"


def _forget_local_copy(repo):
    shutil.rmtree(repo / "models/demo-tiny")
    shutil.rmtree(repo / ".dvc/cache", ignore_errors=True)


def test_restore_without_remote_fetches_the_pinned_commit_and_caches_it(pinned_repo):
    _forget_local_copy(pinned_repo)
    proc = evalpin_in_process(pinned_repo, "restore", "demo-tiny")
    assert "fetched evalpin/demo-tiny@" in proc.stdout and "verified" in proc.stdout
    assert evalpin_in_process(pinned_repo, "verify", "demo-tiny", "--full").returncode == 0
    assert "up to date" in dvc(pinned_repo, "status", "models/demo-tiny.dvc").stdout
    shutil.rmtree(pinned_repo / "models/demo-tiny")
    dvc(pinned_repo, "checkout", "models/demo-tiny.dvc")  # the DVC cache holds it now
    assert evalpin_in_process(pinned_repo, "verify", "demo-tiny", "--full").returncode == 0


def test_a_remote_without_the_objects_yet_is_an_info_line_not_a_warning(pinned_repo, tmp_path):
    """Every fresh clone's first run: the team remote exists but nobody pushed this delivery yet."""
    (tmp_path / "remote").mkdir()
    dvc(pinned_repo, "remote", "add", "-d", "team", str(tmp_path / "remote"))
    _forget_local_copy(pinned_repo)
    proc = evalpin_in_process(pinned_repo, "restore", "demo-tiny")
    assert proc.stderr.splitlines() == [
        "evalpin: info: models/demo-tiny.dvc: not in the DVC remote yet (normal on a first run, before a "
        "`dvc push`); restoring from the upstream."
    ]
    assert "from the upstream, verified, cached" in proc.stdout


def test_restore_is_a_no_op_when_in_place(pinned_repo):
    assert "already in place" in evalpin_in_process(pinned_repo, "restore", "demo-tiny").stdout


def test_a_tampered_upstream_is_refused_and_nothing_lands_in_models(pinned_repo):
    _forget_local_copy(pinned_repo)
    hub = pinned_repo / "demo/hub/models--evalpin--demo-tiny"
    config = (hub / "snapshots").glob("*/tokenizer_config.json")
    blob = next(p for p in config if p.parent.name == _pinned_commit(pinned_repo)).resolve()
    blob.write_text(blob.read_text().replace("<s>", "<bos>"))
    proc = evalpin_in_process(pinned_repo, "restore", "demo-tiny", check=False)
    assert proc.returncode == 1
    assert "does not match the lock; nothing was installed" in proc.stderr
    assert "tokenizer_config.json" in proc.stderr
    assert not (pinned_repo / "models/demo-tiny").exists()


def test_local_changes_are_not_overwritten(pinned_repo):
    (pinned_repo / "models/demo-tiny/generation_config.json").write_text("{}")
    proc = evalpin_in_process(pinned_repo, "restore", "demo-tiny", check=False)
    assert proc.returncode == 1 and "Refusing to overwrite local changes" in proc.stderr
    assert (pinned_repo / "models/demo-tiny/generation_config.json").read_text() == "{}"


def _pinned_commit(repo):
    import json

    return json.loads((repo / "models/demo-tiny.lock.json").read_text())["source"]["revision"]


# Kills (issue #26 item 6): a real SIGKILL at a named point (atomic.kill_point), then the rerun.


def test_a_restore_killed_while_staging_a_pull_leaves_nothing_in_models_and_the_rerun_restores(
    pinned_repo, tmp_path
):
    evalpin_in_process(pinned_repo, "remote", "init-local", str(tmp_path / "remote"))
    dvc(pinned_repo, "push")
    _forget_local_copy(pinned_repo)
    killed_at(pinned_repo, "restore.staging", sys.executable, "-m", "evalpin", "restore", "demo-tiny")
    assert not (pinned_repo / "models/demo-tiny").exists()  # nothing unverified in models/, not even a .tmp
    assert list((pinned_repo / ".evalpin/staging").iterdir())  # the killed run's partial copy
    proc = evalpin_in_process(pinned_repo, "restore", "demo-tiny")
    assert "pulled from the DVC remote and verified" in proc.stdout
    assert "removed what an interrupted run left: .evalpin/staging/demo-tiny.evalpin-" in proc.stderr
    assert not list((pinned_repo / ".evalpin/staging").iterdir())
    assert evalpin_in_process(pinned_repo, "verify", "demo-tiny", "--full").returncode == 0


def test_a_restore_killed_before_its_dvc_commit_commits_on_the_rerun(pinned_repo):
    _forget_local_copy(pinned_repo)
    killed_at(pinned_repo, "restore.before_commit", sys.executable, "-m", "evalpin", "restore", "demo-tiny")
    assert not (pinned_repo / ".dvc/cache").exists()  # verified files in place, the cache still lacks them
    proc = evalpin_in_process(pinned_repo, "restore", "demo-tiny")
    assert "now committed to the DVC cache (an interrupted restore had not)" in proc.stdout
    shutil.rmtree(pinned_repo / "models/demo-tiny")
    dvc(pinned_repo, "checkout", "models/demo-tiny.dvc")  # the cache holds it now
    assert evalpin_in_process(pinned_repo, "verify", "demo-tiny", "--full").returncode == 0


def test_a_delivery_that_dvc_does_not_track_is_named_with_the_fix(pinned_repo):
    (pinned_repo / "models/demo-tiny.dvc").unlink()  # a pin killed before its `dvc add`
    proc = evalpin_in_process(pinned_repo, "restore", "demo-tiny", check=False)
    assert proc.returncode == 2 and "models/demo-tiny.dvc: missing" in proc.stderr
    assert "`dvc add models/demo-tiny`" in proc.stderr


def test_a_colleagues_clone_restores_the_stored_results_and_evaluates_nothing(reproduced_repo, tmp_path):
    """`evalpin restore` then `dvc repro` on a second clone re-evaluated the whole suite, though the team's
    remote held every result: the documented route restores them first."""
    remote = str(tmp_path / "remote")
    evalpin_in_process(reproduced_repo, "remote", "init-local", remote)
    dvc(reproduced_repo, "push", "--quiet")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "--quiet", str(reproduced_repo), str(clone))
    evalpin_in_process(clone, "remote", "init-local", remote)
    started = time.monotonic()
    restored = evalpin_in_process(clone, "restore").stdout
    assert "eval/results: pulled from the DVC remote: `dvc repro` reuses these results" in restored
    repro = dvc(clone, "repro")
    took = time.monotonic() - started
    assert "Stage 'evaluate' didn't change" in repro.stdout and "running" not in repro.stderr
    assert output_bytes(clone) == output_bytes(reproduced_repo)
    assert git(clone, "status", "--porcelain").stdout == ""
    print(f"second clone: restore + dvc repro in {took:.1f} s, nothing evaluated")
