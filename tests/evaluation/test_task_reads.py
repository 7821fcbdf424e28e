"""A task's recorded reads key its stored result: helper modules its `!function` module imports from
elsewhere on the path, and files its code opens by itself, reuse a result only while they are unchanged."""

import os
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

from evalpin.config.compose import load_params
from evalpin.config.params import Params
from evalpin.evaluation.plan import build_plan
from evalpin.evaluation.task_reads import Runtime, inputs, recording
from support import evalpin_in_process, read_json

TASK_YAML = """\
task: {name}
custom_dataset: !function reads_utils.load
dataset_kwargs:
  data_files:
    test: color_mc.jsonl
test_split: test
output_type: multiple_choice
doc_to_text: "Question: {{{{question}}}}\\nAnswer:"
doc_to_choice: choices
doc_to_target: gold
process_results: !function reads_utils.score
metric_list:
  - metric: acc
    aggregation: mean
    higher_is_better: true
metadata:
  version: 1.0
  answers: answers.txt
"""

# A `!function` module that imports a helper from a folder it puts on the path, and opens a file its
# metadata names: neither is a file the task's YAML names as a definition or data file.
UTILS = """\
import sys
from pathlib import Path

import datasets

sys.path.insert(0, str(Path(__file__).parent / "lib"))
import answer_key  # noqa: E402


def load(answers, **_ignored):
    lines = (Path(__file__).parent / answers).read_text().split()
    pairs = zip(lines[::2], lines[1::2])
    rows = [{"question": q, "choices": ["yes", "no"], "gold": int(g)} for q, g in pairs]
    return datasets.DatasetDict({"test": datasets.Dataset.from_list(rows)})


def score(doc, results):
    return {"acc": float(answer_key.scored(doc, results))}
"""


def add_tasks(repo: Path, names: list[str]) -> None:
    tasks = repo / "eval/tasks"
    (tasks / "lib").mkdir()
    (tasks / "lib/answer_key.py").write_text("def scored(doc, results):\n    return True\n")
    (tasks / "reads_utils.py").write_text(UTILS)
    (tasks / "answers.txt").write_text("Is-it-blue? 0\nIs-it-red? 1\n")
    for name in names:
        (tasks / f"{name}.yaml").write_text(TASK_YAML.format(name=name))
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["suite"]["tasks"] += names
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def why(repo: Path) -> dict[str, str]:
    return build_plan(repo, Params.from_dict(load_params(repo))).why


@pytest.mark.slow
def test_a_helper_module_and_a_file_the_task_opens_key_its_result(reproduced_repo):
    names = ["demo_reads_a", "demo_reads_b"]
    add_tasks(reproduced_repo, names)
    evaluated = evalpin_in_process(reproduced_repo, "evaluate")
    assert "5 of 7 tasks reused, 2 to run" in evaluated.stdout
    for name in names:  # both: the second imports the helper again though the first imported it first
        reads = read_json(reproduced_repo / f"eval/results/{name}.json")["reads"]
        assert set(reads) >= {"eval/tasks/lib/answer_key.py", "eval/tasks/answers.txt"}, reads
        assert metrics_of(reproduced_repo, name) == 1.0
    assert set(why(reproduced_repo).values()) == {""}

    helper = reproduced_repo / "eval/tasks/lib/answer_key.py"
    helper.write_text("def scored(doc, results):\n    return False\n")
    changed = "eval/tasks/lib/answer_key.py (read by the task) changed"
    assert {n: w for n, w in why(reproduced_repo).items() if w} == dict.fromkeys(names, changed)
    shown = evalpin_in_process(reproduced_repo, "why", "demo_reads_a").stdout
    assert f"demo_reads_a: runs ({changed})" in shown and "eval/tasks/lib/answer_key.py (CHANGED)" in shown
    evalpin_in_process(reproduced_repo, "evaluate")
    assert metrics_of(reproduced_repo, "demo_reads_a") == 0.0  # the changed helper scored, not the old result

    (reproduced_repo / "eval/tasks/answers.txt").unlink()
    assert why(reproduced_repo)["demo_reads_b"] == "eval/tasks/answers.txt (read by the task) is gone"


def metrics_of(repo: Path, task: str) -> float:
    return read_json(repo / "eval/metrics.json")["tasks"][task]["score"]


def test_only_inputs_are_recorded_sources_for_their_compiled_modules_and_outside_files_by_path(
    tmp_path, monkeypatch
):
    root, outside, scratch = tmp_path / "repo", tmp_path / "elsewhere.txt", tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))  # this test's files are not in the temp dir
    (scratch / "transient").write_text("x")
    hub = tmp_path / "hf-home"  # HF_HOME outside the repository (~/.cache/huggingface): a proven cache
    (hub / "datasets").mkdir(parents=True)
    (hub / "datasets/dataset_info.json").write_text("{}")
    monkeypatch.setenv("HF_HOME", str(hub))
    cache = tmp_path / "user-cache"  # ~/.cache: libraries' caches (torch's, triton's), not inputs
    (cache / "torch").mkdir(parents=True)
    (cache / "torch/kernel.bin").write_bytes(b"k")
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    (root / "eval/tasks/__pycache__").mkdir(parents=True)
    (root / "eval/tasks/helper.py").write_text("X = 1\n")
    (root / "eval/tasks/__pycache__/helper.cpython-311.pyc").write_bytes(b"compiled")
    (root / "eval/results").mkdir()
    (root / "eval/data/arc").mkdir(parents=True)
    (root / "eval/data/arc/README.md").write_text("card\n")
    (root / "eval/data/arc/extra.csv").write_text("a,b\n")
    outside.write_text("outside\n")
    with recording(root) as found:
        (root / "eval/tasks/__pycache__/helper.cpython-311.pyc").read_bytes()
        (root / "eval/results/written.json").write_text("{}")  # a write: no input
        (root / "eval/data/arc/README.md").read_text()  # a pinned dataset's card: its key holds the config
        (root / "eval/data/arc/extra.csv").read_text()  # another file of a pinned dataset: an input
        outside.read_text()
        Path(sys.executable).read_bytes()[:1]  # the runtime: keyed by versions
        Path(os.__file__).read_text()
        (scratch / "transient").read_text()  # the temporary directory: no input
        (hub / "datasets/dataset_info.json").read_text()
        (cache / "torch/kernel.bin").read_bytes()
        with pytest.raises(FileNotFoundError):
            (root / "eval/tasks/optional.txt").read_text()
    assert set(found) == {
        "eval/tasks/helper.py",
        "eval/data/arc/extra.csv",
        "eval/tasks/optional.txt",
        outside.resolve().as_posix(),
    }
    assert found["eval/tasks/optional.txt"] is None  # absent when read: its appearance is a change
    assert inputs(Runtime(root), [str(root / "eval/results/x.json")]) == {}
