"""The safety policy the roles decide: pickle weights and remote code in a model, loading scripts in a
dataset, are refused unless the user opted in."""

from __future__ import annotations

from evalpin.base.errors import EvalpinError
from evalpin.delivery.lock import Lock
from evalpin.delivery.roles import is_pickle


def check_safety(lock: Lock, allow_pickle: bool, trust_remote_code: bool, where: str) -> None:
    """Pickle weights and remote code can run code when loaded: refused unless the user opted in."""
    if (pickles := [f.path for f in lock.files if is_pickle(f.path)]) and not allow_pickle:
        raise EvalpinError(
            f"{where}: pickle weights {pickles} can run code when loaded. Prefer a safetensors revision; "
            "if you must, set `allow_pickle: true` in conf/model/NAME.yaml (pin with --allow-pickle)."
        )
    if (code := files_of_role(lock, "remote_code")) and not trust_remote_code:
        raise EvalpinError(
            f"{where}: the delivery carries remote code {code}, which transformers would execute. "
            "Review it, then pin with --trust-remote-code "
            "(sets `trust_remote_code: true`; every .py is locked)."
        )


def check_data_safety(lock: Lock, trust_loading_script: bool, where: str) -> None:
    """A dataset loading script (*.py) is remote code that `datasets` would run: refused unless trusted."""
    if (scripts := files_of_role(lock, "loading_script")) and not trust_loading_script:
        raise EvalpinError(
            f"{where}: the dataset carries loading script(s) {scripts}, code that `datasets` would run. "
            "Prefer a revision with parquet data (the Hub's `refs/convert/parquet`); if you reviewed the "
            "script, pin with `evalpin pin-data ... --trust-loading-script` (sets `trust_loading_script: "
            "true` in conf/data/NAME.yaml; every .py is locked)."
        )


def files_of_role(lock: Lock, role: str) -> list[str]:
    return [f.path for f in lock.files if f.role == role]
