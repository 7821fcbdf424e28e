"""What each file of a delivery is (delivery/roles.py). A model's files by name are in
tests/delivery/test_lock.py::test_roles; here: datasets, folders, precedence, and which weights are
pickles."""

import pytest

from evalpin.delivery.roles import DATA_ROLES, DATASET, ROLES, is_pickle, role_of


@pytest.mark.parametrize(
    ("path", "role"),
    [
        ("ARC-Easy/test-00000-of-00001.parquet", "data"),
        ("main/train.jsonl", "data"),
        ("README.md", "card"),
        ("docs/notes.md", "card"),
        ("dataset_infos.json", "card"),
        (".gitattributes", "card"),
        ("ai2_arc.py", "loading_script"),
        ("scripts/build.py", "loading_script"),  # anywhere in the repo: code `datasets` may run
        ("tokenizer.json", "card"),  # any JSON of a dataset describes it: a model's file names mean nothing
        ("model.safetensors", "data"),
    ],
)
def test_a_datasets_files_are_data_card_or_loading_script(path, role):
    assert role_of(path, DATASET) == role
    assert role in DATA_ROLES


@pytest.mark.parametrize(
    ("path", "role"),
    [
        ("subfolder/config.json", "model_config"),  # the name decides, not the folder
        ("original/params.json", "other"),
        ("chat_template.json", "chat_template"),  # before the tokenizer patterns
        ("templates/tool_use.jinja", "chat_template"),
        ("model.imatrix", "quantization"),
        ("hqq_config.json", "quantization"),
        ("model-00001-of-00002.safetensors", "weights"),
        ("model.Q4_1.gguf", "weights"),
        ("tokenizer.model", "tokenizer"),
        ("cl100k.tiktoken", "tokenizer"),
        ("configuration_odd.py", "remote_code"),
        ("LICENSE", "other"),
        ("config.json.bak", "other"),  # fnmatch on the whole name: no prefix match
    ],
)
def test_a_models_roles_by_file_name_first_match_wins(path, role):
    assert role_of(path) == role == role_of(path, None)


def test_every_role_a_file_can_get_is_a_declared_role():
    assert DATA_ROLES == ("data", "card", "loading_script") and set(DATA_ROLES) <= set(ROLES)
    names = ["x.safetensors", "tokenizer.json", "a.jinja", "config.json", "hqq_x", "a.py", "a.txt", "a.md"]
    assert {role_of(n) for n in names} | {role_of(n, DATASET) for n in names} <= set(ROLES)


@pytest.mark.parametrize(
    ("path", "pickle"),
    [
        ("pytorch_model.bin", True),
        ("sub/adapter_model.bin", True),
        ("training_args.pt", True),
        ("model.pth", True),
        ("state.pkl", True),
        ("last.ckpt", True),
        ("model.safetensors", False),
        ("pytorch_model.bin.index.json", False),  # the index is JSON; its shards are the pickles
        ("model.gguf", False),
        ("model.onnx", False),
    ],
)
def test_pickle_weights_are_those_that_can_run_code_when_loaded(path, pickle):
    assert is_pickle(path) is pickle
