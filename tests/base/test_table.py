"""Plain-text tables (base/table.py): columns aligned two spaces apart, no trailing blanks."""

from evalpin.base.table import columns


def test_every_column_is_as_wide_as_its_widest_cell_two_spaces_apart():
    rows = [("task", "score", "n"), ("demo_color_mc", "0.5", "12"), ("gsm8k", "0.25", "1319")]
    assert columns(rows).splitlines() == [
        "task           score  n",
        "demo_color_mc  0.5    12",
        "gsm8k          0.25   1319",
    ]


def test_no_line_ends_in_blanks_even_when_its_last_cells_are_empty():
    table = columns([("file", "role", "note"), ("a.json", "", ""), ("model.safetensors", "weights", "")])
    assert table.splitlines() == ["file               role     note", "a.json", "model.safetensors  weights"]
    assert all(line == line.rstrip() for line in table.splitlines())


def test_free_last_leaves_the_long_last_column_unpadded_and_unmeasured():
    rows = [("changed", "a long free-text explanation that would widen nothing"), ("x", "short")]
    assert columns(rows, free_last=True).splitlines() == [
        "changed  a long free-text explanation that would widen nothing",
        "x        short",
    ]
    assert columns([("only",), ("column",)], free_last=True) == "only\ncolumn"
