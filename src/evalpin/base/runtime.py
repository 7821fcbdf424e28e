"""The runtime's versions (Python, installed packages, the container image), read from package metadata
without importing anything (torch takes seconds to import). Two records, two package lists: a lock records
what took stock of a delivery, a task key what computes a score."""

from __future__ import annotations

import functools
import os
import platform
from importlib import metadata

# Recorded in a lock (verify compares them to the runtime that re-checks it).
RUNTIME_PACKAGES = ("torch", "transformers", "tokenizers", "lm_eval", "dvc", "huggingface_hub")
# What computes a score: in a task key, a change of any of these versions recomputes every task.
RESULT_PACKAGES = ("torch", "transformers", "tokenizers", "lm_eval", "datasets", "numpy", "peft", "gguf")


@functools.cache  # read per task key: 9 packages x 3 keys x 57 leaves of mmlu were 1,398 metadata scans
def package_version(package: str) -> str:
    """An installed package's version from its metadata (no import), or "absent"."""
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "absent"


def current_runtime(packages: tuple[str, ...] = RUNTIME_PACKAGES) -> dict[str, str]:
    """The Python version, each of `packages`' versions and the image digest (EVALPIN_IMAGE_DIGEST, where
    set), in that order."""
    versions = {"python": platform.python_version()}
    versions.update((package, package_version(package)) for package in packages)
    if image := os.environ.get("EVALPIN_IMAGE_DIGEST"):
        versions["image"] = image
    return versions
