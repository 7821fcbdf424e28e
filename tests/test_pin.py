import hashlib

import yaml
from conftest import demo_commit, dvc, evalpin, git, pin_demo, read_json


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
    proc = evalpin(
        template_repo, "pin", "evalpin/demo-tiny", "--revision", "main", "--upstream", "demo/hub", check=False
    )
    assert proc.returncode == 2
    assert "'main' is a moving ref" in proc.stderr and "--resolve" in proc.stderr
    assert not (template_repo / "models/demo-tiny.lock.json").exists()


def test_resolve_records_the_commit_the_ref_pointed_at(template_repo):
    evalpin(
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
    assert evalpin(pinned_repo, "verify", "demo-tiny").returncode == 0


def test_bad_names_are_refused(template_repo):
    proc = evalpin(
        template_repo,
        "pin",
        "evalpin/demo-tiny",
        "--revision",
        demo_commit("r1"),
        "--upstream",
        "demo/hub",
        "--name",
        "../evil",
        check=False,
    )
    assert proc.returncode == 2 and "model name '../evil'" in proc.stderr


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
    return evalpin(
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
    proc = evalpin(pinned_repo, "verify", "demo-tiny", check=False)
    assert proc.returncode == 2 and "conf/model/demo-tiny.yaml: pickle weights ['extra.pt']" in proc.stderr


def test_pin_declares_the_model_as_a_dvc_artifact_once(template_repo):
    evalpin(
        template_repo,
        "pin",
        "evalpin/demo-tiny",
        "--revision",
        demo_commit("r3"),
        "--upstream",
        "demo/hub",
        "--name",
        "tiny-r3",
    )
    dvc_yaml = (template_repo / "dvc.yaml").read_text()
    assert "tiny-r3:\n    path: models/tiny-r3\n    type: model" in dvc_yaml
    assert "# The evaluation pipeline." in dvc_yaml  # comments survive
    pin_demo(template_repo, "r3", "--name", "tiny-r3")
    assert (template_repo / "dvc.yaml").read_text() == dvc_yaml
