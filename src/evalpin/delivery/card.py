"""What a dataset card tells the datasets library to load, recorded in a dataset's lock so that `diff`
and `check-upstream` can tell a change in what is loaded from a prose edit.

A Hub dataset's README.md opens with a YAML header. Its `configs:` (config_name, data_files per split,
builder arguments) and `dataset_info:` (features, splits) decide which files load and as what; a change
there is a data change (major), even when no data file changed. The rest of the header (license, tags,
pretty_name, ...) and the prose below it describe the data: a change there is a card patch. A legacy
`dataset_infos.json` carries features too and counts with the header.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

CARD = "README.md"
INFOS = "dataset_infos.json"
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


def header(text: str) -> dict:
    """The YAML header of a card's text ({} when it has none or it does not parse as a mapping)."""
    import yaml

    if not text.startswith("---"):
        return {}
    try:
        found = yaml.safe_load(text.split("---", 2)[1])
    except yaml.YAMLError:
        return {"<unparsable header>": text.split("---", 2)[1]}  # still hashed: a change shows
    return found if isinstance(found, dict) else {"<header>": found}


def loading_of(directory: Path) -> Loading:
    """What the card in `directory` (a pinned or upstream snapshot) tells the datasets library to load."""
    card, infos = directory / CARD, directory / INFOS
    fields = header(card.read_text(encoding="utf-8", errors="replace")) if card.is_file() else {}
    loading = {k: v for k, v in fields.items() if k not in DESCRIPTIVE}
    infos_sha = hashlib.sha256(infos.read_bytes()).hexdigest() if infos.is_file() else None
    canonical = json.dumps({"header": loading, INFOS: infos_sha}, sort_keys=True, default=str)
    return Loading(hashlib.sha256(canonical.encode()).hexdigest(), config_patterns(loading.get("configs")))


def config_patterns(configs: object) -> dict[str, list[str]]:
    """config_name -> every data_files pattern it lists (a list of {split, path} or a split -> path map)."""
    found: dict[str, list[str]] = {}
    for config in configs if isinstance(configs, list) else []:
        if not isinstance(config, dict):
            continue
        files = config.get("data_files") or []
        if isinstance(files, dict):
            paths = list(files.values())
        elif isinstance(files, list):
            paths = [f.get("path") if isinstance(f, dict) else f for f in files]
        else:
            paths = [files]
        patterns = [p for path in paths for p in ([path] if isinstance(path, str) else path or [])]
        # no data_files (a data_dir, a builder's own layout): it may read any file
        found[str(config.get("config_name", "default"))] = [str(p) for p in patterns] or ["*"]
    return found
