import hashlib
import os
import re
import shutil
import subprocess
import sys
from dataclasses import replace

import pytest
import yaml

from evalpin.base.errors import EvalpinError
from evalpin.delivery.lock import parse_lock
from evalpin.delivery.safetensors_file import check_weights, header_problem
from evalpin.delivery.sources import portable_local_dir
from evalpin.delivery.verify import verify_dataset
from evalpin.pinning.pin import pin_dataset
from evalpin.pinning.requests import DataPinRequest
from support import (
    ARC_COMMIT,
    TEMPLATE,
    demo_commit,
    dvc,
    evalpin,
    evalpin_in_process,
    git,
    killed_at,
    pin_demo,
    read_json,
    subprocess_env,
    write_dataset_cache,
)


def test_pin_copies_locks_and_tracks_the_delivery(pinned_repo):
    lock = read_json(pinned_repo / "models/demo-tiny.lock.json")
    assert lock["source"] == {
        "repo_id": "evalpin/demo-tiny",
        "revision": demo_commit("r1"),
        "requested": None,
        "tokenizer_revision": None,
        "upstream": "demo/hub",
    }
    model = pinned_repo / "models/demo-tiny"
    assert {f["path"] for f in lock["files"]} == {p.name for p in model.iterdir()}
    for f in lock["files"]:
        data = (model / f["path"]).read_bytes()
        assert (len(data), hashlib.sha256(data).hexdigest()) == (f["size"], f["sha256"])
    conf = yaml.safe_load((pinned_repo / "conf/model/demo-tiny.yaml").read_text())
    assert conf["revision"] == demo_commit("r1")
    assert conf["trust_remote_code"] is False and conf["allow_pickle"] is False
    assert (pinned_repo / "models/demo-tiny.dvc").is_file()
    assert "/demo-tiny" in (pinned_repo / "models/.gitignore").read_text()
    assert "demo-tiny" not in git(pinned_repo, "ls-files", "models/demo-tiny").stdout
    assert "up to date" in dvc(pinned_repo, "status", "models/demo-tiny.dvc").stdout


def test_a_branch_name_is_refused_without_resolve(template_repo):
    proc = evalpin_in_process(
        template_repo, "pin", "evalpin/demo-tiny", "--revision", "main", "--upstream", "demo/hub", check=False
    )
    assert proc.returncode == 2
    assert "'main' is a moving ref" in proc.stderr and "--resolve" in proc.stderr
    assert not (template_repo / "models/demo-tiny.lock.json").exists()


def test_resolve_records_the_commit_the_ref_pointed_at(template_repo):
    evalpin_in_process(
        template_repo,
        "pin",
        "evalpin/demo-tiny",
        "--revision",
        "main",
        "--upstream",
        "demo/hub",
        "--resolve",
        "--name",
        "tiny-main",
    )
    source = read_json(template_repo / "models/tiny-main.lock.json")["source"]
    assert source["revision"] == demo_commit("r3")
    assert source["requested"] == "main"


def test_repin_replaces_the_delivery_and_the_old_one_stays_in_the_cache(pinned_repo):
    old_dvc = (pinned_repo / "models/demo-tiny.dvc").read_text()
    pin_demo(pinned_repo, "r2")
    assert (pinned_repo / "models/demo-tiny.dvc").read_text() != old_dvc
    git(pinned_repo, "checkout", "-q", "--", "models/demo-tiny.dvc")
    dvc(pinned_repo, "checkout", "--force", "models/demo-tiny.dvc")
    git(pinned_repo, "checkout", "-q", "--", "models/demo-tiny.lock.json")
    assert (
        "conf/model/demo-tiny.yaml: field 'revision'"
        in evalpin_in_process(pinned_repo, "verify", "demo-tiny", check=False).stderr
    )  # the conf still names r2: the rollback takes it back too
    git(pinned_repo, "checkout", "-q", "--", "conf/model/demo-tiny.yaml")
    assert evalpin_in_process(pinned_repo, "verify", "demo-tiny").returncode == 0


def test_bad_names_are_refused(template_repo):
    proc = pin_demo(template_repo, "r1", "--name", "../evil", check=False)
    assert proc.returncode == 2 and "name '../evil'" in proc.stderr


@pytest.mark.parametrize("repo_id", ["../../etc", "/etc", "org/../x", "org/a/b", "org--x/y", ""])
@pytest.mark.parametrize("command", ["pin", "pin-data"])
def test_a_repo_id_that_is_no_hub_id_is_refused_before_any_hub_call(tmp_path, command, repo_id):
    """`pin ../../etc` was huggingface_hub's HFValidationError traceback."""
    proc = evalpin_in_process(tmp_path, command, repo_id, "--revision", "0" * 40, check=False)
    assert proc.returncode == 2 and f"repo id {repo_id!r}: expected ORG/NAME" in proc.stderr


def _safetensors(tensors: int = 2) -> bytes:
    """A valid safetensors file: `tensors` float32 vectors of 4 values."""
    import numpy as np
    from safetensors.numpy import save

    return save({f"w{i}": np.zeros(4, dtype=np.float32) for i in range(tensors)})


@pytest.mark.parametrize(
    ("weights", "problem"),
    [
        (b"", "0 bytes"),
        (b"\x10\x00", "2 bytes, shorter than the 8-byte header length"),
        (_safetensors()[:-5], "incomplete metadata"),  # truncated: the tensors outrun the file
        (b"\xff" * 8 + b"{}", "header"),  # a header length beyond the file
        (b"\x02\x00\x00\x00\x00\x00\x00\x00[]", "header"),  # JSON, but not an object
        (_safetensors(), None),
    ],
)
def test_a_safetensors_header_must_parse(tmp_path, weights, problem):
    (tmp_path / "model.safetensors").write_bytes(weights)
    if problem is None:
        check_weights(tmp_path, ["model.safetensors"], "models/x", "fix")
        return
    with pytest.raises(EvalpinError, match=r"^models/x/model.safetensors: not a valid safetensors file"):
        check_weights(tmp_path, ["model.safetensors", "config.json"], "models/x", "fix")
    assert problem in header_problem(tmp_path / "model.safetensors")


@pytest.mark.parametrize(
    ("index", "problem"),
    [
        (
            '{"weight_map": {"w0": "model-00002-of-00002.safetensors"}}',
            "field 'weight_map' names shard(s) ['model-00002",
        ),
        ('{"metadata": {}}', "field 'weight_map' is not an object"),
        ("{", "not a valid shard index"),
    ],
)
def test_a_shard_index_must_name_delivered_shards(tmp_path, index, problem):
    (tmp_path / "model-00001-of-00002.safetensors").write_bytes(_safetensors())
    (tmp_path / "model.safetensors.index.json").write_text(index)
    paths = ["model-00001-of-00002.safetensors", "model.safetensors.index.json"]
    with pytest.raises(EvalpinError, match=rf"^models/x/model.safetensors.index.json: {re.escape(problem)}"):
        check_weights(tmp_path, paths, "models/x", "fix")


def test_a_safetensors_file_that_does_not_parse_is_refused_by_pin(pinned_repo):
    """A 0-byte model.safetensors pinned and verified, then crashed evaluate."""
    commit = _fake_upstream(pinned_repo, {"config.json": b"{}", "model.safetensors": b""})
    proc = _pin_odd(pinned_repo, commit)
    assert proc.returncode == 2 and "model.safetensors: not a valid safetensors file (0 bytes" in proc.stderr
    assert "fetch the commit again" in proc.stderr
    assert not (pinned_repo / "models/odd").exists()


def test_verify_refuses_a_locked_safetensors_file_that_does_not_parse(pinned_repo):
    """A delivery pinned broken (before pin checked headers) matches its lock, and must still fail."""
    import json

    weights = pinned_repo / "models/demo-tiny/model.safetensors"
    weights.unlink()
    weights.write_bytes(b"")
    lock_path = pinned_repo / "models/demo-tiny.lock.json"
    lock = json.loads(lock_path.read_text())
    entry = next(f for f in lock["files"] if f["path"] == "model.safetensors")
    entry.update(size=0, sha256=hashlib.sha256(b"").hexdigest())
    lock_path.write_text(json.dumps(lock))
    proc = evalpin_in_process(pinned_repo, "verify", "demo-tiny", "--files-only", check=False)
    assert proc.returncode == 2, proc.stderr
    assert "models/demo-tiny/model.safetensors: not a valid safetensors file (0 bytes" in proc.stderr
    assert "re-pin it from a complete download (`evalpin pin evalpin/demo-tiny --revision" in proc.stderr


def _fake_upstream(repo, files: dict[str, bytes]) -> str:
    """A one-commit huggingface_hub cache under demo/, laid out as the Hub's cache is."""
    import hashlib

    commit = hashlib.sha1(repr(sorted(files)).encode()).hexdigest()
    cache = repo / "demo/other/models--org--odd"
    for name, data in files.items():
        blob = cache / "blobs" / hashlib.sha256(data).hexdigest()
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(data)
        link = cache / "snapshots" / commit / name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(f"../../blobs/{blob.name}")
    (cache / "refs").mkdir(exist_ok=True)
    (cache / "refs/main").write_text(commit)
    return commit


def _pin_odd(repo, commit, *extra):
    return evalpin_in_process(
        repo,
        "pin",
        "org/odd",
        "--revision",
        commit,
        "--upstream",
        "demo/other",
        "--name",
        "odd",
        *extra,
        check=False,
    )


def test_pickle_weights_are_refused_unless_allowed(template_repo):
    commit = _fake_upstream(template_repo, {"config.json": b"{}", "pytorch_model.bin": b"\x80\x04pickle"})
    proc = _pin_odd(template_repo, commit)
    assert proc.returncode == 2 and "pickle weights ['pytorch_model.bin']" in proc.stderr
    assert not (template_repo / "models/odd").exists()


def test_remote_code_is_refused_unless_trusted(template_repo):
    commit = _fake_upstream(template_repo, {"config.json": b"{}", "modeling_odd.py": b"import os\n"})
    proc = _pin_odd(template_repo, commit)
    assert proc.returncode == 2 and "remote code ['modeling_odd.py']" in proc.stderr
    assert not (template_repo / "models/odd.lock.json").exists()


def test_a_snapshot_symlink_leaving_the_cache_is_refused(template_repo):
    commit = _fake_upstream(template_repo, {"config.json": b"{}"})
    evil = template_repo / "demo/other/models--org--odd/snapshots" / commit / "tokenizer.json"
    evil.symlink_to("/etc/hostname")
    proc = _pin_odd(template_repo, commit)
    assert proc.returncode == 2 and "symlink leaves" in proc.stderr


def test_verify_refuses_a_lock_with_pickle_when_conf_forbids_it(pinned_repo):
    import json

    lock_path = pinned_repo / "models/demo-tiny.lock.json"
    lock = json.loads(lock_path.read_text())
    lock["files"].append({"path": "extra.pt", "size": 1, "sha256": "0" * 64, "role": "weights"})
    lock_path.write_text(json.dumps(lock))
    proc = evalpin_in_process(pinned_repo, "verify", "demo-tiny", check=False)
    assert proc.returncode == 2 and "conf/model/demo-tiny.yaml: pickle weights ['extra.pt']" in proc.stderr


def _local_download(repo, ref: str, metadata: bool = True):
    """What `hf download evalpin/demo-tiny --revision COMMIT --local-dir DIR` leaves: plain files, plus
    huggingface_hub's per-file record of the commit and the hub's etag (written by its own function)."""
    from huggingface_hub._local_folder import write_download_metadata

    snapshot = TEMPLATE / "demo/hub/models--evalpin--demo-tiny/snapshots" / demo_commit(ref)
    local = repo / "downloads" / "demo-tiny"
    local.mkdir(parents=True)
    for entry in sorted(snapshot.iterdir()):
        (local / entry.name).write_bytes(entry.read_bytes())
        if metadata:  # the demo's blobs are named by their etag, as in a real hub cache
            etag = os.path.basename(os.readlink(entry))
            write_download_metadata(local, entry.name, demo_commit(ref), etag)
    return local


def _pin_local(repo, ref: str, *extra: str, check: bool = False):
    return evalpin(
        repo,
        *("pin", "evalpin/demo-tiny", "--revision", demo_commit(ref), "--name", "from-dir"),
        *("--local-dir", "downloads/demo-tiny", *extra),
        check=check,
    )


def test_pin_from_a_local_download_proves_the_commit_and_locks_the_same_bytes(template_repo):
    _local_download(template_repo, "r1")
    proc = _pin_local(template_repo, "r1", check=True)
    assert "commit proven by huggingface_hub's download metadata" in proc.stdout
    lock = read_json(template_repo / "models/from-dir.lock.json")
    assert lock["source"]["local_dir"] == "downloads/demo-tiny"
    assert lock["source"]["provenance"] == "download-metadata"
    assert not any(".cache" in f["path"] for f in lock["files"])  # huggingface_hub's bookkeeping
    pin_demo(template_repo, "r1")  # the same commit through the hub cache locks the same files
    same = read_json(template_repo / "models/demo-tiny.lock.json")["files"]
    assert lock["files"] == same
    assert evalpin_in_process(template_repo, "verify", "from-dir").returncode == 0


def test_a_local_directory_that_is_not_the_claimed_commit_is_refused(template_repo):
    local = _local_download(template_repo, "r1")
    proc = _pin_local(template_repo, "r2")  # claims r2, holds r1's download records
    assert proc.returncode == 2 and f"downloaded from commit {demo_commit('r1')}" in proc.stderr
    config = local / "config.json"
    stat = config.stat()
    config.write_bytes(config.read_bytes() + b" ")  # edited after download, mtime set back to hide it
    os.utime(config, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    proc = _pin_local(template_repo, "r1")
    assert proc.returncode == 2 and "config.json: its bytes do not match the hash the hub" in proc.stderr
    assert not (template_repo / "models/from-dir").exists()


def test_a_local_directory_without_metadata_needs_unverified_origin(template_repo):
    _local_download(template_repo, "r1", metadata=False)
    proc = _pin_local(template_repo, "r1")
    assert (
        proc.returncode == 2 and "nothing here proves" in proc.stderr and "--unverified-origin" in proc.stderr
    )
    proc = _pin_local(template_repo, "r1", "--unverified-origin", check=True)
    assert "commit asserted" in proc.stdout
    assert read_json(template_repo / "models/from-dir.lock.json")["source"]["provenance"] == "asserted"
    verified = evalpin_in_process(template_repo, "verify", "from-dir").stdout  # the assertion stays visible
    assert (
        "origin: commit asserted, not proven (pinned from a local directory with --unverified-origin)"
        in verified
    )
    shutil.rmtree(template_repo / "models/from-dir")
    assert (
        "fetched" in evalpin_in_process(template_repo, "restore", "from-dir").stdout
    )  # from the directory again


def test_a_lock_records_no_machine_path_for_a_local_directory(tmp_path):
    """--local-dir /home/alice/downloads/x was written into the git-tracked lock as given."""
    root = tmp_path / "repo"
    (root / "downloads/demo-tiny").mkdir(parents=True)
    assert portable_local_dir(root, str(root / "downloads/demo-tiny")) == "downloads/demo-tiny"
    assert portable_local_dir(root, "downloads/demo-tiny") == "downloads/demo-tiny"
    assert portable_local_dir(root, str(tmp_path / "elsewhere/SmolLM2")) == "SmolLM2"
    assert portable_local_dir(root, None) is None


# Datasets: a pinned delivery like a model, under eval/data/NAME with a dataset's roles.


def pin_arc(repo, *extra, check=True):
    write_dataset_cache(repo / "hub")
    return evalpin(
        repo,
        "pin-data",
        "tests/arc",
        "--revision",
        ARC_COMMIT,
        "--upstream",
        "hub",
        "--name",
        "arc",
        *extra,
        check=check,
    )


def test_pin_data_locks_a_dataset_from_a_hub_cache(template_repo):
    out = pin_arc(template_repo, "--include", "ARC-Easy/test-*").stdout
    assert "pinned dataset tests/arc@" in out
    lock_file = template_repo / "eval/data/arc.lock.json"
    lock = read_json(lock_file)
    assert lock["kind"] == "dataset" and lock["source"]["repo_type"] == "dataset"
    assert {f["path"]: f["role"] for f in lock["files"]} == {
        "ARC-Easy/test-00000-of-00001.parquet": "data",
        "README.md": "card",
    }
    assert parse_lock(lock, "x").to_json() == lock_file.read_text()  # reads back byte-identical
    assert (template_repo / "eval/data/arc.dvc").is_file()
    conf = yaml.safe_load((template_repo / "conf/data/arc.yaml").read_text())
    assert conf["revision"] == ARC_COMMIT and conf["trust_loading_script"] is False
    assert evalpin(template_repo, "verify-data").returncode == 0


def test_pin_data_refuses_moving_refs_clashes_scripts_and_empty_selections(template_repo):
    write_dataset_cache(template_repo / "hub")
    base = DataPinRequest("tests/arc", ARC_COMMIT, "arc", "hub")
    with pytest.raises(EvalpinError, match="moving ref"):
        pin_dataset(template_repo, replace(base, revision="main"))
    with pytest.raises(EvalpinError, match="matches no data file"):
        pin_dataset(template_repo, replace(base, include=("ARC-Challenge/*",)))
    (template_repo / "models").mkdir(exist_ok=True)
    (template_repo / "models/arc.lock.json").write_text("{}")
    with pytest.raises(EvalpinError, match="a model is pinned under that name"):
        pin_dataset(template_repo, base)
    (template_repo / "models/arc.lock.json").unlink()
    (template_repo / "hub/datasets--tests--arc/snapshots" / ARC_COMMIT / "arc.py").write_text("import os\n")
    with pytest.raises(EvalpinError, match=r"loading script\(s\) \['arc.py'\].*--trust-loading-script"):
        pin_dataset(template_repo, base)
    assert not (template_repo / "eval/data/arc").exists()
    lock = pin_dataset(template_repo, replace(base, revision="main", resolve=True, trust_loading_script=True))
    assert lock.source.revision == ARC_COMMIT and lock.source.requested == "main"
    assert lock.by_path()["arc.py"].role == "loading_script"
    conf = template_repo / "conf/data/arc.yaml"
    conf.write_text(conf.read_text().replace("trust_loading_script: true", "trust_loading_script: false"))
    with pytest.raises(EvalpinError, match="loading script"):
        verify_dataset(template_repo, "arc")


def test_pin_data_from_a_plain_directory_records_an_asserted_commit(template_repo):
    snapshot = write_dataset_cache(template_repo / "hub")
    shutil.copytree(snapshot, template_repo / "incoming")
    request = DataPinRequest("tests/arc", ARC_COMMIT, "arc", None, local_dir="incoming")
    with pytest.raises(EvalpinError, match="no huggingface_hub download metadata"):
        pin_dataset(template_repo, request)
    assert not (template_repo / "incoming/.cache").exists()  # the check took no lock files
    locks = template_repo / "incoming/.cache/huggingface/download"
    locks.mkdir(parents=True)
    (locks / "README.md.lock").touch()  # what an interrupted `hf download` leaves
    with pytest.raises(EvalpinError, match=r"download/ holds only 1 \.lock file\(s\), no \.metadata"):
        pin_dataset(template_repo, request)
    lock = pin_dataset(template_repo, replace(request, unverified_origin=True))
    assert lock.source.provenance == "asserted" and lock.source.local_dir == "incoming"
    assert len(lock.files) == 4


def test_a_first_pin_data_killed_after_its_lock_is_completed_by_the_rerun(template_repo):
    """Issue #26 item 6: killed once the files and the lock landed but not conf/data, the rerun is still the
    first pin (no `verify-data --accept` to ask for) and ends tracked by DVC. (Killed earlier, no lock
    exists and the rerun is a first pin anyway; later, conf/data already accepts the digest.)"""
    write_dataset_cache(template_repo / "hub")
    args = ("pin-data", "tests/arc", "--revision", ARC_COMMIT, "--upstream", "hub", "--name", "arc")
    killed_at(template_repo, "pin_data.locked", sys.executable, "-m", "evalpin", *args)
    assert not (template_repo / "eval/data/arc.dvc").exists()
    proc = evalpin_in_process(template_repo, *args)
    assert "re-pinned" not in proc.stdout and (template_repo / "eval/data/arc.dvc").is_file()
    assert evalpin_in_process(template_repo, "verify-data").returncode == 0


def test_two_pins_of_one_name_are_serialized(pinned_repo):
    """While one writer holds models/demo-tiny's lock, a second pin waits, writes nothing, then pins whole:
    never r3 files under an r1 lock."""
    from evalpin.base.exclusive import exclusive
    from evalpin.delivery.verify import verify_pinned

    args = ["pin", "evalpin/demo-tiny", "--revision", demo_commit("r3"), "--upstream", "demo/hub"]
    before = (pinned_repo / "models/demo-tiny.lock.json").read_text()
    with exclusive(pinned_repo, "demo-tiny", "test"):
        second = subprocess.Popen(
            [sys.executable, "-m", "evalpin", *args],
            cwd=pinned_repo,
            env=subprocess_env(pinned_repo),
            stderr=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert "waiting for another evalpin that writes 'demo-tiny'" in second.stderr.readline()
        assert (pinned_repo / "models/demo-tiny.lock.json").read_text() == before
    _, err = second.communicate(timeout=120)
    assert second.returncode == 0, err
    lock, report = verify_pinned(pinned_repo, "demo-tiny", full=True)
    assert lock.source.revision == demo_commit("r3") and report.ok
