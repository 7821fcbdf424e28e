"""Plain-text tables for the terminal: left-aligned columns, two spaces apart, no trailing blanks."""

from __future__ import annotations

from collections.abc import Sequence


def columns(rows: Sequence[Sequence[str]], free_last: bool = False) -> str:
    """Align every column; with free_last the last column is not padded (long free text)."""
    aligned = len(rows[0]) - 1 if free_last else len(rows[0])
    widths = [max(len(row[i]) for row in rows) for i in range(aligned)]
    lines = []
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row[:aligned], widths, strict=True)]
        lines.append("  ".join([*cells, *row[aligned:]]).rstrip())
    return "\n".join(lines)
