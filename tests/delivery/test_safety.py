"""The safety policy the roles decide (delivery/safety.py): pickle weights and remote code in a model, a
loading script in a dataset, refused unless opted in, each refusal naming the files and the switch.
Through `evalpin pin` and `verify`: tests/pinning/test_pin.py (test_pickle_weights_are_refused_unless_allowed,
test_remote_code_is_refused_unless_trusted, the loading-script pin-data test)."""

import pytest

from evalpin.base.errors import EvalpinError
from evalpin.delivery.inventory import build_lock
from evalpin.delivery.lock import Source
from evalpin.delivery.roles import DATASET
from evalpin.delivery.safety import check_data_safety, check_safety, files_of_role


def _lock(folder, files: dict[str, bytes], kind=None):
    folder.mkdir()
    for path, data in files.items():
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_bytes(data)
    return build_lock(folder, folder.name, Source("org/x", "0" * 40, None, None, None), kind=kind)


def test_safetensors_without_code_passes_with_every_switch_off(tmp_path):
    lock = _lock(tmp_path / "m", {"config.json": b"{}", "model.safetensors": b"x", "tokenizer.json": b"{}"})
    check_safety(lock, allow_pickle=False, trust_remote_code=False, where="conf/model/m.yaml")
    assert files_of_role(lock, "remote_code") == [] and files_of_role(lock, "weights") == [
        "model.safetensors"
    ]


def test_pickle_weights_are_named_with_the_switch_that_allows_them(tmp_path):
    lock = _lock(
        tmp_path / "m",
        {"config.json": b"{}", "pytorch_model.bin": b"\x80\x04", "extra/optimizer.pt": b"\x80"},
    )
    with pytest.raises(EvalpinError) as caught:
        check_safety(lock, allow_pickle=False, trust_remote_code=False, where="conf/model/m.yaml")
    message = str(caught.value)
    assert message.startswith("conf/model/m.yaml: pickle weights ['extra/optimizer.pt', 'pytorch_model.bin']")
    assert "`allow_pickle: true` in conf/model/NAME.yaml (pin with --allow-pickle)" in message
    check_safety(lock, allow_pickle=True, trust_remote_code=False, where="conf/model/m.yaml")


def test_remote_code_is_named_with_the_switch_that_trusts_it(tmp_path):
    lock = _lock(
        tmp_path / "m", {"config.json": b"{}", "modeling_odd.py": b"import os\n", "a.safetensors": b""}
    )
    with pytest.raises(
        EvalpinError, match=r"^pin: the delivery carries remote code \['modeling_odd.py'\]"
    ) as c:
        check_safety(lock, allow_pickle=True, trust_remote_code=False, where="pin")
    assert "pin with --trust-remote-code (sets `trust_remote_code: true`" in str(c.value)
    check_safety(lock, allow_pickle=False, trust_remote_code=True, where="pin")


def test_pickles_are_refused_before_remote_code(tmp_path):
    lock = _lock(tmp_path / "m", {"modeling_odd.py": b"", "model.pkl": b""})
    with pytest.raises(EvalpinError, match=r"pickle weights \['model.pkl'\]"):
        check_safety(lock, allow_pickle=False, trust_remote_code=False, where="pin")


def test_a_datasets_loading_script_is_refused_unless_trusted(tmp_path):
    files = {"README.md": b"---\n---\n", "ai2_arc.py": b"import datasets\n", "data/test.parquet": b"PAR1"}
    lock = _lock(tmp_path / "arc", files, kind=DATASET)
    with pytest.raises(EvalpinError) as caught:
        check_data_safety(lock, trust_loading_script=False, where="conf/data/arc.yaml")
    message = str(caught.value)
    assert message.startswith("conf/data/arc.yaml: the dataset carries loading script(s) ['ai2_arc.py']")
    assert "refs/convert/parquet" in message and "--trust-loading-script" in message
    check_data_safety(lock, trust_loading_script=True, where="conf/data/arc.yaml")
    # a dataset's .py is a loading script, not a model's remote code: the model switch does not apply
    assert files_of_role(lock, "remote_code") == []
    check_safety(lock, allow_pickle=False, trust_remote_code=False, where="x")


def test_parquet_only_datasets_pass(tmp_path):
    lock = _lock(tmp_path / "arc", {"README.md": b"---\n---\n", "test.parquet": b"PAR1"}, kind=DATASET)
    check_data_safety(lock, trust_loading_script=False, where="conf/data/arc.yaml")
