import dataclasses
import json
import re
from pathlib import Path

import pytest

from evalpin.base.errors import EvalpinError
from evalpin.delivery.inventory import build_lock
from evalpin.delivery.lock import BaseBinding, Source, load_lock, parse_lock, save_lock
from evalpin.delivery.roles import role_of
from support import TEMPLATE, build_demo_lock


@pytest.mark.parametrize(
    ("path", "role"),
    [
        ("model.safetensors", "weights"),
        ("model-00001-of-00002.safetensors", "weights"),
        ("model.safetensors.index.json", "weights"),
        ("pytorch_model.bin", "weights"),
        ("tokenizer.json", "tokenizer"),
        ("tokenizer_config.json", "tokenizer"),
        ("tokenizer.model", "tokenizer"),
        ("chat_template.jinja", "chat_template"),
        ("generation_config.json", "generation_config"),
        ("config.json", "model_config"),
        ("adapter_config.json", "model_config"),
        ("quantize_config.json", "quantization"),
        ("modeling_custom.py", "remote_code"),
        ("README.md", "other"),
    ],
)
def test_roles(path: str, role: str):
    assert role_of(path) == role


@pytest.fixture
def demo_lock(tmp_path: Path):
    return build_demo_lock(tmp_path), tmp_path / "delivery"


def test_lock_records_every_file_role_template_and_config(demo_lock, tmp_path: Path):
    lock, delivery = demo_lock
    assert {f.path for f in lock.files} == {p.name for p in delivery.iterdir()}
    by_path = lock.by_path()
    assert by_path["model.safetensors"].size == (delivery / "model.safetensors").stat().st_size
    assert by_path["chat_template.jinja"].role == "chat_template"
    assert "chat_template.jinja" in lock.chat_templates
    assert lock.model_config["architectures"] == ["LlamaForCausalLM"]
    assert lock.model_config["dtype"] == "float32"
    assert {"python", "torch", "transformers", "tokenizers", "lm_eval", "dvc"} <= lock.runtime.keys()
    save_lock(lock, tmp_path / "x.lock.json")
    assert load_lock(tmp_path / "x.lock.json") == lock


def test_digest_depends_on_content_only(demo_lock):
    lock, _ = demo_lock
    assert len(lock.digest) == 64
    assert lock.digest == dataclasses.replace(lock, runtime={"python": "0"}).digest


def _data(lock) -> dict:
    return json.loads(lock.to_json())


def test_unknown_field_is_an_error(demo_lock):
    data = _data(demo_lock[0])
    data["files"][0]["mode"] = "0644"
    with pytest.raises(
        EvalpinError, match=r"files\[0\] \(chat_template.jinja\): unknown field\(s\) \[.mode.\]"
    ):
        parse_lock(data, "x.lock.json")


def test_missing_field_is_an_error(demo_lock):
    data = _data(demo_lock[0])
    del data["source"]["revision"]
    with pytest.raises(EvalpinError, match=r"x.lock.json: source: missing field\(s\) \['revision'\]"):
        parse_lock(data, "x.lock.json")


@pytest.mark.parametrize("bad", ["/etc/passwd", "../outside.json", "a/../../b", ""])
def test_paths_must_stay_inside_the_model_directory(demo_lock, bad: str):
    data = _data(demo_lock[0])
    data["files"][0]["path"] = bad
    with pytest.raises(EvalpinError, match="not a plain relative path"):
        parse_lock(data, "x.lock.json")


def test_unknown_role_and_schema_are_errors(demo_lock):
    data = _data(demo_lock[0])
    data["files"][0]["role"] = "magic"
    with pytest.raises(EvalpinError, match="role 'magic'"):
        parse_lock(data, "x.lock.json")
    data = _data(demo_lock[0])
    data["schema"] = 99
    with pytest.raises(EvalpinError, match="schema"):
        parse_lock(data, "x.lock.json")


def test_symlink_in_delivery_is_refused(demo_lock, tmp_path: Path):
    _, delivery = demo_lock
    (delivery / "escape.json").symlink_to("/etc/hostname")
    with pytest.raises(EvalpinError, match=r"escape\.json: symlinks are not allowed"):
        build_lock(delivery, "demo-tiny", Source("evalpin/demo-tiny", "0" * 40, None, None, None))


def test_a_path_listed_twice_is_an_error(demo_lock):
    data = _data(demo_lock[0])
    data["files"].append(dict(data["files"][0]))
    with pytest.raises(EvalpinError, match="listed twice"):
        parse_lock(data, "x.lock.json")


def test_later_optional_fields_are_left_out_when_unset_and_read_back_when_set(demo_lock, tmp_path: Path):
    lock, _ = demo_lock
    data = _data(lock)
    assert "base" not in data and {"local_dir", "provenance"}.isdisjoint(data["source"])
    committed = TEMPLATE / "models/demo-tiny.lock.json"  # written before adapters; gone after clean-start
    assert not committed.is_file() or parse_lock(json.loads(committed.read_text()), "committed").base is None
    bound = dataclasses.replace(lock, base=BaseBinding("demo-tiny", "evalpin/demo-tiny", "0" * 40, "f" * 64))
    save_lock(bound, tmp_path / "adapter.lock.json")
    assert load_lock(tmp_path / "adapter.lock.json") == bound


def test_an_incomplete_base_binding_is_an_error(demo_lock):
    data = _data(demo_lock[0])
    data["base"] = {"name": "demo-tiny", "revision": "0" * 40}
    with pytest.raises(
        EvalpinError, match=r"x.lock.json: base: missing field\(s\) \['lock_digest', 'repo_id'\]"
    ):
        parse_lock(data, "x.lock.json")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda d: d["files"][0].update(size="129"),
            r"files\[0\] \(chat_template.jinja\): field 'size' is '129', expected an integer",
        ),
        (lambda d: d["files"][0].update(size=True), r"field 'size' is True, expected an integer"),
        (lambda d: d["files"][0].update(size=-1), r"field 'size' is -1, expected a size in bytes"),
        (
            lambda d: d["files"][0].update(sha256="ABC"),
            r"field 'sha256' is 'ABC', expected 64 lower-case hex",
        ),
        (lambda d: d["files"][0].update(path=3), r"files\[0\]: field 'path' is 3, expected a string"),
        (lambda d: d.update(files={}), r"field 'files' is \{\}, expected a list"),
        (lambda d: d.update(files=["x"]), r"files\[0\]: expected an object, found str"),
        (lambda d: d.update(chat_templates=[]), r"field 'chat_templates' is \[\], expected an object"),
        (lambda d: d.update(runtime={"torch": 2}), r"field 'runtime' is \{'torch': 2\}, expected an object"),
        (lambda d: d.update(schema="1"), r"field 'schema' is '1', expected an integer"),
        (lambda d: d["source"].update(revision=None), r"source: field 'revision' is None, expected a string"),
        (lambda d: d["source"].update(requested=1), r"field 'requested' is 1, expected a string or null"),
    ],
)
def test_a_field_of_the_wrong_type_names_the_lock_the_entry_and_the_field(demo_lock, tmp_path, edit, message):
    """A size written as a string once verified as "resized"; a list for `files` was a traceback."""
    data = _data(demo_lock[0])
    edit(data)
    path = tmp_path / "demo-tiny.lock.json"
    path.write_text(json.dumps(data))
    with pytest.raises(EvalpinError, match=rf"^{re.escape(str(path))}: .*{message}.*re-pin"):
        load_lock(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"[1, 2]", r"x.lock.json: expected an object, found list"),
        (b'{"schema": "\xff"}', r"x.lock.json: not valid JSON"),
        # json keeps the last of two equal keys silently: a reader and evalpin would see two different locks
        (b'{"schema": 2, "name": "x", "name": "y"}', r"x.lock.json: not valid JSON \(duplicate key 'name'\)"),
    ],
    ids=["no-object", "no-utf8", "a-key-twice"],
)
def test_a_lock_that_is_no_json_object_is_named(tmp_path, content, message):
    path = tmp_path / "x.lock.json"
    path.write_bytes(content)
    with pytest.raises(EvalpinError, match=message):
        load_lock(path)
