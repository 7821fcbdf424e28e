"""CPU numerics modes at full size: what portable numerics costs, and how far the numbers move between
numerics classes (what src/evalpin/results/tolerances.yaml's CPU rows are set from).

`evalpin evaluate` of lm-eval's `mmlu` group on the full-size MMLU-shaped dataset (the suites bench's
repository: suite_bench.pinned_repo), with the demo model on all 14,042 questions and with
SmolLM2-135M-Instruct on suite_bench.REAL_LIMIT questions a subject, in each mode:

    fast             numerics: fast, the machine's kernels (ATen at its best capability, MKL's own path)
    portable         numerics: portable (numerics.PORTABLE_ENV set by evalpin, linear layers via oneDNN)
    COMPATIBLE-only  numerics: fast with numerics.PORTABLE_ENV exported by the caller: MKL's
                     vendor-independent SGEMM (MKL_CBWR=COMPATIBLE), the cheaper-looking route to the
                     same bytes that portable mode did not take

interleaved (the order turns each round) after an untimed warm-up, each from an empty result store.
Then, for the differences only (untimed), more classes on the same machine: fast with
ATEN_CPU_CAPABILITY=default, and portable with ATEN_CPU_CAPABILITY=default exported (portable overrides
it: expected the same bytes as portable), on the demo model (a run of SmolLM2 costs more).

The differences are over the multiple-choice samples (eval/samples rows: response.loglikelihoods, stored
rounded to 1e-6): per pair of classes, how many log-likelihoods differ, p50/p99/max of |a - b|, the
largest |a - b| / |a|, and every changed pick with the reference's margin; and the level
levels.compare_samples gives the pair under the current tolerances.yaml.
"""

from __future__ import annotations

import json
import math
import shutil
import statistics
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml

from bench import machine, report
from bench.eval_bench import offline_env
from bench.measure import Run, median_cpu, median_wall, peak_rss, run
from bench.report import Section, Verdict
from bench.suite_bench import REAL_LIMIT, evalpin_cmd, pinned_repo, real_model
from evalpin.base.numerics import PORTABLE_ENV, kind_of
from evalpin.results import levels

PORTABLE_COST_LIMIT = 1.05  # the target: portable costs what fast does, within 5%
SAFETY = 4  # tolerance = SAFETY x the largest difference seen, rounded up to one significant digit
TIMED = {  # label: (conf/inference numerics, variables exported by the caller)
    "fast": ("fast", {}),
    "portable": ("portable", {}),
    "COMPATIBLE-only": ("fast", dict(PORTABLE_ENV)),
}
EXTRA = {  # untimed: more classes on this machine, for the differences
    "fast, ATen default": ("fast", {"ATEN_CPU_CAPABILITY": "default"}),
    "portable, ATen default": ("portable", {"ATEN_CPU_CAPABILITY": "default"}),
}
PAIRS = (  # (reference, rerun): what each pair stands for
    ("fast", "portable"),
    ("fast", "COMPATIBLE-only"),
    ("portable", "COMPATIBLE-only"),
    ("fast", "fast, ATen default"),
    ("portable", "portable, ATen default"),
)


@dataclass
class Outcome:
    """One evaluation in one mode: its timing, its samples (task -> doc_id -> row), its class."""

    run: Run | None
    samples: dict[str, dict[object, dict]]
    numerics: str | None


def environment(repo: Path, extra: dict[str, str]) -> dict[str, str]:
    """The offline environment without any kernel-dispatch variable of ours, plus `extra`."""
    env = {k: v for k, v in offline_env(repo).items() if k not in PORTABLE_ENV}
    return {**env, "OMP_WAIT_POLICY": "PASSIVE", **extra}  # idle threads sleep: CPU time is computing


def write_params(repo: Path, params: dict, model: dict, limit: int | None, mode: str) -> None:
    params = {
        **params,
        "model": model,
        "suite": {**params["suite"], "limit": limit},
        "inference": {**params["inference"], "numerics": mode},
    }
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def read_outputs(repo: Path) -> tuple[dict[str, dict[object, dict]], str | None]:
    samples = {}
    for path in sorted((repo / "eval/samples").glob("*.jsonl")):
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        samples[path.stem] = {row["doc_id"]: row for row in rows}
    classes = set()
    for path in (repo / "eval/results").glob("*.json"):
        found = json.loads(path.read_text()).get("numerics") or {}
        classes.add(found.get("class"))
    return samples, (classes.pop() if len(classes) == 1 else None)


def evaluate(repo: Path, params: dict, model: dict, limit: int | None, label: str, timed: bool) -> Outcome:
    mode, extra = {**TIMED, **EXTRA}[label]
    write_params(repo, params, model, limit, mode)
    shutil.rmtree(repo / "eval/results", ignore_errors=True)  # from an empty store: nothing reused
    shutil.rmtree(repo / "eval/samples", ignore_errors=True)
    done = run(evalpin_cmd("evaluate"), cwd=repo, env=environment(repo, extra))
    samples, numerics = read_outputs(repo)
    print(f"bench: numerics: {model['name']}, {label}: {done.wall:.1f} s, class {numerics}", flush=True)
    return Outcome(done if timed else None, samples, numerics)


def measure_model(
    repo: Path, params: dict, model: dict, limit: int | None, repeats: int, extra: tuple[str, ...] = ()
) -> tuple[dict[str, list[Run]], dict[str, Outcome]]:
    """Warm up, then the timed modes interleaved (the order turns each round), then the extra classes."""
    write_params(repo, params, model, 1, "fast")
    run(evalpin_cmd("evaluate"), cwd=repo, env=environment(repo, {}))  # the datasets cache, the page cache
    runs: dict[str, list[Run]] = {label: [] for label in TIMED}
    outcomes: dict[str, Outcome] = {}
    labels = list(TIMED)
    for round_ in range(repeats):
        for label in labels[round_ % len(labels) :] + labels[: round_ % len(labels)]:
            outcomes[label] = evaluate(repo, params, model, limit, label, timed=True)
            runs[label].append(outcomes[label].run)
    for label in extra:
        outcomes[label] = evaluate(repo, params, model, limit, label, timed=False)
    return runs, outcomes


@dataclass
class Differences:
    compared: int
    differing: int
    p50: float
    p99: float
    largest: float
    relative: float  # the largest |a - b| / |a|
    flips: list[str]  # "task doc: pick i -> j, reference margin m"
    smallest_margin: float  # the reference's smallest top-1 margin: how near the nearest tie was
    level: str  # levels.compare_samples under the current tolerances.yaml
    classes: tuple[str | None, str | None]


def differences(ref: Outcome, new: Outcome) -> Differences:
    gaps, relative, flips, margins = [], 0.0, [], []
    for task in sorted(ref.samples.keys() & new.samples.keys()):
        for doc, a in ref.samples[task].items():
            b = new.samples[task].get(doc)
            ra, rb = a.get("response"), (b or {}).get("response")
            if not (isinstance(ra, dict) and isinstance(rb, dict)):
                continue
            la, lb = ra.get("loglikelihoods") or [], rb.get("loglikelihoods") or []
            for x, y in zip(la, lb, strict=True):
                gaps.append(abs(x - y))
                if x:
                    relative = max(relative, abs(x - y) / abs(x))
            if len(la) > 1:
                top = sorted(la, reverse=True)
                margins.append(top[0] - top[1])
            if ra.get("choice") != rb.get("choice"):
                margin = la[ra["choice"]] - la[rb["choice"]]
                flips.append(f"{task} doc {doc}: pick {ra['choice']} -> {rb['choice']}, margin {margin:.1e}")
    quantiles = statistics.quantiles(gaps, n=100, method="inclusive") if len(gaps) > 1 else [0.0] * 99
    classes = (ref.numerics, new.numerics)
    level = levels.compare_samples(ref.samples, new.samples, classes)
    return Differences(
        len(gaps),
        sum(g > 0 for g in gaps),
        quantiles[49],
        quantiles[98],
        max(gaps, default=0.0),
        relative,
        flips,
        min(margins, default=math.inf),
        level.name,
        classes,
    )


def round_up(value: float) -> float:
    """`value` rounded up to one significant digit (0 stays 0)."""
    if value <= 0:
        return 0.0
    scale = 10 ** math.floor(math.log10(value))
    digit = math.ceil(round(value / scale, 9))
    return float(f"{digit * scale:.0e}") if digit < 10 else float(f"{scale * 10:.0e}")


def full_size(
    root: Path, scratch: Path, repeats: int = 1, demo_limit: int | None = None, real_limit: int = REAL_LIMIT
) -> list[Section]:
    """Both models in every mode; the limits are for a quick check of this code, not for the page."""
    started = machine.load_average()
    repo, params = pinned_repo(root, scratch, name="numerics-repo")
    demo = measure_model(repo, params, params["model"], demo_limit, repeats, tuple(EXTRA))
    smol = measure_model(repo, params, real_model(root, repo, scratch), real_limit, repeats)
    demo_size = f"{demo_limit} a subject" if demo_limit else "14,042 questions"
    return sections(
        {f"demo model, {demo_size}": demo, f"SmolLM2-135M, {real_limit} a subject": smol},
        repeats,
        started,
    )


COST_COLUMNS = [
    "mode, model",
    "wall (median)",
    "wall vs fast",
    "CPU (median)",
    "CPU vs fast",
    "peak RSS",
    "RSS vs fast",
]


def cost_rows(label: str, runs: dict[str, list[Run]]) -> tuple[list[list[str]], dict[str, float]]:
    """Wall and CPU time against fast; the ratios returned are CPU time's (user + sys of the evaluation:
    on a shared machine, what other processes take inflates wall time, not this one's CPU time)."""
    ref_wall, ref_cpu = median_wall(runs["fast"]), median_cpu(runs["fast"])
    rows, ratios = [], {}
    for mode, done in runs.items():
        ratios[mode] = median_cpu(done) / ref_cpu
        rows.append(
            [
                f"{mode}, {label}" + (" (ref)" if mode == "fast" else ""),
                report.seconds(median_wall(done)),
                report.ratio(median_wall(done) / ref_wall),
                report.seconds(median_cpu(done)),
                report.ratio(ratios[mode]),
                f"{peak_rss(done):.0f} MiB",
                report.ratio(peak_rss(done) / peak_rss(runs["fast"])),
            ]
        )
    return rows, ratios


def sections(measured: dict[str, tuple], repeats: int, started: str) -> list[Section]:
    cost, verdicts, found = [], [], {}
    for label, (runs, outcomes) in measured.items():
        rows, ratios = cost_rows(label, runs)
        cost += rows
        verdicts.append(
            Verdict(
                f"{label}: portable <= {PORTABLE_COST_LIMIT}x fast",
                report.ratio(ratios["portable"]),
                ratios["portable"] <= PORTABLE_COST_LIMIT,
                f"{100 * (ratios['portable'] - PORTABLE_COST_LIMIT):.0f} points over, "
                f"{repeats} run(s) a mode on a shared machine",
            )
        )
        for a, b in (p for p in PAIRS if set(p) <= outcomes.keys()):
            found[(label, a, b)] = differences(outcomes[a], outcomes[b])
    portable_cheaper = all(
        cost_rows(label, runs)[1]["portable"] <= cost_rows(label, runs)[1]["COMPATIBLE-only"]
        for label, (runs, _) in measured.items()
    )
    verdicts.append(
        Verdict(
            "portable (oneDNN) cheaper than COMPATIBLE-only (MKL's SSE2 path), both models",
            "yes" if portable_cheaper else "no",
            portable_cheaper,
        )
    )
    costs = Section(
        "CPU numerics modes: cost",
        f"`evalpin evaluate` of lm-eval's `mmlu` group on the full-size MMLU-shaped dataset (as in the "
        f"suites section; the rows say how many questions) in each numerics mode of conf/inference, "
        f"from an empty result store: *fast* "
        f"(the machine's kernels: ATen at its best capability, MKL's own SGEMM path), *portable* "
        f"(ATEN_CPU_CAPABILITY=avx2, ONEDNN_MAX_CPU_ISA=AVX2, MKL_CBWR=COMPATIBLE set by evalpin, fp32 "
        f"linear layers of 512 Ki weights or more through oneDNN: none of the demo model's), and "
        f"*COMPATIBLE-only* (fast mode with those three variables exported: MKL's vendor-independent "
        f"SSE2 SGEMM, no oneDNN), the other route to the same bytes. "
        f"After an untimed warm-up; {repeats} interleaved run(s) a mode, the order turning each round. "
        f"Load average at the start of this section {started}. Each process start and model load is "
        f"inside the times. OpenMP threads sleep when idle (OMP_WAIT_POLICY=PASSIVE, every mode alike), so "
        f"CPU time counts computing, not spinning; the verdicts use CPU time.",
        COST_COLUMNS,
        cost,
        verdicts,
        [default_note(measured)],
    )
    return [costs, differences_section(found)]


def default_note(measured: dict[str, tuple]) -> str:
    ratios = {label: cost_rows(label, runs)[1] for label, (runs, _) in measured.items()}
    said = "; ".join(
        f"{label}: portable {r['portable']:.2f}x, COMPATIBLE-only {r['COMPATIBLE-only']:.2f}x"
        for label, r in ratios.items()
    )
    worst = max(r["portable"] for r in ratios.values())
    verdict = (
        "the figures support that default: the same bytes on every x86-64 CPU with AVX2 cost no more "
        "than the machine's own kernels"
        if worst <= PORTABLE_COST_LIMIT
        else f"portable costs up to {worst:.2f}x fast here, more than the {PORTABLE_COST_LIMIT}x "
        "expected: the default holds for its reproducibility, at that price"
    )
    return (
        f"**Default.** conf/inference/cpu-fp32.yaml sets `numerics: portable`. CPU time against fast in "
        f"the same run ({said}): {verdict}. Portable keeps a oneDNN copy of each linear layer's weights: "
        "the RSS difference. `numerics: fast` remains for users who want the machine's kernels; its "
        "results are equivalent within the tolerance of the next section, not byte-identical."
    )


def differences_section(found: dict[tuple[str, str, str], Differences]) -> Section:
    rows = []
    worst_abs: dict[str, float] = {}
    worst_rel: dict[str, float] = {}
    for (label, a, b), d in found.items():
        kinds = " vs ".join(sorted({kind_of(c or "") for c in d.classes}))
        worst_abs[kinds] = max(worst_abs.get(kinds, 0.0), d.largest)
        worst_rel[kinds] = max(worst_rel.get(kinds, 0.0), d.relative)
        rows.append(
            [
                f"{a} vs {b}, {label.split(',')[0]}",
                kinds,
                f"{d.differing:,} of {d.compared:,}",
                f"{d.p50:.1e}",
                f"{d.p99:.1e}",
                f"{d.largest:.1e}",
                f"{d.relative:.1e}",
                f"{len(d.flips)}" + (f" ({'; '.join(d.flips[:3])})" if d.flips else ""),
                f"{d.smallest_margin:.1e}",
                d.level,
            ]
        )
    same = [d for (_, a, b), d in found.items() if b == "portable, ATen default"]
    verdicts = [
        Verdict(
            "portable vs portable under ATEN_CPU_CAPABILITY=default: 0 differences",
            ", ".join(f"{d.differing} of {d.compared:,}" for d in same),
            all(d.differing == 0 and d.level == levels.EXACT for d in same),
        ),
        Verdict(
            "decisions flipped between classes: 0 (or near ties only)",
            str(sum(len(d.flips) for d in found.values())),
            all(d.level != levels.DIFFERS for d in found.values()),
        ),
    ]
    suggested = "; ".join(
        f"{kinds}: largest {worst_abs[kinds]:.1e} -> absolute {round_up(SAFETY * worst_abs[kinds]):g}, "
        f"largest relative {worst_rel[kinds]:.1e} -> relative {round_up(SAFETY * worst_rel[kinds]):g}"
        for kinds in sorted(worst_abs)
    )
    print(f"bench: numerics: tolerance from this run ({SAFETY}x, one digit up): {suggested}", flush=True)
    return Section(
        "CPU numerics classes: log-likelihood differences",
        "From the runs above, and untimed runs of more classes on the same machine (fast with "
        "ATEN_CPU_CAPABILITY=default; portable with ATEN_CPU_CAPABILITY=default exported, which "
        "portable overrides; demo model only): per pair, every "
        "multiple-choice log-likelihood of the mmlu samples (stored rounded to 1e-6) compared. p50/p99/max "
        "of |a - b| over all compared; relative = the largest |a - b| / |a|; picks changed, with the "
        "reference's margin between the two options; the reference's smallest top-1 margin (how near the "
        "nearest tie was); and the level levels.compare_samples gives the pair under "
        "src/evalpin/results/tolerances.yaml.",
        [
            "pair, model",
            "kinds",
            "differing",
            "p50",
            "p99",
            "max",
            "max relative",
            "picks changed",
            "smallest margin",
            "level",
        ],
        rows,
        verdicts,
        [
            f"**Tolerance.** src/evalpin/results/tolerances.yaml's CPU rows are {SAFETY}x the largest "
            "difference measured for the pair's kinds, rounded up to one significant digit, and no lower "
            "than what was measured across CPUs (AVX2 Zen 3 vs AVX-512: per-token log-probabilities of "
            f"SmolLM2 up to 1.1e-4, docs/reproduction.md). From this run: {suggested}. Only classes this "
            "CPU can run are measured here: ATen cannot emulate a wider ISA than the CPU has, and MKL's "
            "Intel path needs an Intel CPU (or qemu, too slow for full-size runs)."
        ],
    )


def main() -> None:  # `python -m bench.numerics_bench`: these sections alone, printed
    root = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory(prefix="evalpin-numerics-bench-") as scratch:
        for section in full_size(root, Path(scratch)):
            print(report.render_section(section))


if __name__ == "__main__":
    main()
