"""What a pin declares beside its lock (pinning/model_conf.py): conf/model/NAME.yaml and dvc.yaml's
artifacts entry, edited in place."""

from support import demo_commit, evalpin_in_process, git, pin_demo


def test_pin_declares_the_model_as_a_dvc_artifact_once_adding_only_its_lines(template_repo):
    """pin's edit of the user's dvc.yaml is the entry's lines, nothing else: no re-indented stages,
    comments kept, so `copier update` merges cleanly. Its "next:" line selects the model."""
    pinned = evalpin_in_process(
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
    assert "next: evalpin use tiny-r3 && git add" in pinned.stdout
    diff = git(template_repo, "diff", "-U0", "dvc.yaml").stdout.splitlines()
    changed = [line for line in diff if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    assert changed == [
        "+  tiny-r3:",
        "+    path: models/tiny-r3",
        "+    type: model",
        "+    desc: evalpin/demo-tiny, pinned by commit and per-file sha256 (models/tiny-r3.lock.json)",
    ]
    dvc_yaml = (template_repo / "dvc.yaml").read_text()
    pin_demo(template_repo, "r3", "--name", "tiny-r3")
    assert (template_repo / "dvc.yaml").read_text() == dvc_yaml
