"""A safetensors file must parse, and a shard index name only delivered shards
(delivery/safetensors_file.py). Headers that do not parse (empty, short, truncated, not an object) and the
index's three refusals are tests/pinning/test_pin.py (test_a_safetensors_header_must_parse,
test_a_shard_index_must_name_delivered_shards, and the pin and verify refusals); here: sharded deliveries
in folders, and what the check leaves alone."""

import json

import numpy as np
import pytest
from safetensors.numpy import save

from evalpin.base.errors import EvalpinError
from evalpin.delivery.safetensors_file import check_weights, header_problem, index_problem


def _shard(path, names) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(save({name: np.arange(4, dtype=np.float32) for name in names}))


def _sharded(folder, prefix: str = "") -> list[str]:
    """A two-shard checkpoint under FOLDER/PREFIX, its index naming shards relative to the index."""
    shards = [f"{prefix}model-0000{i}-of-00002.safetensors" for i in (1, 2)]
    _shard(folder / shards[0], ["a"])
    _shard(folder / shards[1], ["b"])
    index = {
        "metadata": {"total_size": 32},
        "weight_map": {"a": shards[0].split("/")[-1], "b": shards[1].split("/")[-1]},
    }
    (folder / f"{prefix}model.safetensors.index.json").write_text(json.dumps(index))
    return [*shards, f"{prefix}model.safetensors.index.json"]


@pytest.mark.parametrize("prefix", ["", "transformer/"])
def test_a_complete_sharded_checkpoint_passes_at_the_root_or_in_a_folder(tmp_path, prefix):
    paths = _sharded(tmp_path, prefix)
    check_weights(tmp_path, [*paths, "config.json"], "models/x", "fix")
    assert header_problem(tmp_path / paths[0]) is None


def test_shards_are_looked_up_beside_their_index_not_at_the_root(tmp_path):
    paths = _sharded(tmp_path, "transformer/")
    _shard(tmp_path / "model-00002-of-00002.safetensors", ["b"])  # the same name at the root is no help
    paths = [p for p in paths if p != "transformer/model-00002-of-00002.safetensors"]
    with pytest.raises(EvalpinError) as caught:
        check_weights(tmp_path, [*paths, "model-00002-of-00002.safetensors"], "models/x", "Re-pin it.")
    assert str(caught.value) == (
        "models/x/transformer/model.safetensors.index.json: field 'weight_map' names shard(s) "
        "['transformer/model-00002-of-00002.safetensors'] that the delivery lacks. Re-pin it."
    )


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (b"[]", "not a valid shard index (AttributeError"),  # JSON, but no object
        (b'{"weight_map": \xff}', "not a valid shard index (UnicodeDecodeError"),
        (b'{"weight_map": ["a.safetensors"]}', "field 'weight_map' is not an object"),
    ],
)
def test_an_index_that_cannot_load_says_why(tmp_path, text, problem):
    (tmp_path / "model.safetensors.index.json").write_bytes(text)
    found = index_problem(tmp_path / "model.safetensors.index.json", "model.safetensors.index.json", set())
    assert found is not None and found.startswith(problem)


def test_only_listed_safetensors_files_and_indexes_are_read(tmp_path):
    (tmp_path / "pytorch_model.bin").write_bytes(b"")  # another format: the roles' and safety's concern
    (tmp_path / "notes.safetensors.txt").write_bytes(b"")
    (tmp_path / "unlisted.safetensors").write_bytes(b"")  # not among the paths: not read
    check_weights(tmp_path, ["pytorch_model.bin", "notes.safetensors.txt"], "models/x", "fix")


def test_the_first_bad_file_is_named_with_its_problem_size_and_the_fix(tmp_path):
    _shard(tmp_path / "good.safetensors", ["a"])
    (tmp_path / "bad.safetensors").write_bytes(b"\x00" * 7)
    with pytest.raises(EvalpinError) as caught:
        check_weights(
            tmp_path, ["good.safetensors", "bad.safetensors"], "eval/data/x", "Pin another revision."
        )
    assert str(caught.value) == (
        "eval/data/x/bad.safetensors: not a valid safetensors file "
        "(7 bytes, shorter than the 8-byte header length). Pin another revision."
    )
