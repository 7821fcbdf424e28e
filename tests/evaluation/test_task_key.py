"""Why a stored result is not reused, in words naming the key field that changed."""

import os

from evalpin.base.outs import RESULTS_DIR
from evalpin.evaluation import task_store
from evalpin.evaluation.task_key import changes, files_digest


def key(**changed) -> dict:
    base = {
        "format": 1,
        "task": "arc_easy",
        "delivery": {"name": "demo-tiny", "lock_digest": "a" * 64},
        "definition": {"files": {"arc/arc_easy.yaml": "1" * 64}, "fields": {}},
        "data": {
            "dataset": "arc",
            "config": "ARC-Easy",
            "splits": {"test": ["ARC-Easy/test-*"], "train": ["ARC-Easy/train-*"]},
            "files": {"ARC-Easy/test-0.parquet": "t" * 64, "ARC-Easy/train-0.parquet": "r" * 64},
        },
        "inference": {"batch_size": 1, "seed": 1234},
        "runtime": {"torch": "2.13.0"},
    }
    for part, value in changed.items():
        base[part] = {**base[part], **value}
    return base


def test_each_changed_field_is_named_with_its_old_and_new_value():
    assert changes(key(), key(inference={"batch_size": 2})) == "inference.batch_size 1 -> 2"
    assert changes(key(), key(runtime={"torch": "2.14.0"})) == "runtime.torch 2.13.0 -> 2.14.0"
    new = {"lock_digest": "b" * 64}
    assert changes(key(), key(delivery=new)) == f"delivery demo-tiny: lock {'a' * 12} -> {'b' * 12}"
    assert changes(key(), key(definition={"files": {"arc/arc_easy.yaml": "2" * 64}})) == (
        "task definition: arc/arc_easy.yaml changed"
    )


def test_a_changed_data_file_is_named_by_its_config_and_split():
    files = {"ARC-Easy/test-0.parquet": "u" * 64, "ARC-Easy/train-0.parquet": "r" * 64}
    assert changes(key(), key(data={"files": files})) == "dataset arc: ARC-Easy/test changed"
    many = key(data={"files": files}, inference={"batch_size": 2, "seed": 7}, runtime={"torch": "x"})
    assert changes(key(), many).endswith("(and 1 more)")


def test_the_files_digest_ignores_the_datasets_name_not_what_was_read():
    renamed = key(data={"dataset": "ai2_arc"})
    assert files_digest(key()) == files_digest(renamed)
    assert files_digest(key()) != files_digest(key(data={"config": "ARC-Challenge"}))


def test_prune_keeps_a_live_writers_temporary_and_removes_a_dead_ones(tmp_path):
    """A Slurm job may still be writing its result while another process merges (taskstore.prune)."""
    folder = tmp_path / RESULTS_DIR
    folder.mkdir(parents=True)
    live = folder / f".a.json.evalpin-{os.getpid()}-x1.tmp"
    dead = folder / ".b.json.evalpin-999999999-x2.tmp"
    for path in (live, dead, folder / "a.json", folder / "gone.json"):
        path.write_text("{}")
    assert task_store.prune(tmp_path, ["a"]) == [dead.name, "gone.json"]
    assert live.exists() and (folder / "a.json").exists()
