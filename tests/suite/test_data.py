"""`evalpin suite-data` (suite/data.py): the Hub datasets a suite's catalog entries read, how the pinned
datasets they are bound to hold them, and the commands that pin the rest, which evalpin's own parser and
huggingface_hub's download layout must accept. The datasets are pinned here as pin-data leaves them
(eval/data/NAME and its lock) from the demo's hub copies under real ids. test_catalog.py covers the report
for the full-size mmlu group and an unlisted tag; test_demo.py a dataset pinned from the demo."""

import shlex
import shutil
from pathlib import Path

import pytest
from huggingface_hub._local_folder import write_download_metadata

from evalpin.base.errors import EvalpinError
from evalpin.cli import build_parser
from evalpin.delivery.inventory import build_lock
from evalpin.delivery.lock import Lock, Source, save_lock
from evalpin.delivery.roles import DATASET
from evalpin.suite.catalog_tree import GROUP, Node, resolve
from evalpin.suite.data import Need, commands, describe, needs_of, pinned_state, selected, shorten
from support import TEMPLATE

HUB = TEMPLATE / "demo" / "hub"
MMLU = next((HUB / "datasets--evalpin-demo--mmlu/snapshots").iterdir())  # 3 configs of cais/mmlu's layout
ARC = HUB / "datasets--evalpin-demo--ai2_arc/snapshots/2e551ac1911c7f7f9f98b6e1310f9d3f0fcf9f07"
SUITE = {
    "catalog": [
        {"task": "mmlu_nutrition", "data": "mmlu"},
        {"group": "bio", "tasks": ["mmlu_high_school_biology", "mmlu_anatomy"], "data": "mmlu"},
    ]
}


def pin_here(root: Path, name: str, snapshot: Path, repo_id: str, drop: tuple[str, ...] = ()) -> Lock:
    """eval/data/NAME and its lock, as `evalpin pin-data` leaves them (less DVC and conf/data/)."""
    data = root / "eval" / "data" / name
    shutil.copytree(snapshot, data)  # the cache's symlinks resolved
    for rel in drop:
        (data / rel).unlink()
    lock = build_lock(
        data, name, Source(repo_id, "e" * 40, None, None, None, repo_type="dataset"), kind=DATASET
    )
    save_lock(lock, root / "eval" / "data" / f"{name}.lock.json")
    return lock


def test_each_hub_dataset_the_leaves_read_is_one_need_with_its_configs_splits_and_binding():
    mix = Node("mix", GROUP, {}, (resolve("arc_easy"), resolve("arc_challenge"), resolve("mmlu_nutrition")))
    assert needs_of(mix, {"allenai/ai2_arc": "arc"}) == [
        Need(
            "allenai/ai2_arc",
            "arc",
            True,
            ("ARC-Challenge", "ARC-Easy"),
            ("test", "train", "validation"),
            ("arc_easy", "arc_challenge"),
        ),
        Need("cais/mmlu", "mmlu", False, ("nutrition",), ("dev", "test"), ("mmlu_nutrition",)),  # unbound
    ]
    hellaswag = needs_of(resolve("hellaswag"), None)  # no dataset_name: its default config
    assert hellaswag == [
        Need("Rowan/hellaswag", "hellaswag", False, ("default",), ("train", "validation"), ("hellaswag",))
    ]
    (easy,) = needs_of(resolve("arc_easy"), "easy")
    assert (easy.name, easy.bound, easy.configs) == ("easy", True, ("ARC-Easy",))


def test_an_entry_is_picked_by_its_index_or_its_name_and_any_catalog_name_is_offered():
    assert [label for label, _, _ in selected(SUITE, None)] == ["catalog[0] mmlu_nutrition", "catalog[1] bio"]
    (label, node, data), *more = selected(SUITE, "1")
    assert (label, node.name, [leaf.name for leaf in node.leaves()], data, more) == (
        "catalog[1] bio",
        "bio",
        ["mmlu_high_school_biology", "mmlu_anatomy"],
        "mmlu",
        [],
    )
    assert [(label, data) for label, _, data in selected(SUITE, "mmlu_nutrition")] == [
        ("catalog[0] mmlu_nutrition", "mmlu")
    ]
    assert [(label, node.name, data) for label, node, data in selected(SUITE, "mmlu_anatomy")] == [
        ("mmlu_anatomy", "mmlu_anatomy", None)  # run inside `bio`, not an entry of its own: not bound
    ]


def test_a_dataset_bound_by_several_entries_must_hold_every_entrys_configs(tmp_path):
    """Only entry 0 (mmlu_nutrition) asked for, but entry 1 reads the same pinned mmlu: a re-pin must keep
    its configs too. The pinned copy holds 3 configs, not anatomy."""
    lock = pin_here(tmp_path, "mmlu", MMLU, "cais/mmlu")
    lines = describe(tmp_path, SUITE, "0").splitlines()
    assert lines[:4] == [
        "catalog[0] mmlu_nutrition: a task",
        "",
        "cais/mmlu: 3 configs anatomy, high_school_biology, nutrition (splits dev, test), read by 3 task(s)",
        f"  bound to data mmlu: eval/data/mmlu pinned from cais/mmlu@eeeeeeeeeeee (lock {lock.digest[:12]}), "
        "lacking 1 config(s)",
    ]
    online = next(line.strip() for line in lines if line.strip().startswith("evalpin pin-data"))
    args = build_parser().parse_args(shlex.split(online)[1:])
    assert (args.command, args.repo_id, args.revision, args.resolve, args.name) == (
        "pin-data",
        "cais/mmlu",
        "main",
        True,
        "mmlu",
    )
    assert args.include == ["anatomy/*", "high_school_biology/*", "nutrition/*"]


def test_the_air_gapped_commands_read_the_commit_where_hf_download_writes_it(tmp_path):
    need = Need("cais/mmlu", "mmlu", True, ("anatomy", "nutrition"), ("dev", "test"), ("mmlu_anatomy",))
    online, gap, download, local = (line.strip() for line in commands(need) if line != "online:")
    assert online.startswith("evalpin pin-data cais/mmlu") and gap.startswith("air-gapped:")
    assert download == (
        "hf download cais/mmlu --repo-type dataset --revision main --include README.md "
        "--include 'anatomy/*' --include 'nutrition/*' --local-dir mmlu-snapshot"
    )
    metadata = local.split("$(head -1 ")[1].split(")")[0]  # the file whose first line is the commit
    write_download_metadata(tmp_path / "mmlu-snapshot", "README.md", "c" * 40, "etag")  # as hf download does
    assert (tmp_path / metadata).read_text().splitlines()[0] == "c" * 40
    args = build_parser().parse_args(shlex.split(local.replace(f"$(head -1 {metadata})", "c" * 40))[1:])
    assert (args.repo_id, args.revision, args.name, args.local_dir) == (
        "cais/mmlu",
        "c" * 40,
        "mmlu",
        "mmlu-snapshot",
    )
    whole = commands(Need("Rowan/hellaswag", "hellaswag", False, ("default",), ("test",), ("hellaswag",)))
    assert not any("--include" in line for line in whole)  # read only as its default config: pinned whole


def test_a_pinned_dataset_lacks_a_config_or_a_split_or_comes_from_another_repo(tmp_path):
    nutrition = Need("cais/mmlu", "mmlu", True, ("nutrition",), ("dev", "test"), ("mmlu_nutrition",))
    assert pinned_state(tmp_path, nutrition) == ("eval/data/mmlu is not pinned", ["nutrition"])
    lock = pin_here(tmp_path, "mmlu", MMLU, "cais/mmlu", drop=("nutrition/dev-00000-of-00001.parquet",))
    state, lacking = pinned_state(tmp_path, nutrition)  # the card lists split dev, no file holds it
    assert (state.endswith(", lacking 1 config(s)"), lacking) == (True, ["nutrition"])
    assert f"(lock {lock.digest[:12]})" in state
    lock = pin_here(tmp_path, "arc", ARC, "someone/arc-mirror")
    easy = Need("allenai/ai2_arc", "arc", True, ("ARC-Easy",), ("test",), ("arc_easy",))
    assert pinned_state(tmp_path, easy) == (
        f"eval/data/arc pinned from someone/arc-mirror@eeeeeeeeeeee (lock {lock.digest[:12]}), not from "
        "allenai/ai2_arc: every config present",
        [],
    )


def test_a_name_not_in_the_suite_gets_the_entry_to_add_once_pinned(tmp_path):
    pin_here(tmp_path, "mmlu", MMLU, "cais/mmlu")
    text = describe(tmp_path, SUITE, "mmlu_nutrition")
    assert "in conf/suite/" not in text  # an entry already
    text = describe(tmp_path, {"catalog": []}, "mmlu_high_school_biology")
    assert text.splitlines()[0] == "mmlu_high_school_biology: a task"
    assert "  not bound; e.g. data mmlu: eval/data/mmlu pinned from cais/mmlu@eeeeeeeeeeee" in text
    assert text.endswith(
        "\n\nin conf/suite/, once pinned: `catalog: [{task: mmlu_high_school_biology, data: mmlu}]`"
    )
    assert "every config present" in text and "pin-data" not in text


def test_a_suite_without_catalog_entries_is_one_line_with_the_command_to_name_one(tmp_path):
    with pytest.raises(EvalpinError) as caught:
        describe(tmp_path, {"catalog": []})
    assert str(caught.value) == (
        "params.yaml: suite.catalog lists no catalog entries; name one: `evalpin suite-data mmlu`."
    )


def test_an_entry_binding_one_name_to_several_hub_datasets_lists_each(tmp_path):
    suite = {"catalog": [{"group": "mix", "tasks": ["arc_easy", "mmlu_nutrition"], "data": "mix"}]}
    text = describe(tmp_path, suite)
    assert "evalpin pin-data allenai/ai2_arc " in text and "evalpin pin-data cais/mmlu " in text


def test_long_name_lists_are_shortened_to_their_ends():
    assert shorten(("a",), "config") == "1 config a"
    assert shorten(tuple("abcdefgh"), "config") == "8 configs a, b, c, d, e, f, g, h"
    assert shorten(tuple("abcdefghi"), "split") == "9 splits a, b, c, ..., g, h, i"
