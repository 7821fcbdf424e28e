"""A safetensors weight file must parse before it is pinned or counted as verified: a 0-byte or truncated
model.safetensors hashes like any file (so its lock matches), then crashes the evaluation. The header is
read by the `safetensors` library itself, the same reader transformers loads with, which also checks that
the tensors' offsets cover the file exactly (a truncated file fails). Reading a header costs its size
(kilobytes), not the file's."""

from __future__ import annotations

from pathlib import Path

from evalpin.errors import EvalpinError

SUFFIX = ".safetensors"


def check_weights(directory: Path, paths: list[str], what: str, fix: str) -> None:
    """Every `*.safetensors` file of `paths` (relative to `directory`) parses; else one line naming it
    (`what`/PATH) and `fix`."""
    for path in paths:
        if path.endswith(SUFFIX):
            problem = header_problem(directory / path)
            if problem:
                raise EvalpinError(f"{what}/{path}: not a valid safetensors file ({problem}). {fix}")


def header_problem(path: Path) -> str | None:
    """Why the file's safetensors header does not parse, or None when it does."""
    from safetensors import SafetensorError, safe_open

    size = path.stat().st_size
    if size < 8:
        return f"{size} bytes, shorter than the 8-byte header length"
    try:
        with safe_open(str(path), framework="numpy") as opened:
            opened.keys()
    except SafetensorError as exc:
        return f"{exc}; {size} bytes"
    return None
