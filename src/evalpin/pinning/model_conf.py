"""What a model pin declares in the project, beside its lock: conf/model/NAME.yaml (the pinned identity and
its safety switches, which Hydra composes into params.yaml) and NAME's entry under dvc.yaml's `artifacts:`
(gto versions it, `dvc artifacts get` fetches it). Both are edited in place: what a user added stays."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from evalpin.base import project
from evalpin.base.atomic import write_atomic
from evalpin.base.documents import read_yaml
from evalpin.base.errors import EvalpinError
from evalpin.config.persist import flow
from evalpin.pinning.requests import PinRequest


def write_model_conf(root: Path, request: PinRequest, commit: str, gguf_file: str | None = None) -> None:
    """conf/model/NAME.yaml: the pinned identity plus the safety switches; other keys a user added stay.
    `gguf_file`: the GGUF file the backends load from models/NAME (a quantized delivery)."""
    path = project.model_conf_path(root, request.name)
    conf = read_yaml(path, f"fix or delete {path.relative_to(root)}, then pin again", missing_ok=True)
    identity = {"name": request.name, "repo_id": request.repo_id, "revision": commit}
    conf.update(identity, upstream=request.upstream)
    conf.update(trust_remote_code=request.trust_remote_code, allow_pickle=request.allow_pickle)
    conf.pop("base", None)
    conf.pop("gguf_file", None)
    if gguf_file:
        conf["gguf_file"] = gguf_file
    conf.setdefault("add_bos_token", False)
    header = (
        f"# Written by `evalpin pin`: {request.repo_id} at commit {commit}.\n"
        f"# Files: models/{request.name}/ (DVC); their sha256s: models/{request.name}.lock.json.\n"
    )
    if request.base:  # loaded as the base plus this adapter; the base decides BOS handling
        base_conf_file = project.model_conf_path(root, request.base)
        restore = f"restore it: `git checkout conf/model/{request.base}.yaml`"
        base_conf = read_yaml(base_conf_file, restore, missing_ok=True)
        conf.update(base=request.base, add_bos_token=bool(base_conf.get("add_bos_token", False)))
        header += f"# A peft adapter on the pinned base {request.base} (models/{request.base}.lock.json).\n"
    write_atomic(path, header + yaml.safe_dump(conf, sort_keys=False))


def register_artifact(root: Path, name: str, repo_id: str, base: str | None = None) -> None:
    """Declare models/NAME under `artifacts:` in dvc.yaml (once), so gto tags version it and
    `dvc artifacts get` can fetch it. The entry's lines are inserted as text at the end of the artifacts
    block, in its indentation: every other line of the user's dvc.yaml stays as it was."""
    path = root / "dvc.yaml"
    text = path.read_text() if path.is_file() else ""
    if name in ((yaml.safe_load(text) or {}).get("artifacts") or {}):
        return
    entry = {
        "path": f"{project.MODELS_DIR}/{name}",
        "type": "model",
        "desc": f"{repo_id}, pinned by commit and per-file sha256 (models/{name}.lock.json)"
        + (f"; a peft adapter certified on {base}" if base else ""),
        **({"labels": ["adapter"]} if base else {}),
    }
    updated = with_artifact(text, name, entry)
    if (yaml.safe_load(updated).get("artifacts") or {}).get(name) != entry:
        raise EvalpinError(
            f"{path}: could not add artifacts.{name} by inserting lines (its `artifacts:` block has a layout "
            f"evalpin does not edit). Add it by hand: {name}: {entry}"
        )
    write_atomic(path, updated)


def with_artifact(text: str, name: str, entry: dict) -> str:
    """dvc.yaml's text with NAME's entry appended to its `artifacts:` block (added at the end if none)."""

    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    head = next((i for i, line in enumerate(lines) if line.startswith("artifacts:")), None)
    if head is not None and not re.match(r"artifacts:\s*(#.*)?$", lines[head]):
        raise EvalpinError(
            f"dvc.yaml line {head + 1}: `artifacts:` with a value on its line; write it as a block "
            f"(`artifacts:` alone, its entries indented below), then pin again."
        )
    if head is None:
        lines.append("artifacts:\n")
        head = len(lines) - 1
    end = head + 1
    while end < len(lines) and (lines[end][:1] in (" ", "\t") or not lines[end].strip()):
        end += 1
    while end > head + 1 and not lines[end - 1].strip():
        end -= 1
    children = [line for line in lines[head + 1 : end] if line.strip() and not line.lstrip().startswith("#")]
    step = children[0][: len(children[0]) - len(children[0].lstrip())] if children else "  "
    block = [f"{step}{name}:\n"]
    for key, value in entry.items():
        if isinstance(value, list):
            block += [f"{step * 2}{key}:\n", *(f"{step * 3}- {flow(item)}\n" for item in value)]
        else:
            block.append(f"{step * 2}{key}: {flow(value)}\n")
    lines[end:end] = block
    return "".join(lines)
