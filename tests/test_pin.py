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
