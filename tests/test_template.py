"""The repository as a copier template (copier.yml): a copy holds the project only (never evalpin's source,
tests, bench or docs), with or without the demo and without `--trust`; answers and refused answers;
`copier update` changes the template's files and the version pin, never what the project owns; and a
generated project reproduces the committed baseline. tests/test_copied_project.py installs evalpin from its
wheel into a copied project and lives its life (pin, repro, release, upgrade, reproduce the old tag).

Real copier, real git, no mocks. The template is built from this checkout's files (tracked plus new,
not ignored), so the tests see uncommitted template changes and work on CI's clean clone alike.
scripts/check_template.sh is the bare-machine proof (the wheel, `make setup`, `make demo`, `make check`).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from evalpin import __version__ as VERSION
from evalpin.base.errors import EvalpinError
from evalpin.base.names import check_name
from support import TEMPLATE, evalpin, git, read_json, subprocess_env
from support.repos import checkout_files, commit_all, copy_paths, init_repo

COMMIT = "7ae557604adf67be50417f59c2c2f167def9a775"
NEXT_VERSION = "99.1.0"  # the later template version's evalpin
ANSWERS = {
    "project_name": "acme-eval",
    "model_repo_id": "Qwen/Qwen2.5-0.5B-Instruct",
    "model_revision": COMMIT,
}
MODEL = "qwen2.5-0.5b-instruct"  # model_name's default: the repo id's last part, lower-cased
RENDERED = {  # template file -> the project file it becomes (the .tmpl replaces its plain sibling)
    ".copier-answers.yml.tmpl": ".copier-answers.yml",
    "README.md.tmpl": "README.md",
    ".dvc/config.tmpl": ".dvc/config",
    "Makefile.tmpl": "Makefile",
    ".github/workflows/evalpin.yml.tmpl": ".github/workflows/evalpin.yml",
    "dvc.yaml.tmpl": "dvc.yaml",
    "conf/config.yaml.tmpl": "conf/config.yaml",
    "params.yaml.tmpl": "params.yaml",
}
# Rendered with demo: true, these are their plain siblings byte for byte (the .tmpl includes it).
INCLUDING = ("dvc.yaml", "conf/config.yaml", "params.yaml")
# evalpin's own files: never in a project.
TOOL_DIRS = ("src/", "tests/", "bench/", "docs/", "scripts/", ".ci/")
TOOL_FILES = {
    "copier.yml",
    "pyproject.toml",
    "mkdocs.yml",
    "CHANGELOG.md",
    "MANIFEST.in",
    "constraints-server.txt",
    "constraints-gguf-server.txt",
    "requirements-fixtures.txt",
}
MAX_PROJECT_FILES = 40  # a copy without the demo: what a user owns and edits, nothing of the tool's


def is_tool(rel: str) -> bool:
    return rel in TOOL_FILES or rel.startswith(TOOL_DIRS)


# What the project owns: `copier update` must leave these byte for byte, whatever the template did.
PROTECTED = (
    "conf/gate/default.yaml",
    "conf/inference/cpu-fp32.yaml",
    "conf/model/demo-tiny.yaml",
    f"conf/model/{MODEL}.yaml",
    "params.yaml",
    "dvc.lock",
    "models/demo-tiny.lock.json",
    "models/demo-tiny.golden.json",
    "models/demo-tiny.dvc",
    "eval/metrics.json",
    "eval/scores.json",
    "eval/fingerprint.json",
    "eval/verified.json",
    ".dvc/config",
)


def copier(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """copier ARGS, never with `--trust`: the template runs no task, so copier needs no trust."""
    proc = subprocess.run(
        [sys.executable, "-m", "copier", *args],
        cwd=cwd,
        env={**subprocess_env(cwd), "NO_COLOR": "1"},
        capture_output=True,
        text=True,
        check=False,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"copier {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
        )
    return proc


def data_args(answers: dict[str, str]) -> list[str]:
    return [arg for key, value in answers.items() for arg in ("--data", f"{key}={value}")]


def copy_project(template: Path, dst: Path, ref: str, **answers: str) -> subprocess.CompletedProcess[str]:
    return copier(
        dst.parent,
        "copy",
        "--defaults",
        "--vcs-ref",
        ref,
        *data_args({**ANSWERS, **answers}),
        str(template),
        str(dst),
    )


def blob(repo: Path, rev: str, rel: str) -> bytes:
    return subprocess.run(
        ["git", "cat-file", "blob", f"{rev}:{rel}"], cwd=repo, capture_output=True, check=True
    ).stdout


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{path}: {old!r} not found"
    path.write_text(text.replace(old, new, 1))


def improve_template(template: Path) -> None:
    """A later template version: a new Makefile target and README line (these must reach projects), and
    new values in the template's own copies of files that projects own (these must not)."""
    makefile = template / "Makefile.tmpl"
    makefile.write_text(
        makefile.read_text() + "\ntemplate-news: ## What the newer template brings\n\t@echo news\n"
    )
    edit(template / "README.md.tmpl", "## Commands\n", "## Commands\n\nTemplate v0.2 was here.\n")
    edit(template / "requirements.txt", f"evalpin=={VERSION}", f"evalpin=={NEXT_VERSION}")
    edit(template / "dvc.yaml", "stages:\n", "stages:  # template v0.2\n")
    (template / "conf/backend/tgi.yaml").write_text(
        "# A new backend: new files arrive in conf/ too.\nname: tgi\n"
    )
    edit(template / "conf/config.yaml", "# The one composition", "# Template v0.2.\n# The one composition")
    edit(template / "conf/gate/default.yaml", "abs_floor: 0.02", "abs_floor: 0.05")
    edit(template / "conf/inference/cpu-fp32.yaml", "torch_threads: 2", "torch_threads: 4")
    edit(template / "conf/model/demo-tiny.yaml", "# Files:", "# Template v0.2.\n# Files:")
    edit(template / "params.yaml", "abs_floor: 0.02", "abs_floor: 0.05")
    edit(template / "dvc.lock", "schema: '2.0'", "schema: '2.0'\n# template v0.2")
    for rel in ("eval/metrics.json", "eval/scores.json"):
        edit(template / rel, '"score": 0.625', '"score": 0.75')
    edit(template / "eval/fingerprint.json", "{", '{\n  "template": "v0.2",')
    edit(template / "eval/verified.json", '"files": 6', '"files": 7')
    edit(template / "models/demo-tiny.lock.json", '"size": 714', '"size": 715')
    edit(template / "models/demo-tiny.golden.json", "{", '{\n  "template": "v0.2",')
    edit(template / "models/demo-tiny.dvc", "nfiles: 6", "nfiles: 7")
    edit(
        template / ".dvc/config.tmpl", "    analytics = false", "    analytics = false\n    autostage = true"
    )


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """A git repository of this checkout's files: v0.1.0 (plus gto-style tags, which copier must ignore
    as versions), then one commit with a template improvement and changed copies of protected files."""
    path = tmp_path_factory.mktemp("template") / "evalpin"
    copy_paths(TEMPLATE, path, checkout_files())
    old = init_repo(path, "template v0.1.0")
    git(path, "tag", "v0.1.0")
    git(path, "tag", "-a", "demo-tiny@v1.0.0", "-m", "gto release")
    git(path, "tag", "-a", "demo-tiny#prod#1", "-m", "gto promotion")
    improve_template(path)
    new = commit_all(path, "template: news target, new copies of protected files")
    untagged = path.parent / "untagged"  # as evalpin is published today: no version tags at all
    git(path.parent, "clone", "-q", "--no-tags", str(path), str(untagged))
    return {"path": path, "untagged": untagged, "old": old, "new": new, "files": checkout_files()}


def test_copy_renders_the_answers_and_copies_everything_else_verbatim(template, tmp_path):
    project = tmp_path / "acme-eval"
    proc = copy_project(template["path"], project, "v0.1.0")
    src = template["path"]

    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    # `git describe --tags`: here the gto tag on the same commit, which still names v0.1.0's commit
    assert git(src, "rev-parse", answers["_commit"] + "^{commit}").stdout.strip() == template["old"]
    assert {k: answers[k] for k in ANSWERS} == ANSWERS
    assert answers["model_name"] == MODEL and answers["remote_url"] == ""
    # the model is recorded, not pinned: conf/model/ is untouched, so the demo's dvc.lock stays current
    assert sorted(p.name for p in (project / "conf/model").iterdir()) == ["demo-tiny.yaml"]
    readme = (project / "README.md").read_text()
    pin = f"evalpin pin Qwen/Qwen2.5-0.5B-Instruct --revision {COMMIT} --name {MODEL}"
    assert readme.startswith("# acme-eval\n") and pin in readme
    # the project's own README, not evalpin's, linking nothing the project does not hold
    assert blob(src, "v0.1.0", "README.md").decode() not in readme and "](docs/" not in readme
    # the project's own Makefile, which installs evalpin by the version requirements.txt pins
    assert (project / "Makefile").read_bytes() != blob(src, "v0.1.0", "Makefile")
    assert "-r requirements.txt -c constraints.txt" in (project / "Makefile").read_text()
    # no remote asked for: .dvc/config is the plain clone's, byte for byte
    assert (project / ".dvc/config").read_bytes() == blob(src, "v0.1.0", ".dvc/config")
    # the next step is spelled out, online and air-gapped
    said = proc.stderr + proc.stdout
    assert pin in said and "--upstream PATH/TO/hub-cache" in said

    # the tool stays out; every other file arrives byte for byte (symlinks as symlinks), and nothing else
    templated = {rel.removesuffix(".tmpl") for rel in RENDERED}
    copied = {rel for rel in template["files"] if not is_tool(rel)} - set(RENDERED) - templated
    made = {str(p.relative_to(project)) for p in project.rglob("*") if p.is_file() or p.is_symlink()}
    assert made == copied | set(RENDERED.values())
    for rel in copied:
        if (src / rel).is_symlink():  # git stores a symlink's target as its blob
            assert os.readlink(project / rel).encode() == blob(src, "v0.1.0", rel), rel
        else:
            assert (project / rel).read_bytes() == blob(src, "v0.1.0", rel), rel
    for rel in INCLUDING:  # demo: true renders the repository's own file
        assert (project / rel).read_bytes() == blob(src, "v0.1.0", rel), rel
    snapshot = next((project / "demo/hub/models--evalpin--demo-tiny/snapshots").iterdir())
    assert (snapshot / "chat_template.jinja").is_symlink()  # not rendered, not renamed


def test_copy_without_a_model_is_the_demo_alone(template, tmp_path):
    project = tmp_path / "demo-only"  # and no project_name: the folder's name is the default
    copier(tmp_path, "copy", "--defaults", "--vcs-ref", "v0.1.0", str(template["path"]), str(project))
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert answers["project_name"] == "demo-only" and answers["model_repo_id"] == ""
    assert "model_revision" not in answers and "model_name" not in answers
    assert sorted(p.name for p in (project / "conf/model").iterdir()) == ["demo-tiny.yaml"]
    assert (project / "README.md").read_text().startswith("# demo-only\n\nEvaluates open-weights models")


def test_copy_without_the_demo_holds_the_project_only(template, tmp_path):
    """demo=false, without --trust: no demo pin, data, task or run, no model selected, the empty suite,
    nothing of the tool's; the README and the message say the first steps."""
    project = tmp_path / "clean"
    proc = copy_project(template["path"], project, "v0.1.0", demo="false")
    assert yaml.safe_load((project / ".copier-answers.yml").read_text())["demo"] is False
    init_repo(project, "Start clean")
    files = git(project, "ls-files").stdout.splitlines()
    assert len(files) <= MAX_PROJECT_FILES, files
    assert not [rel for rel in files if is_tool(rel) or "demo" in rel], files
    pins = [rel for rel in files if rel.startswith(("models/", "eval/data/", "conf/data/", "conf/model/"))]
    assert pins == ["eval/data/README.md"], pins
    config = (project / "conf/config.yaml").read_text()
    assert "- model: ???       " in config and "- suite: main     " in config
    assert yaml.safe_load((project / "params.yaml").read_text()) == {}
    pipeline = yaml.safe_load((project / "dvc.yaml").read_text())
    assert set(pipeline) == {"stages"} and set(pipeline["stages"]) == {"verify", "evaluate"}
    assert sorted(p.name for p in (project / "eval/tasks").iterdir()) == ["README.md"]
    readme = (project / "README.md").read_text()
    assert "make setup" in readme and "make demo" not in readme and "conf/suite/main.yaml" in readme
    said = proc.stdout + proc.stderr
    assert "without the demo" in said and "make demo" not in said
    composed = evalpin(project, "compose", check=False)
    assert composed.returncode == 2 and "conf/config.yaml: no model is selected" in composed.stderr
    make = subprocess.run(["make", "-s", "demo"], cwd=project, capture_output=True, text=True, check=False)
    assert make.returncode == 2 and "this project has no demo" in make.stdout + make.stderr
    assert not (project / ".venv").exists()  # said before any setup
    for installer, torch_line in (("pip", "pip install"), ("uv", "uv pip install")):
        dry = subprocess.run(
            ["make", "-n", "-B", "setup", f"INSTALLER={installer}", "UNAME_S=Linux"],
            cwd=project,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        index = "--index-url" if installer == "uv" else "--extra-index-url"
        assert f"{torch_line} " in dry and f"{index} https://download.pytorch.org/whl/cpu 'torch==" in dry, (
            dry
        )
        assert "-r requirements.txt -c constraints.txt" in dry, dry


@pytest.mark.parametrize(
    ("url", "endpoint"),
    [
        ("s3://ml-artifacts/evalpin", "https://minio.example.com:9000"),
        ("s3://ml-artifacts", ""),
        ("/srv/evalpin", ""),
    ],
)
def test_a_team_remote_goes_into_dvc_config_as_evalpin_remote_writes_it(template, tmp_path, url, endpoint):
    project = tmp_path / "acme-eval"
    answers = {"remote_url": url, **({"remote_endpoint": endpoint} if endpoint else {})}
    copy_project(template["path"], project, "v0.1.0", **answers)
    rendered = dvc_config(project)
    assert rendered["core"]["remote"] == "team"
    assert rendered['remote "team"'] == {"url": url, **({"endpointurl": endpoint} if endpoint else {})}
    if url.startswith("s3://"):  # the same settings as `evalpin remote s3` on a plain project
        plain = tmp_path / "plain"
        copy_project(template["path"], plain, "v0.1.0")
        evalpin(plain, "remote", "s3", "--url", url, *(["--endpoint", endpoint] if endpoint else []))
        assert dvc_config(plain) == rendered
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert ("remote_endpoint" in answers) == url.startswith("s3://")  # asked only for S3


def dvc_config(project: Path) -> dict:
    from configobj import ConfigObj

    return ConfigObj(str(project / ".dvc/config")).dict()


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        ({"model_revision": "main"}, 'model_revision "main": a moving ref (a branch or tag)'),
        ({"model_revision": "v1.0"}, "evalpin pins commits only"),
        ({"model_revision": COMMIT[:12]}, "an abbreviated commit"),
        ({"model_revision": COMMIT.upper()}, "upper-case hex"),
        ({"model_name": "Qwen2.5"}, 'model_name "Qwen2.5": use lower-case letters'),
        ({"model_name": "-x"}, "starting with a letter or digit"),
        ({"model_name": "demo-tiny"}, "the demo model's name"),
        ({"model_repo_id": "qwen"}, 'model_repo_id "qwen": expected ORG/NAME'),
        ({"model_repo_id": "Qwen/a b"}, "expected ORG/NAME"),
        ({"model_repo_id": "Qwen/a--b"}, "no '--' or '..'"),
        ({"remote_url": "gs://bucket/x"}, 'remote_url "gs://bucket/x": expected s3://BUCKET[/PREFIX]'),
        ({"remote_url": "s3://AK:SECRET@bucket"}, "no credentials in the url"),
        ({"remote_url": "relative/dir"}, "an absolute path to a shared directory"),
        ({"remote_url": "s3://b", "remote_endpoint": "minio:9000"}, "expected s3://BUCKET"),
        ({"remote_url": "s3://bucket", "remote_endpoint": "minio:9000"}, "expected http(s)://HOST[:PORT]"),
        ({"project_name": " "}, "project_name: give a one-line name"),
    ],
)
def test_bad_answers_are_refused_with_the_reason(template, tmp_path, answers, message):
    project = tmp_path / "p"
    proc = copier(
        tmp_path,
        "copy",
        "--defaults",
        "--vcs-ref",
        "v0.1.0",
        *data_args({**ANSWERS, **answers}),
        str(template["path"]),
        str(project),
        check=False,
    )
    assert proc.returncode != 0
    assert message in proc.stderr
    assert not project.exists()


def test_a_model_without_its_commit_is_refused(template, tmp_path):
    answers = {k: v for k, v in ANSWERS.items() if k != "model_revision"}
    proc = copier(
        tmp_path,
        "copy",
        "--defaults",
        *data_args(answers),
        str(template["path"]),
        str(tmp_path / "p"),
        check=False,
    )
    assert proc.returncode != 0 and 'Question "model_revision" is required' in proc.stderr


def test_the_model_name_rule_is_evalpin_pins(template):
    """copier.yml's model_name validator accepts exactly what evalpin.base.names.check_name accepts (but the
    demo's own name)."""
    from jinja2.sandbox import SandboxedEnvironment

    config = yaml.safe_load((template["path"] / "copier.yml").read_text())
    env = SandboxedEnvironment(extensions=["jinja2_ansible_filters.AnsibleCoreFiltersExtension"])
    validator = env.from_string(config["model_name"]["validator"])
    names = [
        "m",
        "0",
        "qwen2.5-0.5b",
        "a_b.c-d",
        "demo-tiny",
        "",
        "-a",
        ".a",
        "_a",
        "A",
        "a b",
        "a/b",
        "é",
        "a:b",
    ]
    for name in names:
        refused = validator.render(model_name=name, model_repo_id="org/x").strip()
        try:
            check_name(name)
            accepted_by_pin = True
        except EvalpinError:
            accepted_by_pin = False
        assert bool(refused) == (not accepted_by_pin or name == "demo-tiny"), (name, refused)


@pytest.mark.parametrize("tagged", [True, False], ids=["v0.1.0", "untagged"])
def test_update_brings_template_improvements_and_keeps_what_the_project_owns(template, tmp_path, tagged):
    source = template["path"] if tagged else template["untagged"]
    project = tmp_path / "acme-eval"
    copy_project(source, project, "v0.1.0" if tagged else template["old"])
    init_repo(project, "Start acme-eval from the evalpin template")
    # the project lives its life: pins its model, evaluates, tunes, moves its remote, takes notes
    (project / f"conf/model/{MODEL}.yaml").write_text(f"name: {MODEL}\nrevision: {COMMIT}\n")
    edit(project / "conf/model/demo-tiny.yaml", "# Files:", "# ours\n# Files:")
    edit(project / "conf/config.yaml", "- model: demo-tiny ", f"- model: {MODEL}")
    edit(project / "conf/gate/default.yaml", "abs_floor: 0.02", "abs_floor: 0.01")
    edit(project / "conf/inference/cpu-fp32.yaml", "batch_size: 1", "batch_size: 1  # ours")
    edit(project / "params.yaml", "name: demo-tiny", f"name: {MODEL}")
    edit(project / "dvc.lock", "schema: '2.0'", "schema: '2.0'\n# our run")
    edit(project / "eval/metrics.json", '"score": 0.625', '"score": 0.5')
    edit(project / "eval/fingerprint.json", "{", '{\n  "ours": true,')
    edit(project / "models/demo-tiny.lock.json", '"size": 714', '"size": 714 ')
    (project / f"models/{MODEL}.lock.json").write_text('{"ours": true}\n')
    edit(project / ".dvc/config", "    analytics = false", "    analytics = false\n    remote = team")
    (project / ".dvc/config").write_text(
        (project / ".dvc/config").read_text() + "['remote \"team\"']\n    url = s3://ours/evalpin\n"
    )
    (project / "README.md").write_text((project / "README.md").read_text() + "\n## Our notes\n\nKeep.\n")
    artifact = f"  {MODEL}:\n    path: models/{MODEL}\n    type: model\n"  # as `evalpin pin` appends it
    edit(
        project / "dvc.yaml",
        "    labels:\n      - demo\n      - llama\n",
        f"    labels:\n      - demo\n      - llama\n{artifact}",
    )
    commit_all(project, "Our model, baseline, gate and remote")
    before = {rel: (project / rel).read_bytes() for rel in PROTECTED}

    proc = copier(project, "update", "--defaults", "--vcs-ref", template["new"])

    assert "template-news:" in (project / "Makefile").read_text()
    pipeline = (project / "dvc.yaml").read_text()  # the template's stages, the project's artifacts
    assert "stages:  # template v0.2\n" in pipeline and pipeline.endswith(artifact)
    assert f"evalpin=={NEXT_VERSION}\n" in (project / "requirements.txt").read_text()
    assert (project / "conf/backend/tgi.yaml").read_bytes() == (source / "conf/backend/tgi.yaml").read_bytes()
    readme = (project / "README.md").read_text()
    assert "Template v0.2 was here." in readme and readme.endswith("## Our notes\n\nKeep.\n")
    config = (project / "conf/config.yaml").read_text()  # structure merges: both sides' changes
    assert config.startswith("# Template v0.2.\n") and f"- model: {MODEL}" in config
    for rel, content in before.items():
        assert (project / rel).read_bytes() == content, f"{rel} changed by copier update"
    assert (project / f"models/{MODEL}.lock.json").read_text() == '{"ours": true}\n'
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert git(source, "rev-parse", answers["_commit"] + "^{commit}").stdout.strip() == template["new"]
    status = git(project, "status", "--porcelain", "--untracked-files=all").stdout
    assert not [line for line in status.splitlines() if line.endswith(".rej")], status
    for rel in git(project, "ls-files").stdout.splitlines():
        path = project / rel
        if path.is_file() and not path.is_symlink():
            assert not re.search(rb"^(<<<<<<<|>>>>>>>) ", path.read_bytes(), re.MULTILINE), rel
    assert "Kept as they were" in proc.stderr + proc.stdout
    assert set(status.split()) >= {"M", "Makefile", "README.md", "conf/config.yaml", ".copier-answers.yml"}


def test_an_update_of_an_untouched_project_changes_only_the_templates_files(template, tmp_path):
    """Without the demo: the demo's own files stay out on update too (the lived-in test above has it)."""
    project = tmp_path / "acme-eval"
    copy_project(template["path"], project, "v0.1.0", demo="false")
    init_repo(project, "Start acme-eval from the evalpin template")
    copier(project, "update", "--defaults", "--vcs-ref", template["new"])
    changed = sorted(line[3:] for line in git(project, "status", "--porcelain", "-uall").stdout.splitlines())
    owned_by_the_template = ["Makefile", "README.md", "conf/config.yaml", "requirements.txt", "dvc.yaml"]
    assert changed == sorted([".copier-answers.yml", "conf/backend/tgi.yaml", *owned_by_the_template])
    diff = git(project, "diff", "--numstat").stdout
    assert "1\t1\trequirements.txt" in diff, diff  # the version pin: one line
    for rel in git(project, "ls-files").stdout.splitlines():
        path = project / rel
        if path.is_file() and not path.is_symlink():
            assert not re.search(rb"^(<<<<<<<|>>>>>>>) ", path.read_bytes(), re.MULTILINE), rel


@pytest.mark.slow
@pytest.mark.walkthrough  # 27-46 s: `make walkthrough` (CI), beside scripts/check_template.sh's bare run
def test_a_generated_project_reproduces_its_committed_baseline(template, tmp_path):
    """DVC and lm-eval in a copied demo project: restore the demo model, `dvc repro`, same metrics; then a
    later template version arrives and leaves its delivery and outputs as they are."""
    project = tmp_path / "acme-eval"
    copy_project(template["path"], project, "v0.1.0")
    init_repo(project, "Start acme-eval from the evalpin template")
    committed = read_json(project / "eval/metrics.json")
    env: dict[str, str] = {}  # the installed evalpin: the version requirements.txt pins (test_stage_deps)
    run_in(project, env, sys.executable, "-m", "evalpin", "remote", "init-local", str(tmp_path / "remote"))
    run_in(project, env, sys.executable, "-m", "evalpin", "restore", "demo-tiny")
    run_in(project, env, sys.executable, "-m", "dvc", "repro")
    assert (project / "eval/samples").is_dir()  # evaluate ran: its DVC output was not in any cache
    assert read_json(project / "eval/metrics.json") == committed
    assert git(project, "status", "--porcelain").stdout == ""
    assert json.loads((project / "eval/verified.json").read_text())["model"] == "demo-tiny"

    # a later template version arrives in the working project: its delivery and outputs stay as they are
    delivery = {p: p.read_bytes() for p in sorted((project / "models/demo-tiny").iterdir())}
    samples = sorted(p.name for p in (project / "eval/samples").iterdir())
    copier(project, "update", "--defaults", "--vcs-ref", template["new"])
    assert {p: p.read_bytes() for p in sorted((project / "models/demo-tiny").iterdir())} == delivery
    assert sorted(p.name for p in (project / "eval/samples").iterdir()) == samples
    run_in(project, env, sys.executable, "-m", "evalpin", "verify", "demo-tiny", "--full")


def run_in(repo: Path, extra_env: dict[str, str], *cmd: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        cmd, cwd=repo, env={**subprocess_env(repo), **extra_env}, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc
