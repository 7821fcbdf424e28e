"""What `evalpin verify` and `verify-data` decide, step by step, and the record verify leaves
(pinning/verify_stage.py), asked directly rather than through argv. Drift kinds, the stat record, --strict
and --record through the CLI are tests/delivery/test_verify.py; the golden renderings (golden,
golden_problem) tests/delivery/test_golden.py; adapters tests/delivery/test_adapter.py; verify
--signatures tests/signing/test_signing.py."""

import json
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from evalpin.base.errors import EvalpinError, ExitCode
from evalpin.delivery.lock import load_lock
from evalpin.delivery.verify import verify_pinned
from evalpin.pinning.pin import pin_dataset
from evalpin.pinning.requests import DataPinRequest
from evalpin.pinning.verify_stage import (
    Check,
    VerifyRequest,
    check_signatures,
    judge,
    pinned_datasets,
    verified_record,
    verify_datasets,
    verify_model,
)
from support import ARC_COMMIT, build_demo_lock, read_json, write_dataset_cache

RECORD = Path("eval/verified.json")
FILES_ONLY = VerifyRequest(files_only=True, record=RECORD)  # no transformers import: the golden check is
# tests/delivery/test_golden.py's


def _flip_one_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def _pin_arc(repo: Path, *names: str) -> None:
    """The tests' ARC dataset pinned under each NAME, and the suite's catalog reading the first."""
    write_dataset_cache(repo / "hub")
    for name in names:
        pin_dataset(repo, DataPinRequest("tests/arc", ARC_COMMIT, name, "hub"))
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["suite"]["catalog"] = [{"task": "arc_easy", "data": names[0]}]
    (repo / "params.yaml").write_text(yaml.safe_dump(params))


def test_a_clean_model_verifies_then_its_policy_then_the_suites_datasets_then_the_record(pinned_repo):
    checks = list(verify_model(pinned_repo, "demo-tiny", FILES_ONLY))
    lock = verify_pinned(pinned_repo, "demo-tiny")[0]
    assert checks == [
        Check(
            out=(
                "models/demo-tiny: verified 6 files against models/demo-tiny.lock.json "
                f"(6 re-hashed, commit {lock.source.revision[:12]})",
            )
        ),
        Check(),  # conf/signing/ requires nothing by default
        Check(),  # the demo suite reads no pinned dataset
    ]
    text = (pinned_repo / RECORD).read_text()
    assert json.loads(text) == {
        "model": "demo-tiny",
        "revision": lock.source.revision,
        "lock_digest": lock.digest,
        "files": 6,
    }
    assert text == json.dumps(json.loads(text), indent=2, sort_keys=True) + "\n"  # stable: sorted, no time


def test_a_drifted_model_stops_at_its_verdict_and_writes_no_record(pinned_repo):
    _flip_one_byte(pinned_repo / "models/demo-tiny/tokenizer.json")
    (check,) = verify_model(pinned_repo, "demo-tiny", FILES_ONLY)  # nothing after the failing step
    assert check.code == ExitCode.DRIFT and check.out == ()
    assert check.err[0] == "models/demo-tiny: DRIFT against models/demo-tiny.lock.json"
    assert "tokenizer.json" in check.err[1] and "changed" in check.err[1]
    assert check.err[2].startswith("Bring back the pinned bytes: `dvc checkout --force models/demo-tiny.dvc`")
    assert not (pinned_repo / RECORD).exists()


def test_a_runtime_change_is_a_warning_unless_strict(pinned_repo):
    lock, report = verify_pinned(pinned_repo, "demo-tiny")
    changed = replace(report, runtime_changes={"transformers": ("0.0.1", "5.0.0")})
    warning = "evalpin: warning: runtime transformers is 5.0.0, the lock was made with 0.0.1"
    relaxed = judge(pinned_repo, "demo-tiny", lock, changed, VerifyRequest(files_only=True))
    assert relaxed.code == ExitCode.OK and relaxed.err == (warning,) and "verified 6 files" in relaxed.out[0]
    strict = judge(pinned_repo, "demo-tiny", lock, changed, VerifyRequest(files_only=True, strict=True))
    assert strict.code == ExitCode.USAGE and strict.out == ()
    assert strict.err == (
        warning,
        "evalpin: --strict: runtime differs from the lock (see warnings above); re-pin or match it.",
    )


def test_the_suites_datasets_are_verified_named_and_recorded(pinned_repo):
    _pin_arc(pinned_repo, "arc")
    checks = list(verify_model(pinned_repo, "demo-tiny", FILES_ONLY))
    digest = load_lock(pinned_repo / "eval/data/arc.lock.json").digest
    assert checks[-1].out == (f"verified dataset eval/data/arc (lock {digest[:12]})",)
    assert read_json(pinned_repo / RECORD)["datasets"] == {
        "arc": {"name": "arc", "revision": ARC_COMMIT, "lock_digest": digest}
    }


def test_an_adapters_record_names_its_base(pinned_repo, tmp_path):
    base, report = verify_pinned(pinned_repo, "demo-tiny")
    adapter = build_demo_lock(tmp_path, "r3")  # any other lock stands in for the adapter's here
    record = verified_record(adapter, report, base, {})
    assert record["base"] == {
        "model": "demo-tiny",
        "revision": base.source.revision,
        "lock_digest": base.digest,
    }
    assert record["lock_digest"] == adapter.digest != base.digest and "datasets" not in record


def test_signatures_asked_of_a_model_with_none_are_refused_with_the_ways_out(pinned_repo):
    with pytest.raises(EvalpinError) as caught:
        check_signatures(pinned_repo, "demo-tiny", [])
    assert str(caught.value) == (
        "verify --signatures: nothing signed to check for models/demo-tiny: its lock has no publisher "
        "signature and no release tag demo-tiny@v* points at HEAD. Check out a signed release "
        "(`git checkout demo-tiny@vX.Y.Z`), or pin with --signature."
    )


def test_verify_data_without_a_pinned_dataset_says_how_to_pin_one(pinned_repo):
    with pytest.raises(EvalpinError) as caught:
        list(verify_datasets(pinned_repo, [], full=False, accept=False))
    assert str(caught.value) == (
        "verify-data: no pinned dataset (eval/data/*.lock.json); pin one with `evalpin pin-data`."
    )


def test_accepting_needs_the_datasets_named(pinned_repo):
    (pinned_repo / "eval/data/arc.lock.json").write_text("{}")  # refused before any lock is read
    with pytest.raises(
        EvalpinError, match=r"^verify-data --accept: name the dataset\(s\) to accept, e.g. `verify"
    ):
        list(verify_datasets(pinned_repo, [], full=False, accept=True))


def test_every_pinned_dataset_is_verified_and_one_that_drifted_does_not_stop_the_others(pinned_repo):
    _pin_arc(pinned_repo, "arc", "arc2")
    assert pinned_datasets(pinned_repo) == ["arc", "arc2"]
    (pinned_repo / "eval/data/arc/README.md").write_text("---\n---\n")
    drifted, verified = verify_datasets(pinned_repo, [], full=False, accept=False)
    assert drifted.code == ExitCode.DRIFT
    said = "\n".join(drifted.out + drifted.err)
    assert said.startswith("eval/data/arc: DRIFT against eval/data/arc.lock.json\n") and "README.md" in said
    assert "`dvc checkout --force eval/data/arc.dvc`" in said and "`evalpin restore`" in said
    digest = load_lock(pinned_repo / "eval/data/arc2.lock.json").digest
    assert verified.code == ExitCode.OK
    assert verified.out == (
        f"eval/data/arc2: verified: every file matches the lock (4 files, digest {digest[:12]})",
    )


def test_accepting_a_verified_dataset_says_what_its_conf_now_accepts(pinned_repo):
    _pin_arc(pinned_repo, "arc")
    checks = list(verify_datasets(pinned_repo, ["arc"], full=False, accept=True))
    lock_digest = load_lock(pinned_repo / "eval/data/arc.lock.json").digest
    assert yaml.safe_load((pinned_repo / "conf/data/arc.yaml").read_text())["lock_digest"] == lock_digest
    assert [c.code for c in checks] == [ExitCode.OK, ExitCode.OK]
    assert checks[1].out == (
        f"  conf/data/arc.yaml now accepts commit {ARC_COMMIT} (lock {lock_digest[:12]})",
    )
