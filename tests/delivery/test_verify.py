import os
import shutil

import pytest
import yaml

from evalpin.base.errors import DriftError, EvalpinError
from evalpin.delivery.verify import require_verified_dataset, summarize, verify_dataset, verify_pinned
from evalpin.pinning.pin import pin_dataset
from evalpin.pinning.requests import DataPinRequest
from support import ARC_COMMIT, ARC_FIX, evalpin, evalpin_in_process, read_json, write_dataset_cache


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


def test_dataset_drift_is_missing_extra_or_changed_and_the_stat_record_skips_clean_files(template_repo):
    write_dataset_cache(template_repo / "hub")
    pin_dataset(template_repo, DataPinRequest("tests/arc", ARC_COMMIT, "arc", "hub"))
    first = verify_dataset(template_repo, "arc")[1]
    assert first.ok and first.files_rehashed == 4
    assert verify_dataset(template_repo, "arc")[1].files_rehashed == 0  # the stat fast path
    data = template_repo / "eval/data/arc"
    _flip_one_byte(data / "ARC-Easy/test-00000-of-00001.parquet")
    (data / "ARC-Easy/validation-00000-of-00001.parquet").unlink()
    (data / "extra.parquet").write_bytes(b"PAR1")
    report = verify_dataset(template_repo, "arc")[1]
    assert {(f.path, f.kind, f.role) for f in report.findings} == {
        ("extra.parquet", "extra", "data"),
        ("ARC-Easy/validation-00000-of-00001.parquet", "missing", "data"),
        ("ARC-Easy/test-00000-of-00001.parquet", "changed", "data"),
    }
    assert summarize(report.findings) == "drift in data"
    with pytest.raises(DriftError, match=r"eval/data/arc does not match eval/data/arc.lock.json"):
        require_verified_dataset(template_repo, "arc")
    assert evalpin(template_repo, "verify-data", "arc", check=False).returncode == 1


def test_unpinned_or_tampered_dataset_lock_is_refused(template_repo):
    with pytest.raises(EvalpinError, match=r"is not pinned\. Pin it: `evalpin pin-data REPO_ID"):
        verify_dataset(template_repo, "arc")
    write_dataset_cache(template_repo / "hub")
    pin_dataset(template_repo, DataPinRequest("tests/arc", ARC_COMMIT, "arc", "hub"))
    lock_file = template_repo / "eval/data/arc.lock.json"
    lock_file.write_text(lock_file.read_text().replace('"role": "data"', '"role": "weights"', 1))
    with pytest.raises(EvalpinError, match=r"role 'weights' is not a dataset role"):
        verify_dataset(template_repo, "arc")


def test_verify_records_and_stops_on_the_suites_datasets(pinned_repo):
    write_dataset_cache(pinned_repo / "hub")
    lock = pin_dataset(pinned_repo, DataPinRequest("tests/arc", ARC_COMMIT, "arc", "hub"))
    params = pinned_repo / "params.yaml"
    conf = yaml.safe_load(params.read_text())
    conf["suite"]["catalog"] = [{"task": "arc_easy", "data": "arc"}]
    params.write_text(yaml.safe_dump(conf))
    evalpin(pinned_repo, "verify", "--files-only", "--record", "eval/verified.json")
    record = read_json(pinned_repo / "eval/verified.json")["datasets"]
    assert record == {"arc": {"name": "arc", "revision": ARC_COMMIT, "lock_digest": lock.digest}}
    (pinned_repo / "eval/data/arc/README.md").write_text("---\n---\n")
    proc = evalpin(pinned_repo, "verify", "--files-only", check=False)
    assert proc.returncode == 1 and "eval/data/arc does not match" in proc.stderr + proc.stdout


def test_a_re_pinned_dataset_is_refused_until_accepted(template_repo):
    hub = template_repo / "hub"
    write_dataset_cache(hub)
    pin_dataset(template_repo, DataPinRequest("tests/arc", ARC_COMMIT, "arc", "hub"))
    conf_file = template_repo / "conf/data/arc.yaml"
    accepted = conf_file.read_text()
    fixed = write_dataset_cache(template_repo / "fix", answers=("A", "A"))  # the upstream fixes a key
    shutil.copytree(fixed, hub / "datasets--tests--arc" / "snapshots" / ARC_FIX)
    args = ("pin-data", "tests/arc", "--revision", ARC_FIX, "--name", "arc", "--upstream", "hub")
    out = evalpin_in_process(template_repo, *args).stdout
    assert "conf/data/arc.yaml still accepts the previous lock" in out
    assert conf_file.read_text() == accepted  # a re-pin never accepts itself
    with pytest.raises(DriftError, match=r"the dataset was re-pinned.*`evalpin verify-data arc --accept`"):
        require_verified_dataset(template_repo, "arc")
    assert evalpin_in_process(template_repo, "verify-data", "arc", check=False).returncode == 1
    out = evalpin_in_process(template_repo, "verify-data", "arc", "--accept").stdout
    assert f"conf/data/arc.yaml now accepts commit {ARC_FIX}" in out
    assert require_verified_dataset(template_repo, "arc").source.revision == ARC_FIX
    conf = yaml.safe_load(conf_file.read_text())
    conf_file.write_text(yaml.safe_dump({k: v for k, v in conf.items() if k != "lock_digest"}))
    with pytest.raises(DriftError, match=r"conf/data/arc.yaml has no field 'lock_digest'.*--accept"):
        require_verified_dataset(template_repo, "arc")  # never accepted by default
    conf_file.write_text("")
    with pytest.raises(DriftError, match=r"conf/data/arc.yaml is missing or empty"):
        require_verified_dataset(template_repo, "arc")


@pytest.mark.parametrize(
    ("field", "value"), [("revision", "f" * 40), ("repo_id", "someone/else"), ("revision", "main")]
)
def test_a_model_conf_naming_another_revision_or_repo_than_its_lock_is_refused(pinned_repo, field, value):
    """Else the pipeline, verify and release would record a revision that was never evaluated."""
    conf = pinned_repo / "conf/model/demo-tiny.yaml"
    text = yaml.safe_load(conf.read_text())
    conf.write_text(yaml.safe_dump({**text, field: value}))
    proc = evalpin_in_process(pinned_repo, "verify", "demo-tiny", "--files-only", check=False)
    assert proc.returncode == 2
    assert (
        f"conf/model/demo-tiny.yaml: field {field!r} is {value!r}, but models/demo-tiny.lock.json pins"
        in (proc.stderr)
    )
    assert f"Set `{field}: {text[field]}` in conf/model/demo-tiny.yaml" in proc.stderr


def test_params_naming_another_revision_than_the_lock_are_refused_before_evaluating(pinned_repo):
    """`dvc exp run -S model.revision=...` composes params.yaml itself: evaluate checks it with the lock."""
    from evalpin.config.compose import load_params
    from evalpin.config.params import Params
    from evalpin.evaluation.evaluate_stage import evaluate

    params = load_params(pinned_repo)
    params["model"]["revision"] = "f" * 40
    with pytest.raises(EvalpinError, match=r"params.yaml \(section model\): field 'revision' is 'fff"):
        evaluate(pinned_repo, Params.from_dict(params))
