import ast
import contextlib
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from evalpin.base.errors import ExitCode
from evalpin.cli import build_parser
from support import TEMPLATE, demo_conf, evalpin

CLI_DIR = Path(__file__).resolve().parents[1] / "src" / "evalpin" / "cli"
# One spelling, a different meaning per command (each declared where it is used); every other option
# that several commands take is declared once, in evalpin/cli/options.py. --url: a bucket for `remote s3`,
# a server root for check-server. --baseline: compare's required side, the HTML report's optional one.
HOMONYMS = {
    "--baseline",
    "name",
    "repo_id",
    "--name",
    "--upstream",
    "--public-key",
    "--accept",
    "--dataset",
    "--url",
}


def test_help_does_not_import_heavy_libraries():
    code = (
        "import sys; from evalpin.cli import build_parser; parser = build_parser(); parser.format_help(); "
        "[p.format_help() for p in parser._subparsers._group_actions[0].choices.values()]; "
        "heavy = {'torch', 'lm_eval', 'transformers', 'dvc', 'hydra'} & set(sys.modules); "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=TEMPLATE)


def test_the_epilog_lists_every_exit_code():
    epilog = " ".join(build_parser().epilog.split())
    for code in ExitCode:
        assert f" {code.value} " in f" {epilog}", code
    assert "3 not comparable" in epilog and "130 interrupted" in epilog


def test_no_option_is_declared_twice():
    declared = defaultdict(list)  # first flag -> the help of each declaration
    for module in CLI_DIR.glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Arg":
                helps = [ast.unparse(k.value) for k in node.keywords if k.arg == "help"]
                declared[node.args[0].value].append((module.name, *helps))
    twice = {flag: where for flag, where in declared.items() if len(where) > 1}
    assert set(twice) <= HOMONYMS, {flag: twice[flag] for flag in set(twice) - HOMONYMS}
    for flag, where in twice.items():  # a homonym's meanings differ, or it would be one declaration
        assert len({w[1:] for w in where}) == len(where), (flag, where)


def test_debug_shows_the_traceback_then_the_message(tmp_path):
    for argv in (["--debug", "verify"], ["verify", "--debug"]):
        proc = subprocess.run(
            [sys.executable, "-m", "evalpin", *argv],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=False,
        )
        assert proc.returncode == 2 and proc.stderr.startswith("Traceback"), proc.stderr
        assert proc.stderr.splitlines()[-1].startswith("evalpin: no evalpin repository")


def test_outside_a_repository_is_a_usage_error(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "evalpin", "verify"], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 2 and "no evalpin repository" in proc.stderr and "Traceback" not in proc.stderr


def test_report_prints_model_commit_and_scores(reproduced_repo):
    from support import evalpin

    out = evalpin(reproduced_repo, "report").stdout
    assert "demo-tiny" in out and "verified  6 files" in out and "demo_color_mc" in out
    assert "equal to the committed baseline" in out
    assert "reproduction: exact (the same bytes; numerics class cpu-portable-" in out  # digests alone
    assert "DEMO MODEL: demo-tiny is the demo's tiny model (from demo/hub)" in out
    assert "DEMO DATA" not in out  # the demo suite's local tasks read no pinned dataset


def test_a_file_system_error_is_a_message_not_a_traceback(template_repo):
    from support import evalpin

    (template_repo / "params.yaml").unlink()
    (template_repo / "params.yaml").mkdir()  # os.replace cannot put a file there
    proc = evalpin(template_repo, "compose", check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "params.yaml" in proc.stderr and "Is a directory" in proc.stderr


def test_a_model_name_from_params_is_checked_before_it_becomes_a_path(template_repo):
    from support import evalpin

    params = template_repo / "params.yaml"
    params.write_text(params.read_text().replace("name: demo-tiny", "name: ../../etc"))
    proc = evalpin(template_repo, "verify", check=False)
    assert proc.returncode == 2 and "model name '../../etc'" in proc.stderr


def test_invalid_yaml_is_a_message_not_a_traceback(template_repo):
    from support import evalpin

    (template_repo / "params.yaml").write_text("model: [unclosed\n")
    proc = evalpin(template_repo, "verify", check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and "not valid" in proc.stderr


class ClosedPipe:
    """stdout whose reader is gone (`| head -1` exited): every write fails as a closed pipe does."""

    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")

    def flush(self) -> None:
        raise BrokenPipeError(32, "Broken pipe")


@pytest.fixture
def conf_only(tmp_path: Path) -> Path:
    """A folder evalpin takes for a repository, holding only the template's conf/ (the demo selected)."""
    demo_conf(tmp_path)
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    return tmp_path


def test_a_closed_pipe_ends_a_command_quietly_with_141(conf_only, capsys):
    """`evalpin verify | head -1` exited 2 with "Broken pipe. Fix the file system"."""
    from evalpin.cli import main

    with contextlib.chdir(conf_only), contextlib.redirect_stdout(ClosedPipe()):
        assert main(["compose"]) == ExitCode.BROKEN_PIPE == 141
    assert capsys.readouterr().err == ""  # no "Fix the file system", no traceback
    assert (conf_only / "params.yaml").is_file()  # the command's work was done; only its output was cut


def test_a_reader_that_closes_the_pipe_gets_no_traceback(conf_only):
    proc = subprocess.Popen(
        [sys.executable, "-m", "evalpin", "compose"],
        cwd=conf_only,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    proc.stdout.close()  # long before the command prints: its output meets a closed pipe
    assert proc.wait() == 141 and proc.stderr.read() == b""


def test_report_without_a_model_section_and_an_invalid_params_yaml_name_the_file(pinned_repo):
    from support import evalpin_in_process

    params = pinned_repo / "params.yaml"
    params.write_text("inference: {}\n")
    proc = evalpin_in_process(pinned_repo, "report", check=False)
    assert proc.returncode == 2 and "params.yaml: section 'model' is missing" in proc.stderr
    params.write_text("model: [unclosed\n")
    proc = evalpin_in_process(pinned_repo, "report", check=False)
    assert proc.returncode == 2 and f"{params}:2: not valid YAML" in proc.stderr
    assert "<unicode string>" not in proc.stderr and "`evalpin compose`" in proc.stderr


def test_report_on_metrics_that_are_not_evaluates_names_the_file(reproduced_repo):
    from support import evalpin_in_process

    metrics = reproduced_repo / "eval/metrics.json"
    for content, message in (
        ("", "not valid JSON"),
        ("[]", "holds a list"),
        ('{"tasks": []}', "fields 'tasks'"),
    ):
        metrics.write_text(content)
        proc = evalpin_in_process(reproduced_repo, "report", check=False)
        assert proc.returncode == 2 and f"{metrics}: {message}" in proc.stderr, proc.stderr


def test_an_unexpected_exception_is_one_line_and_exit_2_never_1(monkeypatch, capsys, tmp_path):
    """Exit 1 means drift or regression: a crash must never say so (nor print a traceback)."""
    from evalpin import api
    from evalpin.cli import main

    def broken(start=None):
        raise KeyError("models")

    monkeypatch.setattr(api, "find_root", broken)
    assert main(["verify"]) == 2
    err = capsys.readouterr().err
    assert (
        err.startswith("evalpin: unexpected error (KeyError: 'models'). Nothing was judged")
        and "Traceback" not in err
    )
    assert len(err.strip().splitlines()) == 1
    assert main(["verify", "--debug"]) == 2 and "Traceback" in capsys.readouterr().err


def test_a_golden_file_that_is_not_utf8_is_named_not_a_traceback(pinned_repo):
    (pinned_repo / "models/demo-tiny.golden.json").write_bytes(b'{"server": "\xff"}')
    proc = evalpin(pinned_repo, "check-server", "demo-tiny", "--url", "http://127.0.0.1:9", check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("evalpin: models/demo-tiny.golden.json: not UTF-8 (byte 12)"), proc.stderr
