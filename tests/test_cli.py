import subprocess
import sys

from support import TEMPLATE


def test_help_does_not_import_heavy_libraries():
    code = (
        "import sys; from evalpin.cli import build_parser; build_parser().format_help(); "
        "heavy = {'torch', 'lm_eval', 'transformers', 'dvc', 'hydra'} & set(sys.modules); "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=TEMPLATE)


def test_outside_a_repository_is_a_usage_error(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "evalpin", "verify"], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 2 and "no evalpin repository" in proc.stderr


def test_report_prints_model_commit_and_scores(reproduced_repo):
    from support import evalpin

    out = evalpin(reproduced_repo, "report").stdout
    assert "demo-tiny" in out and "verified  6 files" in out and "demo_color_mc" in out
    assert "equal to the committed baseline" in out


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
