import os

import pytest
from conftest import evalpin_in_process, read_json

from evalpin.verify import summarize, verify_pinned


def test_clean_delivery_verifies(pinned_repo):
    proc = evalpin_in_process(pinned_repo, "verify", "demo-tiny", "--full")
    assert "verified 6 files" in proc.stdout


def _flip_one_byte(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    ("target", "role"),
    [
        ("tokenizer_config.json", "tokenizer"),
        ("model.safetensors", "weights"),
        ("chat_template.jinja", "chat_template"),
        ("generation_config.json", "generation_config"),
    ],
)
def test_one_changed_byte_is_drift_naming_file_and_role(pinned_repo, target, role):
    _flip_one_byte(pinned_repo / "models/demo-tiny" / target)
    proc = evalpin_in_process(pinned_repo, "verify", "demo-tiny", check=False)
    assert proc.returncode == 1
    row = next(line for line in proc.stderr.splitlines() if line.startswith(target))
    assert role in row and "changed" in row


def test_missing_extra_and_resized_files_are_drift(pinned_repo):
    model = pinned_repo / "models/demo-tiny"
    (model / "generation_config.json").unlink()
    (model / "special_tokens_map.json").write_text("{}")
    with open(model / "tokenizer.json", "a") as fh:
        fh.write(" ")
    _, report = verify_pinned(pinned_repo, "demo-tiny")
    kinds = {(f.path, f.kind) for f in report.findings}
    assert kinds == {
        ("generation_config.json", "missing"),
        ("special_tokens_map.json", "extra"),
        ("tokenizer.json", "resized"),
    }
    assert evalpin_in_process(pinned_repo, "verify", "demo-tiny", check=False).returncode == 1


def test_summary_says_what_kind_of_change(pinned_repo):
    for name in ("chat_template.jinja", "generation_config.json"):
        _flip_one_byte(pinned_repo / "models/demo-tiny" / name)
    _, report = verify_pinned(pinned_repo, "demo-tiny")
    assert summarize(report.findings) == (
        "drift in chat template and generation defaults; weights identical (same weights, another delivery)"
    )


def test_unchanged_files_are_not_rehashed_but_a_rewrite_is_caught_despite_reset_mtime(pinned_repo):
    evalpin_in_process(pinned_repo, "verify", "demo-tiny", "--full")
    _, report = verify_pinned(pinned_repo, "demo-tiny")
    assert report.ok and report.files_rehashed == 0
    target = pinned_repo / "models/demo-tiny/model.safetensors"
    before = target.stat()
    _flip_one_byte(target)  # same size
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))  # hide it from mtime
    _, report = verify_pinned(pinned_repo, "demo-tiny")
    assert [(f.path, f.kind) for f in report.findings] == [("model.safetensors", "changed")]


def test_full_ignores_the_stat_record(pinned_repo):
    evalpin_in_process(pinned_repo, "verify", "demo-tiny")
    assert verify_pinned(pinned_repo, "demo-tiny", full=True)[1].files_rehashed == 6


def test_record_is_stable(pinned_repo):
    evalpin_in_process(pinned_repo, "verify", "demo-tiny", "--record", "eval/verified.json")
    first = (pinned_repo / "eval/verified.json").read_text()
    evalpin_in_process(pinned_repo, "verify", "demo-tiny", "--full", "--record", "eval/verified.json")
    assert (pinned_repo / "eval/verified.json").read_text() == first
    assert read_json(pinned_repo / "eval/verified.json")["files"] == 6


def test_runtime_drift_warns_by_default_and_fails_with_strict(pinned_repo):
    lock_path = pinned_repo / "models/demo-tiny.lock.json"
    lock = read_json(lock_path)
    lock["runtime"]["transformers"] = "0.0.1"
    import json

    lock_path.write_text(json.dumps(lock))
    proc = evalpin_in_process(pinned_repo, "verify", "demo-tiny")
    assert "warning: runtime transformers is" in proc.stderr and "0.0.1" in proc.stderr
    assert evalpin_in_process(pinned_repo, "verify", "demo-tiny", "--strict", check=False).returncode == 2


def test_corrupt_lock_is_a_config_error_naming_the_file(pinned_repo):
    (pinned_repo / "models/demo-tiny.lock.json").write_text("{not json")
    proc = evalpin_in_process(pinned_repo, "verify", "demo-tiny", check=False)
    assert proc.returncode == 2 and "demo-tiny.lock.json: not valid JSON" in proc.stderr
