"""What a dataset card tells the datasets library to load, recorded in a dataset's lock so that `diff`
and `check-upstream` can tell a change in what is loaded from a prose edit.

A Hub dataset's README.md opens with a YAML header. Its `configs:` (config_name, data_files per split,
builder arguments) and `dataset_info:` (features, splits) decide which files load and as what; a change
there is a data change (major), even when no data file changed. The rest of the header (license, tags,
pretty_name, ...) and the prose below it describe the data: a change there is a card patch. A legacy
`dataset_infos.json` carries features too and counts with the header.

The one reader of a card's header (front_matter: strict, parsed once per text) and the one normaliser of
a config's data_files (splits_of) live here; card_files.py checks what they read against the lock.
"""

from __future__ import annotations

import fnmatch
import functools
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import yaml

from evalpin.base.errors import EvalpinError

CARD = "README.md"
INFOS = "dataset_infos.json"
DEFAULT_SPLIT = "train"  # the split the datasets library gives data_files listed without one
ANY_FILE = ["*"]  # the patterns of a config that lists no data_files: it may read any file
REPIN = "; fix the card at its source and pin the dataset again with `evalpin pin-data`."
# Hub card metadata that describes a dataset and is not read by `datasets.load_dataset`.
DESCRIPTIVE = frozenset(
    {
        "annotations_creators",
        "language_creators",
        "language",
        "language_bcp47",
        "language_details",
        "license",
        "license_name",
        "license_link",
        "license_details",
        "multilinguality",
        "size_categories",
        "source_datasets",
        "task_categories",
        "task_ids",
        "paperswithcode_id",
        "pretty_name",
        "tags",
        "thumbnail",
        "arxiv",
        "citation",
        "dataset_summary",
        "train-eval-index",
        "co2_eq_emissions",
        "viewer",
        "extra_gated_prompt",
        "extra_gated_fields",
        "extra_gated_heading",
        "extra_gated_button_content",
        "extra_gated_description",
    }
)


@dataclass(frozen=True)
class Loading:
    """`header_sha256`: over the card header's loading fields (everything but DESCRIPTIVE) and
    dataset_infos.json; `configs`: config_name -> its data_files patterns (all splits), {} when the card
    declares none (the datasets library then reads every data file)."""

    header_sha256: str
    configs: dict[str, list[str]]

    def configs_of(self, path: str) -> list[str] | None:
        """The configs whose data_files match `path`; None when the card declares no configs."""
        if not self.configs:
            return None
        return [
            name for name, patterns in self.configs.items() if any(fnmatch.fnmatch(path, p) for p in patterns)
        ]


def front_matter(path: Path) -> dict:
    """The YAML header of a card (empty without one), read from the file each time, parsed once per
    text: callers only read it."""
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    header = header_value(text, path)
    if header is not None and not isinstance(header, dict):
        raise EvalpinError(f"{path}: its YAML header is {type(header).__name__}, not a mapping{REPIN}")
    return header or {}


def header_value(text: str, path: Path) -> object:
    """What the YAML header of a card's `text` parses to (None without one); EvalpinError naming `path`
    when it is not YAML."""
    if not text.startswith("---"):
        return None
    try:
        return parsed_header(text.split("---")[1])
    except yaml.YAMLError as exc:
        raise EvalpinError(f"{path}: its YAML header is not valid YAML ({exc}){REPIN}") from exc


@functools.lru_cache(maxsize=64)
def parsed_header(text: str) -> object:
    """A card's header parsed (libyaml): full-size MMLU's card (57 configs x 3 splits) is read once per
    leaf and per check, and took 0.13 s a parse in pure-Python YAML."""
    return yaml.load(text, Loader=yaml.CSafeLoader)


def hashed_header(card: Path) -> dict:
    """The header as loading_of hashes it, never refused (an upstream card is compared, not loaded): one
    that is not YAML as its text, one that is not a mapping under "<header>", so that a change shows."""
    text = card.read_text(encoding="utf-8", errors="replace") if card.is_file() else ""
    if not text.startswith("---"):
        return {}
    try:
        found = header_value(text, card)
    except EvalpinError:
        return {"<unparsable header>": text.split("---")[1]}
    return found if isinstance(found, dict) else {"<header>": found}


def loading_of(directory: Path) -> Loading:
    """What the card in `directory` (a pinned or upstream snapshot) tells the datasets library to load."""
    card, infos = directory / CARD, directory / INFOS
    fields = hashed_header(card)
    loading = {k: v for k, v in fields.items() if k not in DESCRIPTIVE}
    infos_sha = hashlib.sha256(infos.read_bytes()).hexdigest() if infos.is_file() else None
    canonical = json.dumps({"header": loading, INFOS: infos_sha}, sort_keys=True, default=str)
    return Loading(hashlib.sha256(canonical.encode()).hexdigest(), config_patterns(loading.get("configs")))


def config_patterns(configs: object) -> dict[str, list[str]]:
    """config_name -> every data_files pattern it lists (all splits), ANY_FILE where it lists none or
    they do not read as data_files; what is not a config (a mapping) is skipped."""
    found: dict[str, list[str]] = {}
    for config in configs if isinstance(configs, list) else []:
        if isinstance(config, dict):
            try:
                splits = splits_of(Path(CARD), config_name(config), config.get("data_files") or None)
            except EvalpinError:
                splits = {}
            found[config_name(config)] = patterns_read(splits)
    return found


def config_name(config: dict) -> str:
    return str(config.get("config_name") or "default")


def patterns_read(splits: dict[str, list[str]]) -> list[str]:
    """Every pattern of a config's splits; ANY_FILE where it lists none (a data_dir, a builder's own
    layout): the datasets library may then read any file of the snapshot."""
    return [p for patterns in splits.values() for p in patterns] or list(ANY_FILE)


def splits_of(path: Path, config: str, files: object) -> dict[str, list[str]]:
    """A config's data_files as split -> patterns, in each shape the datasets library accepts: a pattern,
    a list of patterns (split train), a list of {split, path}, or a mapping split -> pattern(s); {} when
    it lists none (patterns_read: it may read any file). EvalpinError naming `path` for another shape."""
    if files is None:
        return {}
    if isinstance(files, str) or (isinstance(files, list) and all(isinstance(f, str) for f in files)):
        return {DEFAULT_SPLIT: as_list(files)}
    if isinstance(files, list) and all(isinstance(f, dict) for f in files):
        pairs = [(f.get("split", DEFAULT_SPLIT), f.get("path")) for f in files]
    elif isinstance(files, dict):
        pairs = list(files.items())
    else:
        pairs = [(None, None)]
    if any(not is_patterns(p) for _, p in pairs):
        raise EvalpinError(
            f"{path}: config {config!r} field 'data_files' is {files!r}; expected a path pattern, a list of "
            f"them, a list of {{split, path}} or a mapping split -> pattern(s){REPIN}"
        )
    return {str(s): as_list(p) for s, p in pairs}


def is_patterns(patterns: object) -> bool:
    return isinstance(patterns, str) or (
        isinstance(patterns, list) and all(isinstance(p, str) for p in patterns)
    )


def as_list(patterns: str | list[str] | None) -> list[str]:
    return [patterns] if isinstance(patterns, str) else list(patterns or [])
