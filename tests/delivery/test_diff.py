import dataclasses
import json
import shutil
from dataclasses import replace

import pytest

from evalpin.delivery.diff import diff_locks, load_lock_at, name_from_spec
from evalpin.delivery.inventory import build_lock
from evalpin.delivery.lock import LockedFile, Source, load_lock
from evalpin.delivery.roles import DATASET, role_of
from evalpin.pinning.pin import pin_dataset
from evalpin.pinning.requests import DataPinRequest
from support import (
    ARC_COMMIT,
    ARC_FIX,
    evalpin,
    evalpin_in_process,
    git,
    pin_demo,
    read_json,
    write_dataset_cache,
)


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
    # re-pinned whole: train and validation join ARC-Easy, which no task of this suite (demo) reads
    git(template_repo, "add", "-A")
    git(template_repo, "commit", "-qm", "arc, test split")
    pin_dataset(template_repo, DataPinRequest("tests/arc", ARC_COMMIT, "arc", "hub"))
    out = evalpin_in_process(
        template_repo, "diff", "--dataset", "arc", "HEAD", "eval/data/arc.lock.json"
    ).stdout
    assert "ARC-Easy/train-00000-of-00001.parquet" in out and "added" in out
    assert "changed: data no suite task reads" in out and "suggested bump: patch" in out


# A dataset's card decides what loads: its header's configs/data_files/features are data, its prose is not.
CARD = (
    "---\nlicense: cc-by-sa-4.0\nconfigs:\n- config_name: ARC-Easy\n  data_files:\n"
    "  - split: test\n    path: ARC-Easy/test-*\n- config_name: ARC-Challenge\n  data_files:\n"
    "  - split: test\n    path: ARC-Challenge/test-*\n---\n# ARC\nA card.\n"
)
SNAPSHOT = {"README.md": CARD, "ARC-Easy/test-00000-of-00001.parquet": "easy"}


def _dataset_lock(tmp_path, name: str, files: dict[str, str], loading: bool = True):
    snapshot = tmp_path / name
    for path, text in files.items():
        (snapshot / path).parent.mkdir(parents=True, exist_ok=True)
        (snapshot / path).write_text(text)
    source = Source("tests/arc", ARC_COMMIT, None, None, "hub", repo_type=DATASET)
    lock = build_lock(snapshot, "arc", source, kind=DATASET)
    return lock if loading else replace(lock, loading=None)  # as pinned before locks recorded `loading`


@pytest.mark.parametrize(
    ("edit", "reads", "category", "bump"),
    [
        ({"README.md": CARD.replace("A card.", "A better card.")}, None, "dataset card", "patch"),
        ({"README.md": CARD.replace("cc-by-sa-4.0", "mit")}, None, "dataset card", "patch"),
        ({"README.md": CARD.replace("ARC-Easy/test-*", "ARC-Easy/*")}, None, "what the card loads", "major"),
        (
            {"README.md": CARD.replace("configs:", "dataset_info:\n  features: []\nconfigs:")},
            None,
            "what the card loads",
            "major",
        ),
        ({"dataset_infos.json": "{}"}, None, "what the card loads", "major"),
        (
            {"ARC-Challenge/test-00000-of-00001.parquet": "new"},
            {"ARC-Easy"},
            "data no suite task reads",
            "patch",
        ),
        ({"ARC-Challenge/test-00000-of-00001.parquet": "new"}, set(), "data no suite task reads", "patch"),
        ({"ARC-Challenge/test-00000-of-00001.parquet": "new"}, None, "data", "major"),  # the suite unknown
        ({"ARC-Easy/test-00001-of-00002.parquet": "more"}, {"ARC-Easy"}, "data", "major"),
        ({"extra/notes.parquet": "x"}, None, "data no suite task reads", "patch"),  # no config matches it
        ({"ARC-Easy/test-00000-of-00001.parquet": "fixed"}, set(), "data", "major"),  # changed: still data
    ],
)
def test_a_dataset_change_is_classified_by_what_loads_and_what_the_suite_reads(
    tmp_path, edit, reads, category, bump
):
    before = _dataset_lock(tmp_path, "a", SNAPSHOT)
    after = _dataset_lock(tmp_path, "b", {**SNAPSHOT, **edit})
    diff = diff_locks(before, after, reads=reads)
    assert diff.categories[0].startswith(category) and diff.bump == bump, diff.categories


def test_a_card_change_that_cannot_be_proven_prose_only_is_a_data_change(tmp_path):
    """A lock made before locks recorded what the card loads cannot tell a prose edit from new configs."""
    before = _dataset_lock(tmp_path, "a", SNAPSHOT, loading=False)
    after = _dataset_lock(tmp_path, "b", {**SNAPSHOT, "README.md": CARD + "more prose\n"})
    assert diff_locks(before, after).bump == "major"
    assert diff_locks(before, before).bump == "none"
    (tmp_path / "arc.lock.json").write_text(after.to_json())
    assert read_json(tmp_path / "arc.lock.json")["loading"]["configs"]["ARC-Easy"] == ["ARC-Easy/test-*"]
    assert load_lock_at(tmp_path, "arc.lock.json", "arc", dataset=True) == after
