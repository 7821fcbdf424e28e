"""Files and directories appear whole or not at all (base/atomic.py), and a kill leaves only temporaries
that name their dead writer: what evalpin.base.leftovers removes (tests/base/test_leftovers.py)."""

import errno
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from evalpin.api import EXPECTED_ERRORS
from evalpin.base.atomic import KILL_ENV, TEMP_MARK, kill_point, replace_dir, temp_prefix, write_atomic
from evalpin.base.errors import ExitCode
from evalpin.cli import explain
from support import killed_at


def test_write_atomic_writes_text_or_bytes_readable_by_all_and_leaves_nothing_beside(tmp_path):
    target = tmp_path / "deep" / "er" / "record.json"
    write_atomic(target, "é\n")  # text is written as UTF-8
    assert target.read_bytes() == "é\n".encode()
    assert target.stat().st_mode & 0o777 == 0o644  # not mkstemp's 0600
    write_atomic(target, b"\x00\xff")
    assert target.read_bytes() == b"\x00\xff"
    assert sorted(p.name for p in target.parent.iterdir()) == ["record.json"]


def test_a_failed_write_keeps_the_old_file_and_removes_its_temporary(tmp_path):
    target = tmp_path / "record.json"
    target.write_text("old")
    with pytest.raises(TypeError):
        write_atomic(target, 42)  # neither str nor bytes: fails while writing the temporary
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["record.json"]


def test_temporary_names_carry_the_writers_process_id():
    prefix = temp_prefix(".record.json")
    assert prefix == f".record.json{TEMP_MARK}{os.getpid()}-"


def test_kill_point_is_inert_unless_armed_for_that_point(monkeypatch):
    monkeypatch.delenv(KILL_ENV, raising=False)
    kill_point("write_atomic.written")  # this process lives on
    monkeypatch.setenv(KILL_ENV, "elsewhere")
    kill_point("write_atomic.written")


def test_a_write_killed_before_its_rename_leaves_the_old_file_and_a_temporary_naming_the_dead_writer(
    tmp_path,
):
    target = tmp_path / "record.json"
    target.write_text("old")
    code = (
        "import os, sys; from pathlib import Path; from evalpin.base.atomic import write_atomic; "
        "print(os.getpid(), flush=True); write_atomic(Path(sys.argv[1]), 'new')"
    )
    proc = killed_at(tmp_path, "write_atomic.written", sys.executable, "-c", code, str(target))
    assert target.read_text() == "old"
    (left,) = [p for p in tmp_path.iterdir() if p != target]
    assert left.name.startswith(f".record.json{TEMP_MARK}{proc.stdout.strip()}-") and left.suffix == ".tmp"
    assert left.read_text() == "new"  # written whole, never renamed into place


def _tree(path: Path, content: str) -> Path:
    path.mkdir(parents=True)
    (path / "file.txt").write_text(content)
    return path


def test_replace_dir_moves_a_new_tree_into_place_and_removes_the_old_one(tmp_path):
    destination = tmp_path / "out" / "samples"
    first = Path(tempfile.mkdtemp(dir=tmp_path, prefix=temp_prefix("samples")))
    (first / "file.txt").write_text("one")
    replace_dir(first, destination)
    assert (destination / "file.txt").read_text() == "one" and not first.exists()
    assert destination.stat().st_mode & 0o777 == 0o755  # mkdtemp made it 0700
    second = _tree(tmp_path / "second", "two")
    replace_dir(second, destination)
    assert (destination / "file.txt").read_text() == "two"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no .replaced tree left
    assert [p.name for p in destination.parent.iterdir()] == ["samples"]


def test_a_replace_killed_between_its_renames_leaves_no_destination_and_the_old_tree_aside(tmp_path):
    destination = _tree(tmp_path / "samples", "old")
    new = _tree(tmp_path / f"samples{TEMP_MARK}123-abc", "new")
    code = (
        "import sys; from pathlib import Path; from evalpin.base.atomic import replace_dir; "
        "replace_dir(Path(sys.argv[1]), Path(sys.argv[2]))"
    )
    killed_at(tmp_path, "replace_dir.moved_aside", sys.executable, "-c", code, str(new), str(destination))
    assert not destination.exists()  # a rerun rebuilds it
    aside = tmp_path / f"{new.name}.replaced"
    assert (aside / "file.txt").read_text() == "old" and (new / "file.txt").read_text() == "new"


@pytest.fixture
def full_disk(tmp_path):
    """A real 64 KiB file system (tmpfs: root, as CI runs): a write past it fails with ENOSPC."""
    where = tmp_path / "tiny"
    where.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(where)], check=False)
    if mounted.returncode != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")
    yield where
    subprocess.run(["umount", str(where)], check=True)


def test_a_full_disk_names_the_file_keeps_the_old_one_and_leaves_no_temporary(full_disk):
    """write() knows only a descriptor: the error line said ": No space left on device", naming no file."""
    target = full_disk / "metrics.json"
    write_atomic(target, "old\n")
    with pytest.raises(OSError) as raised:
        write_atomic(target, "x" * 2**20)
    assert raised.value.errno == errno.ENOSPC and raised.value.filename == str(target)
    assert target.read_text() == "old\n" and os.listdir(full_disk) == ["metrics.json"]
    line, code = explain(raised.value, EXPECTED_ERRORS)
    assert line.startswith(f"{target}: No space left on device. Free space on its file system")
    assert code == ExitCode.USAGE
