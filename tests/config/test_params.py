"""params.yaml typed (config/params.py): each section's fields, its raw mapping kept for the task keys,
and a value that cannot be typed named as params_check names it."""

from __future__ import annotations

import copy

import pytest

from evalpin.base.errors import EvalpinError
from evalpin.config.compose import load_params
from evalpin.config.params import Params
from support import TEMPLATE


@pytest.fixture
def data() -> dict:
    return load_params(TEMPLATE)


def test_each_section_is_typed_and_keeps_what_params_yaml_holds(data):
    data["model"]["note"] = "a key a user added"  # pin keeps other keys of conf/model/NAME.yaml
    params = Params.from_dict(data)
    assert params.model.name == params.model.base == "demo-tiny" and params.model.gguf_file is None
    assert params.model.raw["note"] == "a key a user added" and params.raw == data
    assert params.inference.batch_size == 1 and params.inference.numerics == "portable"
    assert params.suite.tasks == tuple(data["suite"]["tasks"]) and params.suite.limit is None
    assert params.backend.model_args == {} and params.gate.k_stderr == 2.0
    assert params.launcher.name == "local" and params.signing.release_keys == ()
    for name in ("model", "inference", "suite", "backend", "gate", "signing", "launcher"):
        assert getattr(params, name).raw == data[name]


def test_the_mapping_is_copied_and_optional_fields_take_their_defaults(data):
    original = copy.deepcopy(data)
    for key in ("signing", "launcher"):
        del data[key]
    del data["inference"]["numerics"]
    del data["suite"]["chat_tasks"]
    params = Params.from_dict(data)
    data["inference"]["batch_size"] = 8
    assert params.inference.batch_size == 1 and params.inference.raw["batch_size"] == 1
    assert params.inference.numerics == "fast" and "numerics" not in params.inference.raw
    assert params.suite.chat_tasks == () and params.launcher.name == "local"
    assert Params.from_dict(original).inference.numerics == "portable"


def test_a_value_that_cannot_be_typed_is_named_as_the_check_names_it(data):
    del data["inference"]["seed"]
    with pytest.raises(EvalpinError, match=r"params.yaml: inference.seed is '<missing>'; expected an"):
        Params.from_dict(data)
    data["inference"]["seed"] = 1
    data["model"]["trust_remote_code"] = "no"
    with pytest.raises(EvalpinError, match=r"field 'trust_remote_code' is 'no'; expected true or false"):
        Params.from_dict(data)
    data.pop("gate")
    with pytest.raises(EvalpinError, match=r"section 'gate' is None, expected a mapping from conf/gate/"):
        Params.from_dict(data)
