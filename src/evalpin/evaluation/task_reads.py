"""What a task read while it was built and evaluated: the files it opened and the modules it imported,
recorded with Python's audit hooks (`open` events: `import` opens a module's source or its `.pyc`), and
hashed into its stored result. A stored result is reused only when every recorded input still hashes the
same (task_store.lookup), so a helper module that a `!function` module imports, or a file a task opens
by itself, keys the result even though no YAML names it.

Not recorded, because something else already keys or proves it: the runtime (Python's own files,
site-packages: the key holds the packages' versions), evalpin's own code, the delivery (its lock digest is
in the key and it is verified before evaluation), the caches built from locked files and proven before
use (the datasets library's, under HF_HOME), a pinned dataset's card (the key holds the config and the
splits the task reads from it), evalpin's state and outputs, git's and DVC's folders, the machine's own
files (/proc, /sys, /dev, /etc, /usr, ...) and the user's cache folder (~/.cache: libraries' caches). A
file outside the repository is recorded by its absolute path: a clone where it is absent or different
evaluates the task again.

The modules a task imports from outside the runtime (a `!function` module's helpers) are forgotten
(removed from sys.modules) before the next task, so that it imports them again and its reads show them
even when an earlier task of the same run imported them first.
"""

from __future__ import annotations

import os
import site
import sys
import sysconfig
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import evalpin
from evalpin.base.hashing import sha256_file
from evalpin.base.outs import RESULTS_DIR
from evalpin.base.project import DATA_DIR, STATE_DIR

SYSTEM = ("/proc", "/sys", "/dev", "/etc", "/usr", "/lib", "/lib64", "/bin", "/sbin", "/run", "/var/lib")
NOT_INPUTS = (".git", ".dvc", ".venv", ".cache", STATE_DIR, "models", RESULTS_DIR, "eval/samples")
LINECACHE = f"{os.sep}linecache.py"
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND

_recording: list[list[str]] = []  # the open recorders' paths; the hook appends to the innermost
_task_modules: set[str] = set()  # modules a recorded task imported from outside the runtime
_installed = False


def _hook(event: str, args: tuple) -> None:
    """Process-wide and permanent (audit hooks cannot be removed): it costs one comparison per event
    while nothing records."""
    if event != "open" or not _recording:
        return
    path, mode, flags = args
    if isinstance(path, int) or (isinstance(mode, str) and any(c in mode for c in "wax+")):
        return
    if isinstance(flags, int) and mode is None and flags & WRITE_FLAGS:
        return
    if not for_source_lines(sys._getframe(1)):
        _recording[-1].append(os.fsdecode(path))


def for_source_lines(frame: object, depth: int = 8) -> bool:
    """Whether an open is linecache's: a warning or a traceback showing a source line (of whatever
    module called it), not the task reading an input."""
    for _ in range(depth):
        if frame is None:
            return False
        if frame.f_code.co_filename.endswith(LINECACHE):  # type: ignore[attr-defined]
            return True
        frame = frame.f_back  # type: ignore[attr-defined]
    return False


def install() -> None:
    """Add the hook once per process (sys.audit keeps every hook added)."""
    global _installed
    if not _installed:
        sys.addaudithook(_hook)
        _installed = True


@contextmanager
def recording(root: Path) -> Iterator[dict[str, str | None]]:
    """Record the inputs opened inside the block; the yielded mapping is filled when it ends:
    path (relative to `root` inside the repository, absolute outside) -> sha256, or None if absent."""
    install()
    forget_task_modules()
    runtime, before = Runtime(root), set(sys.modules)
    paths: list[str] = []
    found: dict[str, str | None] = {}
    _recording.append(paths)
    try:
        yield found
    finally:
        _recording.pop()
        _task_modules.update(task_modules(runtime, set(sys.modules) - before))
    found.update(inputs(runtime, paths))


def inputs(runtime: Runtime, opened: list[str]) -> dict[str, str | None]:
    """The opened paths that are a task's inputs, named as keys name them, with their digests now."""
    root = runtime.root
    named: dict[str, str | None] = {}
    for text in dict.fromkeys(opened):
        path = source_of(Path(os.path.abspath(text)))
        if path.is_dir() or runtime.holds(path) or runtime.holds(real := path.resolve()):
            continue
        named[real.relative_to(root).as_posix() if real.is_relative_to(root) else real.as_posix()] = (
            digest_of(real)
        )
    return dict(sorted(named.items()))


class Runtime:
    """Which files are no task's input (the module docstring's list), for a repository at `root`:
    inside it, its state, outputs, caches, datasets' cards and any runtime folder it holds (a .venv,
    evalpin's own source); outside it, the runtime's and the machine's folders, the temporary one, and
    HF_HOME wherever it is."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.outside = [*runtime_dirs(), hf_home(self.root), user_cache()]  # HF_HOME may be anywhere
        inside = [d for d in self.outside if d.is_relative_to(self.root)]
        self.inside = inside + [self.root / name for name in NOT_INPUTS]

    def holds(self, path: Path) -> bool:
        if path.is_relative_to(self.root):
            return any(path.is_relative_to(d) for d in self.inside) or is_card(path, self.root)
        return any(path.is_relative_to(d) for d in self.outside)


def beyond_key(key: dict, reads: dict[str, str | None]) -> dict[str, str | None]:
    """The reads the key does not already hold (its definition and data files): what a stored result
    records. The key's own files are left out also because whether they are opened at all depends on a
    cache (the datasets library's), not on the task."""
    data = key["data"]
    folder = f"{DATA_DIR}/{data['dataset']}/" if "dataset" in data else ""  # a pinned dataset's files
    keyed = set(key["definition"].get("files", {})) | {folder + name for name in data.get("files", {})}
    return {name: sha for name, sha in reads.items() if name not in keyed}


def is_card(path: Path, root: Path) -> bool:
    """A pinned dataset's card, eval/data/NAME/README.md (its other configs' entries are no input)."""
    return path.name == "README.md" and path.parent.parent == root / DATA_DIR


def source_of(path: Path) -> Path:
    """A module's source for its compiled `__pycache__/NAME.TAG.pyc` (the source is what changes)."""
    if path.suffix == ".pyc" and path.parent.name == "__pycache__":
        source = path.parent.parent / f"{path.name.split('.', 1)[0]}.py"
        if source.is_file():
            return source
    return path


def digest_of(path: Path) -> str | None:
    try:
        return sha256_file(path)
    except FileNotFoundError:
        return None


def change_of(root: Path, name: str, sha: str | None) -> str:
    """How a recorded read (`name`: relative to `root`, or absolute) differs from the file now: "changed",
    "is gone", "appeared", or "" when it hashes the same."""
    now = digest_of(root / name)  # an absolute name stays itself
    if now == sha:
        return ""
    return "appeared" if sha is None else "is gone" if now is None else "changed"


def unchanged(root: Path, recorded: dict[str, str | None]) -> str:
    """Why a stored result's recorded reads no longer hold ("" when every one hashes the same)."""
    for name, sha in recorded.items():
        if what := change_of(root, name, sha):
            return f"{name} (read by the task) {what}"
    return ""


def hf_home(root: Path) -> Path:
    from evalpin.base.environment import offline_environment

    return Path(os.environ.get("HF_HOME") or offline_environment(root)["HF_HOME"]).resolve()


def user_cache() -> Path:
    """The user's cache folder (XDG_CACHE_HOME, ~/.cache): libraries' caches (torch's, triton's), not
    inputs; keyed, they would make a result depend on the machine that computed it."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").resolve()


def runtime_dirs() -> list[Path]:
    """Where the runtime's files live: the interpreter's prefixes, its site-packages, evalpin itself,
    the temporary directory and the machine's own folders."""
    places = {sys.prefix, sys.base_prefix, sys.exec_prefix, tempfile.gettempdir(), *SYSTEM}
    places.update(sysconfig.get_paths().values())
    places.update([*site.getsitepackages(), site.getusersitepackages()])
    places.add(str(Path(evalpin.__file__).parent))
    return [Path(p).resolve() for p in places if p]


def task_modules(runtime: Runtime, names: set[str]) -> set[str]:
    """Of the modules `names`, those loaded from a file that is no part of the runtime."""
    found = set()
    for name in names:
        file = getattr(sys.modules.get(name), "__file__", None)
        if file and not runtime.holds(Path(file).resolve()):
            found.add(name)
    return found


def forget_task_modules() -> None:
    """Remove from sys.modules the modules earlier recorded tasks imported from outside the runtime, so
    the next task that uses one imports it again, and its reads record it."""
    for name in _task_modules:
        sys.modules.pop(name, None)
    _task_modules.clear()
