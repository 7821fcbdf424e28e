"""The datasets library's arrow cache is read only when it matches the manifest evalpin recorded after
building it: any change, missing or added file, or no manifest at all, and it is removed and rebuilt.
(test_evaluate's catalog test runs this around a real lm-eval evaluation.)"""

from __future__ import annotations

import json

import pytest

from evalpin.suite import data_cache


@pytest.fixture
def cache(tmp_path):
    """A built, recorded cache: two arrow files and a filelock lock file."""
    built = tmp_path / "arc-0123456789abcdef"
    (built / "ARC-Easy/0.0.0").mkdir(parents=True)
    (built / "ARC-Easy/0.0.0/arc-test.arrow").write_bytes(b"ARROW test Paris")
    (built / "ARC-Easy/0.0.0/arc-train.arrow").write_bytes(b"ARROW train Rome")
    (built / "ARC-Easy/0.0.0_builder.lock").write_bytes(b"")
    data_cache.record(built)
    return built


def test_a_recorded_cache_is_proven_and_kept(cache, capsys):
    data_cache.prove(cache, "arc")
    assert (cache / "ARC-Easy/0.0.0/arc-test.arrow").is_file() and capsys.readouterr().err == ""
    manifest = json.loads(data_cache.manifest_path(cache).read_text())
    assert sorted(manifest["files"]) == ["ARC-Easy/0.0.0/arc-test.arrow", "ARC-Easy/0.0.0/arc-train.arrow"]


@pytest.mark.parametrize(
    ("tamper", "why"),
    [
        (lambda c: (c / "ARC-Easy/0.0.0/arc-test.arrow").write_bytes(b"ARROW test Pariz"), "changed since"),
        (lambda c: (c / "ARC-Easy/0.0.0/arc-train.arrow").unlink(), "is missing"),
        (lambda c: (c / "ARC-Easy/0.0.0/cache-f00d.arrow").write_bytes(b"planted map"), "is not in"),
        (lambda c: data_cache.manifest_path(c).unlink(), "is missing or unreadable"),
        (lambda c: data_cache.manifest_path(c).write_text("{not json"), "is missing or unreadable"),
        (lambda c: data_cache.manifest_path(c).write_text('{"schema": 1, "files": []}'), "or unreadable"),
    ],
    ids=["changed", "missing", "added", "no-manifest", "corrupt-manifest", "manifest-shape"],
)
def test_an_unproven_cache_is_removed_with_one_warning_and_rebuilt(cache, capsys, tamper, why):
    tamper(cache)
    data_cache.prove(cache, "arc")
    err = capsys.readouterr().err
    assert not cache.exists() and not data_cache.manifest_path(cache).exists()
    assert err.startswith("evalpin: warning: ") and why in err and err.count("\n") == 1
    assert "rebuilding it from the verified eval/data/arc" in err


def test_lock_files_the_library_adds_or_removes_do_not_count(cache):
    (cache / "ARC-Easy/0.0.0_builder.lock").unlink()
    (cache / "another.lock").write_bytes(b"")
    assert data_cache.problem(cache) is None


def test_a_failed_use_records_nothing_and_a_success_records_what_the_run_added(cache):
    with pytest.raises(RuntimeError), data_cache.proven({"arc": cache}):
        (cache / "ARC-Easy/0.0.0/cache-beef.arrow").write_bytes(b"half-built map")
        raise RuntimeError("killed mid-run")
    assert "is not in" in str(data_cache.problem(cache))  # the next run rebuilds it
    with data_cache.proven({"arc": cache}):
        assert not cache.exists()  # removed before the body ran
        (cache / "ARC-Easy").mkdir(parents=True)
        (cache / "ARC-Easy/rebuilt.arrow").write_bytes(b"ARROW")
    assert data_cache.problem(cache) is None


def test_a_cache_not_built_yet_needs_no_proof(tmp_path):
    assert data_cache.problem(tmp_path / "arc-new") is None
    data_cache.record(tmp_path / "arc-new")  # nothing built: nothing recorded
    assert not data_cache.manifest_path(tmp_path / "arc-new").exists()
