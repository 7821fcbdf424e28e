"""What params.yaml selects (config/selection.py): the model it evaluates, the pinned datasets its suite
reads and which of their configs. `verify` recording and stopping on the suite's datasets through the CLI
is tests/delivery/test_verify.py::test_verify_records_and_stops_on_the_suites_datasets."""

import pytest
import yaml

from evalpin.base.errors import DriftError, EvalpinError
from evalpin.config.selection import configs_read, default_model, suite_datasets, verify_suite_datasets
from evalpin.pinning.pin import pin_dataset
from evalpin.pinning.requests import DataPinRequest
from support import ARC_COMMIT, write_dataset_cache


def _edit_params(repo, **sections) -> None:
    params = repo / "params.yaml"
    conf = yaml.safe_load(params.read_text())
    for key, value in sections.items():
        if value is None:
            del conf[key]
        else:
            conf[key] = {**conf[key], **value}
    params.write_text(yaml.safe_dump(conf))


ARC_EASY = {"catalog": [{"task": "arc_easy", "data": "arc"}]}


def test_the_model_named_wins_else_the_one_params_yaml_evaluates(pinned_repo):
    assert default_model(pinned_repo, "another") == "another"  # checked as a name, not as a pin
    assert default_model(pinned_repo, None) == default_model(pinned_repo, "") == "demo-tiny"


def test_an_unsafe_name_is_refused_from_the_command_line_or_params_yaml(pinned_repo):
    with pytest.raises(EvalpinError, match=r"^model name '\.\./evil': use lower-case letters"):
        default_model(pinned_repo, "../evil")
    _edit_params(pinned_repo, model={"name": "Demo Tiny"})
    with pytest.raises(EvalpinError, match=r"^model name 'Demo Tiny'"):
        default_model(pinned_repo, None)


def test_params_yaml_without_a_model_section_or_at_all_names_the_fix(pinned_repo):
    _edit_params(pinned_repo, model=None)
    with pytest.raises(EvalpinError) as caught:
        default_model(pinned_repo, None)
    assert str(caught.value).startswith("params.yaml: section 'model' is ")  # the file and the field
    assert "conf/model/" in str(caught.value)  # where it comes from
    (pinned_repo / "params.yaml").unlink()
    with pytest.raises(
        EvalpinError, match=r"params.yaml: not found.*Fix: write it from conf/ with `evalpin compose`"
    ):
        default_model(pinned_repo, None)
    assert default_model(pinned_repo, "demo-tiny") == "demo-tiny"  # a named model needs no params.yaml


def test_the_demo_suite_reads_no_pinned_dataset(pinned_repo):
    assert suite_datasets(pinned_repo) == []
    assert configs_read(pinned_repo, "arc") == set()
    assert verify_suite_datasets(pinned_repo) == {}


def test_a_catalog_task_reads_its_dataset_and_config(pinned_repo):
    _edit_params(pinned_repo, suite=ARC_EASY)
    assert suite_datasets(pinned_repo) == ["arc"]  # nothing pinned yet: read from params.yaml alone
    assert configs_read(pinned_repo, "arc") == {"ARC-Easy"}  # lm-eval's arc_easy reads dataset_name ARC-Easy
    assert configs_read(pinned_repo, "mmlu") == set()  # pinned or not, the suite does not read it


def test_when_the_suite_cannot_say_every_config_counts(pinned_repo):
    _edit_params(pinned_repo, suite={"catalog": [{"task": "no_such_task_anywhere", "data": "arc"}]})
    assert configs_read(pinned_repo, "arc") is None
    _edit_params(pinned_repo, suite=None)
    assert configs_read(pinned_repo, "arc") is None


def test_the_suites_datasets_verify_or_the_first_that_does_not_is_named(pinned_repo):
    _edit_params(pinned_repo, suite=ARC_EASY)
    with pytest.raises(EvalpinError, match=r"eval/data/arc.lock.json: dataset 'arc' is not pinned\. Pin it"):
        verify_suite_datasets(pinned_repo)
    write_dataset_cache(pinned_repo / "hub")
    lock = pin_dataset(pinned_repo, DataPinRequest("tests/arc", ARC_COMMIT, "arc", "hub"))
    assert verify_suite_datasets(pinned_repo) == {
        "arc": {"name": "arc", "revision": ARC_COMMIT, "lock_digest": lock.digest}
    }
    (pinned_repo / "eval/data/arc/README.md").write_text("---\n---\n")
    with pytest.raises(DriftError, match=r"eval/data/arc does not match eval/data/arc.lock.json"):
        verify_suite_datasets(pinned_repo)
