import dataclasses
import json
import shutil
from dataclasses import replace

import pytest

from evalpin.diff import diff_locks, load_lock_at, name_from_spec
from evalpin.inventory import build_lock
from evalpin.lock import LockedFile, load_lock
from evalpin.pin import DataPinRequest, pin_dataset
from evalpin.roles import DATASET, role_of
from support import ARC_COMMIT, ARC_FIX, evalpin, evalpin_in_process, git, pin_demo, write_dataset_cache


@pytest.fixture
def r1_lock(pinned_repo):
    return load_lock(pinned_repo / "models/demo-tiny.lock.json")


def _with_file(lock, path, sha="f" * 64):
    files = [f for f in lock.files if f.path != path]
    files.append(LockedFile(path, 1, sha, role_of(path)))
    return dataclasses.replace(lock, files=tuple(sorted(files, key=lambda f: f.path)))


@pytest.mark.parametrize(
    ("path", "category", "bump"),
    [
        ("model.safetensors", "weights", "minor"),
        ("tokenizer.json", "tokenizer", "minor"),
        ("chat_template.jinja", "chat template", "patch"),
        ("generation_config.json", "generation defaults", "patch"),
        ("quantize_config.json", "quantization", "minor"),
        ("modeling_x.py", "remote code", "minor"),
        ("README.md", "metadata only", "patch"),
    ],
)
def test_each_kind_of_change_is_classified_with_its_bump(r1_lock, path, category, bump):
    diff = diff_locks(r1_lock, _with_file(r1_lock, path))
    assert category in diff.categories and diff.bump == bump


def test_architecture_or_base_model_change_is_major(r1_lock):
    other_arch = dataclasses.replace(r1_lock, model_config={**r1_lock.model_config, "model_type": "mistral"})
    assert diff_locks(r1_lock, other_arch).bump == "major"
    other_base = dataclasses.replace(r1_lock, source=dataclasses.replace(r1_lock.source, repo_id="org/other"))
    assert "base model" in diff_locks(r1_lock, other_base).categories


def test_runtime_only_is_patch_and_identical_is_none(r1_lock):
    assert diff_locks(r1_lock, r1_lock).bump == "none"
    bumped = dataclasses.replace(r1_lock, runtime={**r1_lock.runtime, "torch": "9.9"})
    diff = diff_locks(r1_lock, bumped)
    assert diff.categories == ["runtime"] and diff.bump == "patch"


def test_diff_between_git_revisions_and_files(pinned_repo):
    git(pinned_repo, "tag", "demo-tiny@v1.0.0")
    pin_demo(pinned_repo, "r2")
    proc = evalpin_in_process(pinned_repo, "diff", "demo-tiny@v1.0.0", "models/demo-tiny.lock.json")
    assert "chat_template.jinja" in proc.stdout and "generation_config.json" in proc.stdout
    assert "changed: chat template, generation defaults; weights identical" in proc.stdout
    assert "suggested bump: patch" in proc.stdout
    git(pinned_repo, "add", "-A")
    git(pinned_repo, "commit", "-qm", "r2")
    pin_demo(pinned_repo, "r3")
    assert (
        "suggested bump: minor"
        in evalpin_in_process(pinned_repo, "diff", "HEAD", "models/demo-tiny.lock.json").stdout
    )


def test_bad_revision_names_what_was_expected(pinned_repo):
    proc = evalpin_in_process(pinned_repo, "diff", "nope@v9.9.9", "HEAD", check=False)
    assert proc.returncode == 2 and "neither a lock file nor a git revision" in proc.stderr


def test_name_from_gto_tags():
    assert name_from_spec("demo-tiny@v1.0.0") == "demo-tiny"
    assert name_from_spec("demo-tiny#prod#3") == "demo-tiny"
    assert name_from_spec("HEAD") is None


def test_load_lock_at_revision_is_strict(pinned_repo):
    lock = json.loads((pinned_repo / "models/demo-tiny.lock.json").read_text())
    lock["extra"] = 1
    (pinned_repo / "models/demo-tiny.lock.json").write_text(json.dumps(lock))
    git(pinned_repo, "commit", "-qam", "tampered lock")
    with pytest.raises(Exception, match="unknown field"):
        load_lock_at(pinned_repo, "HEAD", "demo-tiny")


def test_check_upstream_flags_same_name_another_delivery(pinned_repo):
    proc = evalpin_in_process(pinned_repo, "check-upstream", "demo-tiny", check=False)  # main is r3
    assert proc.returncode == 1 and "DRIFT" in proc.stdout and "model.safetensors" in proc.stdout
    proc = evalpin_in_process(pinned_repo, "check-upstream", "demo-tiny", "--ref", "r2", check=False)
    assert proc.returncode == 1
    assert "model.safetensors" not in proc.stdout and "weights identical" in proc.stdout
    proc = evalpin_in_process(pinned_repo, "check-upstream", "demo-tiny", "--ref", "r1")
    assert "serves the pinned commit" in proc.stdout


def test_quantization_or_dtype_inside_config_json_is_minor(r1_lock):
    quantized = dataclasses.replace(
        r1_lock,
        model_config={**r1_lock.model_config, "quantization_config": {"quant_method": "gptq", "bits": 4}},
    )
    diff = diff_locks(r1_lock, quantized)
    assert diff.bump == "minor" and "quantization" in diff.categories
    half = dataclasses.replace(r1_lock, model_config={**r1_lock.model_config, "dtype": "bfloat16"})
    assert diff_locks(r1_lock, half).bump == "minor"


def test_check_upstream_of_a_hub_pin_offline_says_how_to_ask(pinned_repo):
    lock_file = pinned_repo / "models/demo-tiny.lock.json"
    lock = json.loads(lock_file.read_text())
    lock["source"]["upstream"] = None  # pinned from the Hub itself
    lock_file.write_text(json.dumps(lock))
    proc = evalpin_in_process(pinned_repo, "check-upstream", "demo-tiny", check=False)
    assert proc.returncode == 2
    assert "evalpin/demo-tiny on the Hugging Face Hub: the Hub is unreachable in offline mode" in proc.stderr
    assert "HF_HUB_OFFLINE=0" in proc.stderr and "--upstream DIR" in proc.stderr
    assert "file system" not in proc.stderr
    proc = evalpin_in_process(
        pinned_repo, "check-upstream", "demo-tiny", "--ref", "r1", "--upstream", "demo/hub"
    )
    assert "serves the pinned commit" in proc.stdout


def test_check_upstream_and_diff_on_a_dataset_lock_name_the_fixed_answer_keys(template_repo):
    write_dataset_cache(template_repo / "hub")
    pin_dataset(template_repo, DataPinRequest("tests/arc", ARC_COMMIT, "arc", "hub", include=("*/test-*",)))
    hub = template_repo / "hub/datasets--tests--arc"
    fixed = hub / "snapshots" / ARC_FIX
    shutil.copytree(write_dataset_cache(template_repo / "fix", answers=("A", "A")), fixed)
    (hub / "refs/main").write_text(ARC_FIX)
    proc = evalpin(template_repo, "check-upstream", "arc", "--dataset", check=False)
    assert proc.returncode == 1, proc.stderr
    assert f"tests/arc main -> {ARC_FIX}: DRIFT" in proc.stdout
    assert "ARC-Easy/test-00000-of-00001.parquet  data" in proc.stdout  # train/validation: not pinned
    assert "validation" not in proc.stdout and "suggested bump: major" in proc.stdout
    old = load_lock(template_repo / "eval/data/arc.lock.json")
    new = build_lock(fixed, "arc", old.source, kind=DATASET)
    diff = diff_locks(old, replace(new, files=tuple(f for f in new.files if f.path in old.by_path())))
    assert diff.categories == ["data"] and not diff.weights_identical and diff.bump == "major"
