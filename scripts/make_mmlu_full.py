"""Write a full-size MMLU-shaped dataset in the Hub's layout of cais/mmlu (57 configs at MMLU's real row
counts; synthetic text) for measuring at the size users run:

    python scripts/make_mmlu_full.py [DIR]      # default .cache/mmlu-full

The generator is tests/support/mmlu_full.py (its docstring says what it writes); tests and `make bench`
call it themselves.
"""

from __future__ import annotations

import sys
from pathlib import Path

from support.mmlu_full import write

if __name__ == "__main__":
    print(write(Path(sys.argv[1] if len(sys.argv) > 1 else ".cache/mmlu-full")))
