"""params.yaml, the composition of conf/ that the stages read: its sections."""

from __future__ import annotations

from evalpin.base.errors import EvalpinError


def section(params: dict, key: str) -> dict:
    value = params.get(key)
    if not isinstance(value, dict):
        raise EvalpinError(
            f"params.yaml: section {key!r} is missing. It comes from conf/{key}/; run `evalpin compose`."
        )
    return value
