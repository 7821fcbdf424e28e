import pytest

from evalpin.base.documents import parsed_task, read_json, read_task_yaml, read_yaml, switch
from evalpin.base.errors import EvalpinError


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"model: [unclosed\n", r"x.yaml:2: not valid YAML \(expected ',' or '\]', but got '<stream end>'\)"),
        (b"name: caf\xe9\n", r"x.yaml: not UTF-8 \(byte 9: invalid continuation byte\). Save it as UTF-8"),
        (b"- a\n- b\n", r"x.yaml: holds a list, where a mapping \(key: value lines\) is expected"),
        (b"just text\n", r"x.yaml: holds a str"),
    ],
)
def test_a_bad_yaml_file_is_one_line_naming_it_never_unicode_string(tmp_path, content, message):
    """params.yaml's parse error was named "<unicode string>"; a non-UTF-8 conf file was a traceback."""
    path = tmp_path / "x.yaml"
    path.write_bytes(content)
    with pytest.raises(EvalpinError, match=rf"^{tmp_path}/{message}.*Fix: run this") as raised:
        read_yaml(path, "run this")
    assert "<unicode string>" not in str(raised.value) and "\n" not in str(raised.value)


def test_an_empty_missing_or_directory_yaml(tmp_path):
    (tmp_path / "empty.yaml").write_text("")
    assert read_yaml(tmp_path / "empty.yaml", "x") == {}
    assert read_yaml(tmp_path / "absent.yaml", "x", missing_ok=True) == {}
    with pytest.raises(EvalpinError, match=r"absent.yaml: not found, where a YAML file is expected"):
        read_yaml(tmp_path / "absent.yaml", "x")
    (tmp_path / "dir.yaml").mkdir()
    with pytest.raises(EvalpinError, match=r"dir.yaml: a directory, where a YAML file is expected"):
        read_yaml(tmp_path / "dir.yaml", "x", missing_ok=True)


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "not valid JSON"), (b"[1]", "holds a list"), (b'{"a": "\xff"}', "not valid JSON")],
)
def test_a_bad_json_file_names_itself_and_the_fix(tmp_path, content, message):
    path = tmp_path / "metrics.json"
    path.write_bytes(content)
    with pytest.raises(EvalpinError, match=rf"metrics.json: {message}.*Fix: rerun"):
        read_json(path, "rerun")
    path.unlink()
    path.mkdir()
    with pytest.raises(EvalpinError, match=r"metrics.json: not valid JSON"):
        read_json(path, "rerun")


@pytest.mark.parametrize("value", ["no", "false", 0, 1, "yes"])
def test_a_switch_is_true_or_false_never_a_truthy_string(value):
    with pytest.raises(EvalpinError, match=rf"conf/x.yaml: field 'allow_pickle' is {value!r}; expected true"):
        switch({"allow_pickle": value}, "allow_pickle", "conf/x.yaml")


def test_a_switch_absent_or_null_is_false():
    assert switch({}, "allow_pickle", "x") is False and switch({"k": None}, "k", "x") is False
    assert switch({"k": True}, "k", "x") is True


def test_the_task_loader_keeps_function_targets_and_names_a_bad_task_yaml(tmp_path):
    """One loader for every reader of lm-eval task YAMLs (catalog search, local tasks, task keys)."""
    text = "task: t\nprocess_results: !function utils.score\nx: !tagged [1]\n"
    assert parsed_task(text) == {"task": "t", "process_results": "!function utils.score", "x": "!tagged"}
    path = tmp_path / "t.yaml"
    path.write_bytes(b"task: [unclosed\n")
    with pytest.raises(EvalpinError, match=r"t.yaml:2: not valid YAML .*Fix: restore it"):
        read_task_yaml(path, "restore it")


BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{n}: &{n} [{', '.join([f'*{p}'] * 9)}]\n" for p, n in zip("abcdefgh", "bcdefghi", strict=False)
)


def test_a_yaml_alias_bomb_is_refused_before_anything_is_built(tmp_path):
    """Nine levels of nine aliases: 9**9 strings for whatever walks the result (Hydra, a key's hash)."""
    path = tmp_path / "bomb.yaml"
    path.write_text(BOMB)
    with pytest.raises(EvalpinError, match=r"bomb.yaml: its YAML aliases expand to 490,329,064 values"):
        read_yaml(path, "x")
    with pytest.raises(EvalpinError, match=r"a task YAML: its YAML aliases expand to"):
        parsed_task(BOMB + "task: t\n")
    path.write_text("base: &b {x: 1}\none: *b\ntwo: *b\n")  # a few aliases are fine
    assert read_yaml(path, "x")["two"] == {"x": 1}


def test_a_json_key_given_twice_is_refused_naming_it(tmp_path):
    path = tmp_path / "x.json"
    path.write_text('{"sha256": "aa", "size": 1, "sha256": "bb"}')
    with pytest.raises(EvalpinError, match=r"x.json: not valid JSON \(duplicate key 'sha256'\)"):
        read_json(path, "restore it")
