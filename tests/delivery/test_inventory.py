"""Taking stock of a delivery (delivery/inventory.py): every file listed and hashed, symlinks refused, the
chat templates, the model config and the context length read, a dataset's lock with what its card loads.
test_lock.py covers the demo model's lock (roles, template, config, runtime, a symlinked file) and its
schema; test_card.py what loading_of records."""

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

from evalpin.base.errors import EvalpinError
from evalpin.base.runtime import RUNTIME_PACKAGES
from evalpin.delivery.card import loading_of
from evalpin.delivery.inventory import (
    build_lock,
    chat_template_digests,
    list_delivery,
    max_positions,
    model_config_summary,
)
from evalpin.delivery.lock import Source
from evalpin.delivery.roles import DATASET
from support import HUB_REPO, TEMPLATE, demo_commit

SOURCE = Source("org/x", "0" * 40, None, None, None)
TEMPLATE_TEXT = "{% for m in messages %}{{ m['content'] }}{% endfor %}"


def files(folder: Path, contents: dict[str, str | bytes]) -> Path:
    for rel, content in contents.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return folder


def sha256(data: str | bytes) -> str:
    return hashlib.sha256(data if isinstance(data, bytes) else data.encode()).hexdigest()


def test_every_file_is_listed_by_its_relative_posix_path_in_order(tmp_path):
    delivery = files(tmp_path / "d", {"b.json": "{}", "a/z.bin": b"z", "a/b/c.txt": "c", "a/a.txt": "a"})
    (delivery / "empty" / "deeper").mkdir(parents=True)  # folders without files add nothing
    found = list_delivery(delivery)
    assert found == ["a/a.txt", "a/b/c.txt", "a/z.bin", "b.json"]
    assert found == sorted(p.relative_to(delivery).as_posix() for p in delivery.rglob("*") if p.is_file())


@pytest.mark.parametrize("target", ["outside", "missing"], ids=["a-linked-folder", "a-dangling-link"])
def test_a_linked_folder_or_a_dangling_link_is_refused_on_one_line_naming_it(tmp_path, target):
    delivery = files(tmp_path / "d", {"config.json": "{}"})
    files(tmp_path / "outside", {"weights.safetensors": b"w"})
    link = delivery / "sub"
    link.symlink_to(tmp_path / target, target_is_directory=True)
    with pytest.raises(EvalpinError) as caught:
        list_delivery(delivery)
    message = str(caught.value)
    assert message.startswith(f"{link}: symlinks are not allowed in a pinned model directory")
    assert "`evalpin pin`" in message and "\n" not in message


def test_each_file_is_locked_with_its_size_and_the_sha256_the_hub_names_its_blob_by(tmp_path):
    """The demo's weights are an LFS file in its hub cache: the blob is named by its sha256, which the lock
    must record (the Hub's own etag), computed from the copy's bytes."""
    snapshot = HUB_REPO / "snapshots" / demo_commit("r1")
    delivery = tmp_path / "delivery"
    shutil.copytree(snapshot, delivery)  # the cache's symlinks resolved, as a pin copies them
    lock = build_lock(delivery, "demo-tiny", SOURCE)
    weights = lock.by_path()["model.safetensors"]
    assert weights.sha256 == Path(os.readlink(snapshot / "model.safetensors")).name
    assert weights.size == (snapshot / "model.safetensors").stat().st_size
    for locked in lock.files:
        assert locked.sha256 == sha256((delivery / locked.path).read_bytes()), locked.path
    assert lock.gguf is None and lock.kind is None and lock.loading is None


def test_a_chat_template_hashes_the_same_as_a_file_or_embedded_and_each_is_recorded(tmp_path):
    delivery = files(
        tmp_path / "d",
        {
            "chat_template.jinja": TEMPLATE_TEXT,
            "templates/tool_use.jinja": "{{ tools }}",
            "tokenizer_config.json": json.dumps({"chat_template": TEMPLATE_TEXT, "eos_token": "</s>"}),
        },
    )
    found = chat_template_digests(delivery)
    assert found == {
        "chat_template.jinja": sha256(TEMPLATE_TEXT),
        "templates/tool_use.jinja": sha256("{{ tools }}"),
        "tokenizer_config.json#chat_template": sha256(TEMPLATE_TEXT),  # the same text, the same digest
    }


def test_named_templates_embedded_as_a_list_hash_by_content_not_by_key_order(tmp_path):
    named = [{"name": "default", "template": TEMPLATE_TEXT}, {"name": "tool_use", "template": "{{ tools }}"}]

    def embedded(value: object, folder: str) -> dict[str, str]:
        config = json.dumps({"chat_template": value}, sort_keys=False)
        return chat_template_digests(files(tmp_path / folder, {"tokenizer_config.json": config}))

    reordered = [{"template": t["template"], "name": t["name"]} for t in named]
    assert embedded(named, "a") == embedded(reordered, "b") != embedded(named[:1], "c")
    assert embedded(None, "none") == {} == chat_template_digests(tmp_path / "nothing")
    assert embedded("", "empty") == {"tokenizer_config.json#chat_template": sha256("")}  # set, if empty


def test_the_model_config_summary_reads_the_dtype_under_either_name(tmp_path):
    quantized = {"quant_method": "gptq", "bits": 4}
    current = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "dtype": "bfloat16", "x": 1}
    older = {"model_type": "mistral", "torch_dtype": "float16", "quantization_config": quantized}
    both = {"dtype": "float32", "torch_dtype": "float16"}
    summary = {
        name: model_config_summary(files(tmp_path / name, {"config.json": json.dumps(config)}))
        for name, config in {"current": current, "older": older, "both": both}.items()
    }
    assert summary["current"] == {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "dtype": "bfloat16",
        "quantization_config": None,
    }
    assert (summary["older"]["dtype"], summary["older"]["quantization_config"]) == ("float16", quantized)
    assert summary["both"]["dtype"] == "float32"  # transformers 5 writes `dtype`; `torch_dtype` is older
    assert model_config_summary(tmp_path) == {}  # no config.json (a GGUF-only delivery)
    bad = files(tmp_path / "bad", {"config.json": "{'single': 'quotes'}"})
    with pytest.raises(EvalpinError, match=rf"^{bad}/config.json: not valid JSON \(.*\)\. Restore it"):
        model_config_summary(bad)


def test_the_context_length_is_max_position_embeddings_or_unknown(tmp_path):
    assert max_positions(HUB_REPO / "snapshots" / demo_commit("r1")) == 512
    cases = {"absent": None, "text": '{"max_position_embeddings": "512"}', "null": "{}", "broken": "{"}
    for name, text in cases.items():
        folder = tmp_path / name
        folder.mkdir()
        if text is not None:
            (folder / "config.json").write_text(text)
        assert max_positions(folder) is None, name


def test_a_datasets_lock_holds_its_files_and_what_its_card_loads_and_no_model_fields(tmp_path):
    """A dataset may carry .json and .jinja files; they are data or card, never a model's config or
    template. Its lock records what the card loads (loading_of), the runtime, and every file."""
    snapshot = next((TEMPLATE / "demo/hub/datasets--evalpin-demo--mmlu/snapshots").iterdir())
    data = tmp_path / "mmlu"
    shutil.copytree(snapshot, data)
    files(data, {"config.json": '{"model_type": "llama"}', "prompts/x.jinja": TEMPLATE_TEXT})
    lock = build_lock(data, "mmlu", Source("cais/mmlu", snapshot.name, None, None, None), kind=DATASET)
    assert (lock.kind, lock.chat_templates, lock.model_config, lock.gguf) == (DATASET, {}, {}, None)
    assert lock.loading == loading_of(data) and set(lock.loading.configs) == {
        "high_school_biology",
        "nutrition",
        "high_school_geography",
    }
    assert [f.path for f in lock.files] == list_delivery(data)
    assert list(lock.runtime)[: 1 + len(RUNTIME_PACKAGES)] == ["python", *RUNTIME_PACKAGES]


@pytest.mark.parametrize("name", ["config.json", "tokenizer_config.json"])
def test_a_model_file_that_is_json_but_no_object_is_one_line_naming_it(tmp_path, name):
    delivery = files(tmp_path / "d", {name: "[1, 2]"})
    with pytest.raises(EvalpinError) as caught:
        build_lock(delivery, "x", SOURCE)
    assert str(caught.value).startswith(f"{delivery / name}: ") and "\n" not in str(caught.value)


def test_a_config_that_is_json_but_no_object_gives_no_context_length(tmp_path):
    assert max_positions(files(tmp_path, {"config.json": "[512]"})) is None
