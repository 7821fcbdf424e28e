"""A safetensors weight file must parse before it is pinned or counted as verified: a 0-byte or truncated
model.safetensors hashes like any file (so its lock matches), then crashes the evaluation. The header is
read by the `safetensors` library itself, the same reader transformers loads with, which also checks that
the tensors' offsets cover the file exactly (a truncated file fails). Reading a header costs its size
(kilobytes), not the file's."""

from __future__ import annotations

from pathlib import Path

from evalpin.base.errors import EvalpinError

SUFFIX = ".safetensors"
INDEX_SUFFIX = ".safetensors.index.json"  # a sharded checkpoint's map: tensor -> shard file


def check_weights(directory: Path, paths: list[str], what: str, fix: str) -> None:
    """Every `*.safetensors` file of `paths` (relative to `directory`) parses, and every shard index
    names only shards among them; else one line naming the file (`what`/PATH) and `fix`."""
    for path in paths:
        if path.endswith(SUFFIX):
            problem = header_problem(directory / path)
            if problem:
                raise EvalpinError(f"{what}/{path}: not a valid safetensors file ({problem}). {fix}")
        elif path.endswith(INDEX_SUFFIX):
            problem = index_problem(directory / path, path, set(paths))
            if problem:
                raise EvalpinError(f"{what}/{path}: {problem}. {fix}")


def index_problem(file: Path, path: str, paths: set[str]) -> str | None:
    """Why a shard index cannot load: not JSON, no `weight_map` object, or a shard not delivered."""
    import json
    import posixpath

    try:
        weight_map = json.loads(file.read_bytes().decode("utf-8")).get("weight_map")
    except (ValueError, AttributeError) as exc:
        return f"not a valid shard index ({exc.__class__.__name__}: {exc})"
    if not isinstance(weight_map, dict):
        return "field 'weight_map' is not an object (tensor name -> shard file)"
    folder = posixpath.dirname(path)
    shards = {posixpath.join(folder, str(shard)) if folder else str(shard) for shard in weight_map.values()}
    if missing := sorted(shards - paths):
        return f"field 'weight_map' names shard(s) {missing[:3]} that the delivery lacks"
    return None


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
