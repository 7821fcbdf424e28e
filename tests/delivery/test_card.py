"""The card header reader and the data_files normaliser (delivery/card.py), held against the libraries that
load a card: huggingface_hub's DatasetCard (what `datasets.load_dataset` reads the header with) and the
datasets library's own data_files normaliser. What a lock records of a card (loading_of) changes with what
loads and not with prose. test_card_files.py covers what card_files.py checks against a lock (Card.of,
check_read_path, check_task_kwargs) and the shapes Card.of reads."""

from pathlib import Path

import pytest
from datasets.data_files import sanitize_patterns
from huggingface_hub import DatasetCard

from evalpin.base.errors import EvalpinError
from evalpin.delivery.card import ANY_FILE, INFOS, Loading, front_matter, hashed_header, loading_of, splits_of

CONFIGS = "configs:\n- config_name: a\n  data_files: a/*.csv\n"
A = {"configs": [{"config_name": "a", "data_files": "a/*.csv"}]}


def write_card(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "README.md").write_bytes(text.encode())
    return folder / "README.md"


HEADER_BUG = "card.header_value splits on any '---', not on a line of its own as huggingface_hub does"


@pytest.mark.parametrize(
    "text",
    [
        f"---\n{CONFIGS}---\n# Prose\n",
        f"---\n{CONFIGS}---\n".replace("\n", "\r\n"),
        "---\nlicense: mit\n---\nA paragraph.\n\n---\n\nBelow a rule.\n",
        "# No header\n\nconfigs: none here\n",
        "",
        pytest.param(
            f"---\npretty_name: A --- B\n{CONFIGS}---\n",
            marks=pytest.mark.xfail(strict=True, reason=f"{HEADER_BUG}: the configs are dropped"),
            id="dashes-inside-a-value",
        ),
        pytest.param(
            f"\n---\n{CONFIGS}---\n",
            marks=pytest.mark.xfail(strict=True, reason=f"{HEADER_BUG}: a header after a blank line"),
            id="blank-line-first",
        ),
        pytest.param(
            f"---\n{CONFIGS}",
            marks=pytest.mark.xfail(strict=True, reason=f"{HEADER_BUG}: an unclosed header is no header"),
            id="unclosed",
        ),
        pytest.param(
            "----\nlicense: mit\n----\n",
            marks=pytest.mark.xfail(strict=True, reason=f"{HEADER_BUG}: '----' is a rule, not a header"),
            id="four-dashes",
        ),
    ],
)
def test_the_header_is_what_huggingface_hub_reads_for_the_datasets_library(tmp_path, text):
    card = write_card(tmp_path, text)
    assert front_matter(card) == DatasetCard.load(card).data.to_dict()


def test_a_header_that_is_no_mapping_or_no_yaml_is_refused_on_one_line_naming_the_card(tmp_path):
    card = write_card(tmp_path / "list", "---\n- a\n- b\n---\n")
    with pytest.raises(EvalpinError) as caught:
        front_matter(card)
    assert str(caught.value) == (
        f"{card}: its YAML header is list, not a mapping; fix the card at its source and pin the dataset "
        "again with `evalpin pin-data`."
    )
    assert front_matter(tmp_path / "absent" / "README.md") == {}  # a dataset without a card


@pytest.mark.xfail(
    strict=True,
    reason="header_value puts PyYAML's multi-line message (a position in '<unicode string>') in the error; "
    "documents.read_yaml gives FILE:LINE and the problem on one line",
)
def test_a_header_that_is_not_yaml_is_one_line_naming_the_card_and_the_fix(tmp_path):
    card = write_card(tmp_path, "---\nlicense: mit\nconfigs: [a, b\n---\n")
    with pytest.raises(EvalpinError) as caught:
        front_matter(card)
    message = str(caught.value)
    assert message.startswith(f"{card}") and "not valid YAML" in message
    assert message.endswith("pin the dataset again with `evalpin pin-data`.") and "\n" not in message


def test_what_a_lock_records_changes_with_what_loads_and_not_with_prose(tmp_path):
    def sha(text: str, infos: str | None = None) -> str:
        folder = tmp_path / str(len(list(tmp_path.iterdir())))
        write_card(folder, text)
        if infos is not None:
            (folder / INFOS).write_text(infos)
        return loading_of(folder).header_sha256

    base = sha(f"---\nlicense: mit\n{CONFIGS}---\nAbout the data.\n")
    descriptive = f"---\nlicense: apache-2.0\npretty_name: A\ntags: [x]\n{CONFIGS}---\nOther prose.\n"
    assert sha(descriptive) == base  # license, pretty_name, tags, the prose: a card patch
    loading_edits = {
        "configs": f"---\nlicense: mit\n{CONFIGS.replace('a/*.csv', 'b/*.csv')}---\nAbout the data.\n",
        "dataset_info": f"---\nlicense: mit\n{CONFIGS}dataset_info:\n  splits: [train]\n---\n",
        "an unknown field": f"---\nlicense: mit\n{CONFIGS}builder_name: csv\n---\n",
        "dataset_infos.json": None,
    }
    shas = {
        what: sha(text) if text else sha(f"---\nlicense: mit\n{CONFIGS}---\n", '{"a": {}}')
        for what, text in loading_edits.items()
    }
    assert base not in shas.values() and len(set(shas.values())) == len(shas)
    assert sha("No header at all.\n") == sha("") == sha("Other prose.\n")


def test_a_header_that_does_not_read_is_hashed_not_refused_so_that_a_change_shows(tmp_path):
    """An upstream card is compared (diff, check-upstream), never loaded: its header is hashed as it is."""
    bad = write_card(tmp_path / "bad", "---\nconfigs: [a\n---\n")
    (text,) = hashed_header(bad).values()  # under one key, as it is
    assert list(hashed_header(bad)) == ["<unparsable header>"] and text.strip() == "configs: [a"
    listed = write_card(tmp_path / "list", "---\n- a\n---\n")
    assert hashed_header(listed) == {"<header>": ["a"]}
    assert loading_of(bad.parent).configs == {} == loading_of(listed.parent).configs
    worse = write_card(tmp_path / "worse", "---\nconfigs: [b\n---\n")
    assert loading_of(worse.parent).header_sha256 != loading_of(bad.parent).header_sha256


def test_the_configs_a_lock_records_and_the_files_each_may_read(tmp_path):
    card = (
        "---\nconfigs: [3, {config_name: a, data_files: [{split: test, path: a/test-*}, "
        "{split: dev, path: [a/dev-*, extra/*.csv]}]}, {data_files: d/*}, {config_name: bare}, "
        "{config_name: odd, data_files: 7}]\n---\n"
    )
    write_card(tmp_path, card)
    loading = loading_of(tmp_path)
    assert loading.configs == {
        "a": ["a/test-*", "a/dev-*", "extra/*.csv"],
        "default": ["d/*"],  # no config_name: the datasets library's "default"
        "bare": ANY_FILE,  # no data_files: it may read any file of the snapshot
        "odd": ANY_FILE,  # not data_files: not refused here (an upstream card is compared, not loaded)
    }
    assert loading.configs_of("a/test-00000-of-00001.parquet") == ["a", "bare", "odd"]
    assert loading.configs_of("extra/more.csv") == ["a", "bare", "odd"]
    assert loading.configs_of("d/x.parquet") == ["default", "bare", "odd"]
    assert Loading("0" * 64, {}).configs_of("anything") is None  # a card declaring no configs
    write_card(tmp_path / "scalar", "---\nconfigs: 3\n---\n")
    assert loading_of(tmp_path / "scalar").configs == {}


@pytest.mark.parametrize(
    "files",
    [
        "x/*.csv",
        ["a.csv", "b/*.csv"],
        [{"split": "test", "path": "t.csv"}, {"split": "dev", "path": ["d1.csv", "d2.csv"]}],
        {"test": "z.csv", "dev": ["w1.csv", "w2.csv"]},
        [],
    ],
    ids=["pattern", "patterns", "split-path-list", "mapping", "empty-list"],
)
def test_data_files_read_as_the_datasets_library_reads_them(files):
    assert splits_of(Path("README.md"), "x", files) == sanitize_patterns(files)


@pytest.mark.parametrize(
    "files",
    [
        7,
        ["a.csv", {"split": "test", "path": "t.csv"}],
        [{"split": "test"}],
        {"test": 3},
        {"test": ["a.csv", None]},
    ],
    ids=["number", "mixed-list", "split-without-path", "number-pattern", "none-in-patterns"],
)
def test_other_data_files_are_one_line_naming_the_card_the_config_and_the_field(files):
    with pytest.raises(EvalpinError) as caught:
        splits_of(Path("eval/data/arc/README.md"), "ARC-Easy", files)
    message = str(caught.value)
    assert message.startswith(f"eval/data/arc/README.md: config 'ARC-Easy' field 'data_files' is {files!r};")
    assert "expected a path pattern" in message and "`evalpin pin-data`" in message and "\n" not in message
    assert splits_of(Path("README.md"), "x", None) == {}  # none listed: patterns_read gives ANY_FILE
