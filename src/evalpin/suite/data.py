"""What to pin for a suite's catalog entries: each Hub dataset their leaves read (dataset_path, configs,
splits), whether the dataset the entry binds it to is pinned with those configs, and the commands that pin
the rest: `evalpin pin-data` from the Hub, or `hf download` on a connected machine, then `evalpin
pin-data --local-dir` here.

The --include globs are `CONFIG/*` per config the leaves read (the Hub's layout: parquet per config and
split in a folder named after the config, as cais/mmlu, allenai/ai2_arc and openai/gsm8k have it); a
dataset read only as its default config is pinned whole.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from evalpin.base import project
from evalpin.base.errors import EvalpinError
from evalpin.delivery.card_files import Card
from evalpin.delivery.demo import DEMO_UPSTREAM, is_demo
from evalpin.delivery.verify import load_data_lock
from evalpin.suite import catalog
from evalpin.suite.catalog_tree import TASK, Node, kind_word, resolve

SPLIT_FIELDS = ("test_split", "validation_split", "fewshot_split", "training_split")


@dataclass(frozen=True)
class Need:
    """One Hub dataset as a suite's leaves read it, and the pinned dataset that should hold it."""

    path: str  # the catalog's dataset_path, a Hub repo id
    name: str  # eval/data/NAME: what the suite binds it to, or pin-data's default name
    bound: bool  # whether the suite binds it (else `name` is a suggestion)
    configs: tuple[str, ...]
    splits: tuple[str, ...]
    leaves: tuple[str, ...]


def needs_of(node: Node, data: str | dict | None) -> list[Need]:
    """The Hub datasets `node`'s leaves read, each with the pinned dataset `data` binds it to."""
    by_path: dict[str, list[Node]] = {}
    for leaf in node.leaves():
        by_path.setdefault(str(leaf.config.get("dataset_path")), []).append(leaf)
    found = []
    for path, leaves in sorted(by_path.items()):
        name = data if isinstance(data, str) and len(by_path) == 1 else None
        name = data.get(path) if isinstance(data, dict) else name
        configs = sorted({str(leaf.config.get("dataset_name") or "default") for leaf in leaves})
        splits = sorted({str(leaf.config[f]) for leaf in leaves for f in SPLIT_FIELDS if leaf.config.get(f)})
        default = path.split("/")[-1].lower()
        found.append(
            Need(
                path,
                name or default,
                name is not None,
                tuple(configs),
                tuple(splits),
                tuple(leaf.name for leaf in leaves),
            )
        )
    return found


def selected(suite: dict, entry: str | None) -> list[tuple[str, Node, str | dict | None]]:
    """(label, tree, data) per catalog entry of the suite, or for ENTRY: an index into `catalog:`, a name
    an entry runs, or any catalog name (what pinning it would take before it is added to the suite)."""
    listed = [
        (f"catalog[{i}] {node.name}", node, e["data"]) for i, (e, node) in enumerate(catalog.trees(suite))
    ]
    if entry is None:
        return listed
    if entry.isdigit() and int(entry) < len(listed):
        return [listed[int(entry)]]
    named = [item for item in listed if item[1].name == entry]
    return named or [(entry, resolve(entry), None)]


def merged(items: list[tuple[str, Node, str | dict | None]], suite: dict) -> dict[tuple[str, str], Need]:
    """The needs of `items`, one per (Hub dataset, pinned name); a pinned dataset's configs are those of
    every suite entry bound to it (a re-pin must keep them all)."""
    found: dict[tuple[str, str], Need] = {}
    everything = [need for _, node, data in selected(suite, None) for need in needs_of(node, data)]
    wanted = {(n.path, n.name) for _, node, data in items for n in needs_of(node, data)}
    for need in [*everything, *(n for _, node, data in items for n in needs_of(node, data))]:
        key = (need.path, need.name)
        if key not in wanted:
            continue
        old = found.get(key)
        if old is not None:
            need = Need(
                need.path,
                need.name,
                need.bound or old.bound,
                tuple(sorted({*old.configs, *need.configs})),
                tuple(sorted({*old.splits, *need.splits})),
                tuple(dict.fromkeys([*old.leaves, *need.leaves])),
            )
        found[key] = need
    return found


def pinned_state(root: Path, need: Need) -> tuple[str, list[str]]:
    """How eval/data/NAME holds `need`: a one-line state, and the configs it lacks."""

    if not project.data_lock_path(root, need.name).is_file():
        return f"eval/data/{need.name} is not pinned", list(need.configs)
    lock = load_data_lock(root, need.name)
    source = f"{lock.source.repo_id}@{lock.source.revision[:12]}"
    where = f"eval/data/{need.name} pinned from {source} (lock {lock.digest[:12]})"
    if is_demo(lock):  # synthetic questions under the demo's own id: the real dataset is still to pin
        return (
            f"{where}: the demo's synthetic stand-in for {need.path} (from {DEMO_UPSTREAM}); "
            f"the real {need.path} is not pinned",
            list(need.configs),
        )
    card = Card.read(root, need.name)
    lacking = [c for c in need.configs if c not in card.configs or card.missing(c)]
    if lock.source.repo_id != need.path:
        where += f", not from {need.path}"
    return (
        f"{where}, lacking {len(lacking)} config(s)" if lacking else f"{where}: every config present"
    ), lacking


def includes(need: Need) -> list[str]:
    return [] if need.configs == ("default",) else [f"'{c}/*'" for c in need.configs]


def commands(need: Need) -> list[str]:
    """Pin `need` from the Hub; or across an air gap: download on a connected machine, pin here."""
    globs = includes(need)
    folder = f"{need.name}-snapshot"
    metadata = f"{folder}/.cache/huggingface/download/README.md.metadata"  # its first line: the commit
    pin = ["evalpin pin-data", need.path, "--revision main --resolve --name", need.name]
    hf = ["hf download", need.path, "--repo-type dataset --revision main"]
    local = ["evalpin pin-data", need.path, f"--revision $(head -1 {metadata})", "--name", need.name]
    return [
        "online:",
        "  " + " ".join([*pin, *(f"--include {g}" for g in globs)]),
        "air-gapped: on a connected machine, then copy the folder into this repository and pin it here:",
        "  "
        + " ".join(
            [
                *hf,
                *(f"--include {g}" for g in (["README.md", *globs] if globs else [])),
                "--local-dir",
                folder,
            ]
        ),
        "  " + " ".join([*local, "--local-dir", folder]),
    ]


def describe(root: Path, suite: dict, entry: str | None = None) -> str:
    """The report `evalpin suite-data [ENTRY]` prints."""
    items = selected(suite, entry)
    if not items:
        raise EvalpinError(
            "params.yaml: suite.catalog lists no catalog entries; name one: `evalpin suite-data mmlu`."
        )
    lines = [
        f"{label}: {kind_word(node)}" + ("" if node.kind == TASK else f" of {len(node.leaves())} tasks")
        for label, node, _ in items
    ]
    for need in merged(items, suite).values():
        state, lacking = pinned_state(root, need)
        lines += [
            "",
            f"{need.path}: {shorten(need.configs, 'config')} (splits {', '.join(need.splits)}), "
            f"read by {len(need.leaves)} task(s)",
            f"  {'bound to' if need.bound else 'not bound; e.g.'} data {need.name}: {state}",
        ]
        if lacking:
            lines += ["  " + line for line in commands(need)]
    unlisted = [(node, needs_of(node, None)) for label, node, data in items if data is None]
    for node, needs in unlisted:
        data = (
            needs[0].name if len(needs) == 1 else "{" + ", ".join(f"{n.path}: {n.name}" for n in needs) + "}"
        )
        lines += ["", f"in conf/suite/, once pinned: `catalog: [{{task: {node.name}, data: {data}}}]`"]
    return "\n".join(lines)


def shorten(names: tuple[str, ...], word: str) -> str:
    """`3 configs a, b, c`; past eight, the first and last three."""
    shown = names if len(names) <= 8 else (*names[:3], "...", *names[-3:])
    return f"{len(names)} {word}{'s' if len(names) > 1 else ''} {', '.join(shown)}"
