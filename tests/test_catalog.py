import time

from evalpin.catalog import catalog_fields, locate


def test_catalog_tasks_are_located_in_their_own_folder_fast():
    started = time.perf_counter()
    found = {task: locate(task) for task in ("arc_challenge", "hellaswag", "gsm8k", "mmlu_anatomy")}
    assert time.perf_counter() - started < 1.0  # the whole catalog takes 7-15 s to index
    assert {task: path.parent.name for task, path in found.items()} == {
        "arc_challenge": "arc",
        "hellaswag": "hellaswag",
        "gsm8k": "gsm8k",
        "mmlu_anatomy": "default",  # mmlu/default: a quoted `"task":` key
    }
    arc = catalog_fields(found["arc_challenge"])  # include: arc_easy.yaml, then its own fields
    assert (arc["dataset_path"], arc["dataset_name"], arc["test_split"]) == (
        "allenai/ai2_arc",
        "ARC-Challenge",
        "test",
    )
    assert catalog_fields(found["mmlu_anatomy"])["dataset_name"] == "anatomy"
