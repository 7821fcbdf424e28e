"""A passed check is reused only for exactly the inputs it read (base/proven.py): the composition of conf/,
the catalog check of the suite's catalog entries, the weights check of a verified delivery."""

import json
import shutil

import pytest

from evalpin.base import proven
from evalpin.base.errors import EvalpinError
from evalpin.config import compose
from evalpin.suite import catalog, catalog_tree
from evalpin.suite.catalog_tree import resolve


def test_a_result_is_recalled_only_for_the_inputs_it_was_recorded_with(tmp_path):
    proven.remember(tmp_path, "check", {"file": "a" * 64}, {"answer": [1, 2]})
    assert proven.recall(tmp_path, "check", {"file": "a" * 64}) == {"answer": [1, 2]}
    assert proven.recall(tmp_path, "check", {"file": "b" * 64}) is None
    assert proven.recall(tmp_path, "check", None) is None  # inputs that cannot be proven: never reused
    assert proven.recall(tmp_path, "other", {"file": "a" * 64}) is None


@pytest.mark.parametrize("text", ["", "{not json", "[1, 2]", '{"inputs": {}}', '{"inputs": [], "result": 1}'])
def test_an_unreadable_or_foreign_record_is_a_miss(tmp_path, text):
    path = proven.record_path(tmp_path, "check")
    path.parent.mkdir(parents=True)
    path.write_text(text)
    assert proven.recall(tmp_path, "check", {}) is None


@pytest.mark.parametrize("inputs", [{1: "int key"}, {"nan": float("nan")}, {"set": {1}}])
def test_what_json_would_not_give_back_the_same_is_never_recorded(tmp_path, inputs):
    proven.remember(tmp_path, "check", inputs)
    assert not proven.record_path(tmp_path, "check").exists()


def test_the_composition_is_reused_until_a_file_under_conf_changes(template_repo, monkeypatch):
    composed = compose.composition(template_repo)
    assert json.loads(proven.record_path(template_repo, "composition").read_text())["result"]["files"]

    def fails(*_):
        raise AssertionError("composed again")

    with monkeypatch.context() as patched:
        patched.setattr(compose, "composed", fails)
        assert compose.composition(template_repo) == composed  # reused: Hydra is not even imported
        conf = template_repo / "conf/inference/cpu-fp32.yaml"
        conf.write_text(conf.read_text().replace("batch_size: 1", "batch_size: 2"))
        with pytest.raises(AssertionError, match="composed again"):
            compose.composition(template_repo)
    assert compose.composition(template_repo)[0]["inference"]["batch_size"] == 2


def test_a_conf_that_reads_outside_conf_is_composed_every_time(template_repo):
    assert compose.composition_inputs(template_repo) is not None
    conf = template_repo / "conf/inference/cpu-fp32.yaml"
    conf.write_text(conf.read_text() + "note: ${now:%H}\n")  # a resolver: the clock is an input
    assert compose.composition_inputs(template_repo) is None


@pytest.fixture
def small_catalog(tmp_path, monkeypatch):
    """lm-eval's arc folder as a whole catalog, which the test may edit."""
    folder = tmp_path / "catalog"
    shutil.copytree(catalog_tree.catalog_dir() / "arc", folder / "arc")
    monkeypatch.setattr(catalog_tree, "catalog_dir", lambda: folder)
    monkeypatch.setattr(catalog, "catalog_dir", lambda: folder)
    resolve.cache_clear()
    yield folder
    resolve.cache_clear()


def test_the_catalog_check_is_reused_until_a_file_it_read_changes(template_repo, small_catalog, monkeypatch):
    suite = {"catalog": [{"task": "arc_easy", "data": "arc"}]}
    runs = []
    trees = catalog.trees
    monkeypatch.setattr(catalog, "trees", lambda s: runs.append(1) or trees(s))

    def checks() -> int:
        resolve.cache_clear()  # a new process
        catalog.check_cards(template_repo, suite)
        return len(runs)

    assert checks() == 1
    assert checks() == 1  # reused
    easy = small_catalog / "arc/arc_easy.yaml"
    easy.write_text(easy.read_text() + "# edited\n")
    assert checks() == 2  # a catalog file it read changed
    assert checks() == 2
    (small_catalog / "arc/new_task.yaml").write_text("task: new_task\ndataset_path: x\n")
    assert checks() == 3  # a file appeared in a folder it read
    suite["catalog"].append({"task": "arc_challenge", "data": "arc"})
    assert checks() == 4  # another entry
    assert checks() == 4
    card = template_repo / "eval/data/arc/README.md"
    card.parent.mkdir(parents=True)
    card.write_text("---\nconfigs: []\n---\n")
    for _ in range(2):  # the dataset is on disk now: its card is read, and a failing check is never reused
        with pytest.raises(EvalpinError, match=r"README.md: field 'configs' has no config_name 'ARC-Easy'"):
            checks()


def test_the_weights_check_of_a_verified_delivery_is_reused_unless_full(pinned_repo, monkeypatch):
    from evalpin.delivery import verify

    runs = []
    check_weights = verify.check_weights
    monkeypatch.setattr(verify, "check_weights", lambda *a: runs.append(1) or check_weights(*a))
    shutil.rmtree(pinned_repo / ".evalpin/checks", ignore_errors=True)
    for full, expected in ((False, 1), (False, 1), (True, 2)):
        _, report = verify.verify_pinned(pinned_repo, "demo-tiny", full=full)
        assert report.ok and len(runs) == expected
    weights = next(p for p in (pinned_repo / "models/demo-tiny").iterdir() if p.suffix == ".safetensors")
    weights.chmod(0o644)
    weights.write_bytes(weights.read_bytes()[:-1])  # truncated: verify reports the drift before any reuse
    _, report = verify.verify_pinned(pinned_repo, "demo-tiny")
    assert not report.ok and len(runs) == 2
