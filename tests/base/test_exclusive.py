"""One writer per name at a time (base/exclusive.py): a second holder waits, saying so once; the lock
is released however its holder ends, kill -9 included. The pin-level case (a second `evalpin pin` writes
nothing until the first is done) is tests/pinning/test_pin.py::test_two_pins_of_one_name_are_serialized."""

import fcntl
import os
import select
import signal
import subprocess
import sys

import pytest

from evalpin.base.exclusive import exclusive, lock_file
from support import subprocess_env

# A second process that takes NAME's lock, then writes its marker file (argv: root, name, marker).
HOLDER = (
    "import sys; from pathlib import Path; from evalpin.base.exclusive import exclusive\n"
    "with exclusive(Path(sys.argv[1]), sys.argv[2], 'the test'):\n"
    "    Path(sys.argv[3]).write_text('held')\n"
    "    print('holding', flush=True)\n"
    "    sys.stdin.read()\n"
)


def _holder(root, name, marker) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(root), name, str(marker)],
        env=subprocess_env(root),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _line(stream) -> str:
    """The stream's next line; fails (rather than hangs) when none comes within 30 s."""
    ready, _, _ = select.select([stream], [], [], 30)
    assert ready, "no line within 30 s"
    return stream.readline()


def _is_free(path) -> bool:
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


def test_the_lock_file_lives_in_the_local_state_folder(tmp_path):
    assert lock_file(tmp_path, "demo-tiny") == tmp_path / ".evalpin" / "locks" / "demo-tiny.lock"


def test_a_second_writer_of_the_name_waits_saying_who_holds_it(tmp_path):
    marker = tmp_path / "marker"
    with exclusive(tmp_path, "demo-tiny", "pin demo-tiny"):
        assert not _is_free(lock_file(tmp_path, "demo-tiny"))
        second = _holder(tmp_path, "demo-tiny", marker)
        line = _line(second.stderr)
        assert line.startswith("evalpin: the test: waiting for another evalpin that writes 'demo-tiny'")
        assert str(lock_file(tmp_path, "demo-tiny")) in line
        assert not marker.exists()  # it waits while this block holds the lock
    assert _line(second.stdout) == "holding\n" and marker.read_text() == "held"
    second.communicate("", timeout=30)
    assert second.returncode == 0 and _is_free(lock_file(tmp_path, "demo-tiny"))


def test_other_names_do_not_wait(tmp_path):
    with exclusive(tmp_path, "demo-tiny", "pin demo-tiny"):
        other = _holder(tmp_path, "arc", tmp_path / "marker")
        out, err = other.communicate("", timeout=30)  # done while demo-tiny's lock is held
    assert other.returncode == 0 and out == "holding\n" and err == ""  # no waiting line
    assert (tmp_path / "marker").read_text() == "held"


def test_an_error_in_the_block_releases_the_lock(tmp_path):
    with pytest.raises(RuntimeError), exclusive(tmp_path, "demo-tiny", "pin demo-tiny"):
        raise RuntimeError("the pin failed")
    assert _is_free(lock_file(tmp_path, "demo-tiny"))


def test_a_holder_killed_hard_leaves_no_stale_lock(tmp_path):
    holder = _holder(tmp_path, "demo-tiny", tmp_path / "marker")
    assert _line(holder.stdout) == "holding\n"
    assert not _is_free(lock_file(tmp_path, "demo-tiny"))
    os.kill(holder.pid, signal.SIGKILL)
    holder.communicate(timeout=30)
    assert _is_free(lock_file(tmp_path, "demo-tiny"))  # the kernel released it
    with exclusive(tmp_path, "demo-tiny", "pin demo-tiny"):
        pass
