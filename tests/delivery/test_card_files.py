"""A dataset card's configs may make the datasets library read only locked files of the snapshot: patterns
outside it (absolute, '..', URL, home, a data_dir out of it) or matching files no lock holds are refused
at pin-data, verify-data, verify and evaluate, naming README.md, the config and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from evalpin.base.errors import EvalpinError
from evalpin.delivery.card import ANY_FILE, loading_of
from evalpin.delivery.card_files import Card, check_task_kwargs
from evalpin.delivery.inventory import build_lock
from evalpin.delivery.lock import save_lock
from evalpin.delivery.roles import DATASET
from evalpin.delivery.verify import require_verified_dataset, verify_dataset
from evalpin.pinning.pin import accept_dataset, pin_dataset
from evalpin.pinning.requests import DataPinRequest
from support import ARC_COMMIT, evalpin, write_dataset_cache

GOOD = "  - split: test\n    path: ARC-Easy/test-*\n"


def card(directory: Path, data_files: str, extra: str = "") -> Path:
    """A snapshot in `directory` whose card's one config ARC-Easy lists `data_files` (YAML, indented)."""
    (directory / "ARC-Easy").mkdir(parents=True, exist_ok=True)
    (directory / "ARC-Easy/test-00000-of-00001.parquet").write_bytes(b"PAR1")
    header = f"---\nconfigs:\n- config_name: ARC-Easy\n{extra}  data_files:\n{data_files}---\n"
    (directory / "README.md").write_text(header)
    return directory


def locked(directory: Path) -> frozenset[str]:
    return frozenset(p.relative_to(directory).as_posix() for p in directory.rglob("*") if p.is_file())


def test_a_card_listing_only_files_of_the_snapshot_passes(tmp_path):
    snapshot = card(tmp_path, GOOD)
    Card.of(snapshot).check_read_path(snapshot, locked(snapshot))


@pytest.mark.parametrize(
    "pattern",
    [
        "/etc/outside.parquet",
        "../outside.parquet",
        "ARC-Easy/../../outside.parquet",
        "~/outside.parquet",
        "hf://datasets/someone/else/test.parquet",
        "https://example.invalid/test.parquet",
        "zip://test.parquet::ARC-Easy/x.zip",
        "C:/outside.parquet",
        "..\\outside.parquet",
    ],
)
def test_a_pattern_outside_the_snapshot_is_refused_naming_card_config_and_field(tmp_path, pattern):
    snapshot = card(
        tmp_path / "snap", f'{GOOD}  - split: extra\n    path: "{pattern}"\n'.replace("\\", "\\\\")
    )
    with pytest.raises(EvalpinError) as caught:
        Card.of(snapshot).check_read_path(snapshot, locked(snapshot))
    message = str(caught.value)
    assert message.startswith(f"{snapshot}/README.md: config 'ARC-Easy' field data_files (split 'extra')")
    assert "outside the snapshot" in message and "evalpin pin-data" in message and "\n" not in message


def test_an_existing_file_outside_is_refused_even_by_an_absolute_path(tmp_path):
    outside = tmp_path / "outside.parquet"
    outside.write_bytes(b"PAR1")
    snapshot = card(tmp_path / "snap", f"{GOOD}  - split: test\n    path: {outside}\n")
    with pytest.raises(EvalpinError, match=r"outside the snapshot"):
        Card.of(snapshot).check_read_path(snapshot, locked(snapshot))


def test_a_pattern_matching_a_file_the_lock_lacks_is_refused(tmp_path):
    snapshot = card(tmp_path, "  - split: test\n    path: '**/*.parquet'\n")
    (snapshot / ".hidden").mkdir()
    (snapshot / ".hidden/more-00000-of-00001.parquet").write_bytes(b"PAR1")
    pinned = locked(snapshot) - {".hidden/more-00000-of-00001.parquet"}
    with pytest.raises(EvalpinError, match=r"matches '\.hidden/more-00000-of-00001\.parquet'.*lock does not"):
        Card.of(snapshot).check_read_path(snapshot, pinned)


def test_a_symlink_out_of_the_snapshot_is_refused(tmp_path):
    (tmp_path / "outside.parquet").write_bytes(b"PAR1")
    snapshot = card(tmp_path / "snap", "  - split: test\n    path: ARC-Easy/*\n")
    (snapshot / "ARC-Easy/link.parquet").symlink_to(tmp_path / "outside.parquet")
    with pytest.raises(EvalpinError, match=r"link\.parquet: symlinks are not allowed"):
        Card.of(snapshot)
    found = Card(snapshot / "README.md", {"ARC-Easy": {"test": ["ARC-Easy/*"]}}, ())  # past that check too
    with pytest.raises(EvalpinError, match=r"outside\.parquet'.*a file its lock does not hold"):
        found.check_read_path(snapshot, locked(snapshot))


def test_a_data_dir_outside_the_snapshot_is_refused(tmp_path):
    snapshot = card(tmp_path, GOOD, extra="  data_dir: ../elsewhere\n")
    with pytest.raises(EvalpinError, match=r"config 'ARC-Easy' field data_dir lists '\.\./elsewhere'"):
        Card.of(snapshot).check_read_path(snapshot, locked(snapshot))


@pytest.mark.parametrize(
    ("header", "field"),
    [
        ("configs: 3\n", "field 'configs' is 3"),
        ("configs:\n- config_name: x\n  data_files: 3\n", "config 'x' field 'data_files' is 3"),
        ("configs:\n- config_name: x\n  data_files: [{split: test, path: 3}]\n", "field 'data_files'"),
        ("configs: [\n", "its YAML header is not valid YAML"),
        ("- a list\n", "its YAML header is list, not a mapping"),
    ],
)
def test_a_malformed_card_is_one_error_naming_the_field(tmp_path, header, field):
    (tmp_path / "README.md").write_text(f"---\n{header}---\n")
    with pytest.raises(EvalpinError, match=rf"README.md: .*{field}"):
        Card.of(tmp_path)


def test_the_card_shapes_the_datasets_library_accepts_are_read(tmp_path):
    (tmp_path / "README.md").write_text(
        "---\nconfigs:\n- config_name: a\n  data_files: x/*.csv\n- config_name: b\n  data_files: [y.csv]\n"
        "- config_name: c\n  data_files: {test: z.csv, dev: [w.csv]}\n---\n"
    )
    assert Card.of(tmp_path).configs == {
        "a": {"train": ["x/*.csv"]},
        "b": {"train": ["y.csv"]},
        "c": {"test": ["z.csv"], "dev": ["w.csv"]},
    }


def test_pin_data_refuses_a_card_reading_outside_and_installs_nothing(template_repo):
    snapshot = write_dataset_cache(template_repo / "hub")
    readme = snapshot / "README.md"
    readme.write_text(readme.read_text().replace("path: ARC-Easy/test-*", "path: ../../outside/*"))
    with pytest.raises(EvalpinError, match=r"^eval/data/arc/README.md: config 'ARC-Easy' field data_files"):
        pin_dataset(template_repo, DataPinRequest("tests/arc", ARC_COMMIT, "arc", "hub"))
    assert not (template_repo / "eval/data/arc").exists()
    assert not (template_repo / "eval/data/arc.lock.json").exists()


def test_verify_data_and_verify_refuse_an_accepted_lock_whose_card_reads_outside(pinned_repo):
    """A lock accepted before this check existed: its README (locked, verified) reads a file outside."""
    write_dataset_cache(pinned_repo / "hub")
    lock = pin_dataset(pinned_repo, DataPinRequest("tests/arc", ARC_COMMIT, "arc", "hub"))
    data = pinned_repo / "eval/data/arc"
    (pinned_repo / "outside.parquet").write_bytes(
        (data / "ARC-Easy/test-00000-of-00001.parquet").read_bytes()
    )
    readme = data / "README.md"
    readme.write_text(
        readme.read_text().replace("path: ARC-Easy/test-*", "path: [ARC-Easy/test-*, ../../outside.parquet]")
    )
    lock = build_lock(data, "arc", lock.source, kind=DATASET)
    save_lock(lock, pinned_repo / "eval/data/arc.lock.json")
    accept_dataset(pinned_repo, lock)
    with pytest.raises(
        EvalpinError, match=r"arc/README.md: config 'ARC-Easy' field data_files \(split 'test'\)"
    ):
        verify_dataset(pinned_repo, "arc")
    with pytest.raises(EvalpinError, match=r"outside the snapshot"):
        require_verified_dataset(pinned_repo, "arc")  # what evaluate calls first
    proc = evalpin(pinned_repo, "verify-data", "arc", check=False)
    assert proc.returncode == 2 and "'../../outside.parquet', outside the snapshot" in proc.stderr


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"data_files": {"test": "/etc/outside.parquet"}}, "dataset_kwargs.data_files (split 'test')"),
        ({"data_files": "../outside.parquet"}, "dataset_kwargs.data_files (split 'train')"),
        ({"data_dir": "../elsewhere"}, "dataset_kwargs.data_dir"),
    ],
)
def test_a_catalog_tasks_own_data_files_must_stay_in_its_pinned_snapshot(tmp_path, kwargs, field):
    snapshot = card(tmp_path, GOOD)
    check_task_kwargs("lm_eval/tasks/x/x.yaml", "x", {"data_files": "ARC-Easy/*"}, snapshot, locked(snapshot))
    with pytest.raises(EvalpinError) as caught:
        check_task_kwargs("lm_eval/tasks/x/x.yaml", "x", kwargs, snapshot, locked(snapshot))
    assert str(caught.value).startswith(f"lm_eval/tasks/x/x.yaml: catalog task 'x' field {field} lists")
    assert "outside the snapshot" in str(caught.value)


def test_the_lock_and_the_check_read_one_header_and_one_data_files_rule(tmp_path):
    """card.py's front_matter and splits_of serve both: the patterns a lock records are the check's, and a
    config listing no data_files may read any file; a header that is not YAML is still hashed, not refused."""
    snapshot = card(tmp_path, "    ARC-Easy/test-*\n")
    (snapshot / "README.md").write_text(
        "---\nconfigs:\n- config_name: ARC-Easy\n  data_files: ARC-Easy/test-*\n- config_name: bare\n---\n"
    )
    splits = Card.of(snapshot).configs
    assert splits == {"ARC-Easy": {"train": ["ARC-Easy/test-*"]}, "bare": {}}
    assert loading_of(snapshot).configs == {"ARC-Easy": ["ARC-Easy/test-*"], "bare": ANY_FILE}
    (snapshot / "README.md").write_text("---\nconfigs: [unclosed\n---\n")
    with pytest.raises(EvalpinError, match=r"README.md: its YAML header is not valid YAML"):
        Card.of(snapshot)
    assert loading_of(snapshot).configs == {} and len(loading_of(snapshot).header_sha256) == 64
