"""Where signatures live beside a lock: models/NAME.sig (release) and models/NAME.publisher.* (pin)."""

from __future__ import annotations

from pathlib import Path

from evalpin.base import project


def delivery_signature_path(root: Path, name: str) -> Path:
    return root / project.MODELS_DIR / f"{name}.sig"


def publisher_signature_path(root: Path, name: str) -> Path:
    return root / project.MODELS_DIR / f"{name}.publisher.sig"


def publisher_key_path(root: Path, name: str) -> Path:
    return root / project.MODELS_DIR / f"{name}.publisher.pub"


def publisher_chain_path(root: Path, name: str) -> Path:
    return root / project.MODELS_DIR / f"{name}.publisher-chain.pem"


def rel(root: Path, path: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)
