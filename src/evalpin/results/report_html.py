"""`evalpin report --html PATH`: the report as one self-contained page that any browser shows offline.

Everything is inlined: the charts are SVG drawn here (no JavaScript, no stylesheet or font to fetch, no
network). The page holds, per task, the candidate's score against the baseline's with stderr bars and the
gate's threshold (a score left of the red tick is a regression), the suite's history across the model's
releases (its NAME@v* tags, metrics read from git), and a section per thing that drifted: the gate's
verdicts, tasks whose greedy outputs changed, the delivery, truncated prompts.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from pathlib import Path

from evalpin.base import project
from evalpin.base.atomic import write_atomic
from evalpin.base.errors import EvalpinError
from evalpin.base.outs import FINGERPRINT_FILE, METRICS_FILE
from evalpin.config.compose import load_params
from evalpin.results.gate import (
    HEADER,
    WORKSPACE,
    Comparison,
    compare,
    delivery_of,
    load_side,
    read_at,
    rows,
    summary,
)
from evalpin.results.report import truncation_lines

ROW, LEFT, PLOT, RIGHT = 30, 230, 480, 90  # px: per-task row height; label, plot and value columns
BASELINE_COLOUR, CANDIDATE_COLOUR, GATE_COLOUR = "#9e9e9e", "#1f6fb4", "#d62728"
LINE_COLOURS = ("#1f6fb4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22")


@dataclass(frozen=True)
class Release:
    tag: str
    metrics: dict


def releases(root: Path, name: str) -> list[Release]:
    """The model's release tags (NAME@vX.Y.Z) in version order, each with its committed metrics."""
    tags = [t for t in project.git(root, "tag", "--list", f"{name}@v*").splitlines() if t]
    found = []
    for tag in sorted(tags, key=version_key):
        if project.git_show(root, tag, METRICS_FILE)[0] is not None:  # without metrics: no point on it
            found.append(Release(tag, load_side(root, tag).metrics))  # checked against its outputs
    return found


def version_key(tag: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", tag.rsplit("@", 1)[-1])[:3])


def comparison_or_none(root: Path, baseline: str, gate: dict, name: str) -> tuple[Comparison | None, str]:
    """The gate's comparison of the workspace with `baseline`, or None and why there is none: no
    committed metrics there, or metrics of another model (no baseline yet for this one). A revision
    that does not exist is an error, not "no baseline"."""
    try:
        project.git(root, "rev-parse", "--verify", "--quiet", f"{baseline}^{{commit}}")
    except EvalpinError as exc:
        raise EvalpinError(
            f"--baseline {baseline}: not a git revision here. Name a tag, branch or commit "
            "(`git tag --list`, `gto show`)."
        ) from exc
    if project.git_show(root, baseline, METRICS_FILE)[0] is None:
        return None, f"no baseline yet for {name}: {baseline} has no committed {METRICS_FILE}"
    side = load_side(root, baseline)  # committed metrics not bound to their outputs: refused, not hidden
    measured = (side.fingerprint.get("delivery") or {}).get("name")
    if measured != name:
        return None, f"no baseline yet for {name}: the scores at {baseline} are {measured}'s"
    return compare(root, baseline, WORKSPACE, gate), ""


def bar(x0: float, x1: float, y: float, height: float, colour: str, title: str) -> str:
    return (
        f'<rect x="{x0:.1f}" y="{y:.1f}" width="{max(x1 - x0, 1):.1f}" height="{height}" fill="{colour}">'
        f"<title>{html.escape(title)}</title></rect>"
    )


def whisker(x: float, err: float | None, y: float, scale: float) -> str:
    if not err:
        return ""
    lo, hi = x - err * scale, x + err * scale
    return (
        f'<path d="M{lo:.1f} {y:.1f}H{hi:.1f}M{lo:.1f} {y - 4:.1f}V{y + 4:.1f}M{hi:.1f} {y - 4:.1f}'
        f'V{y + 4:.1f}" stroke="#222" stroke-width="1.2" fill="none"/>'
    )


def text(x: float, y: float, words: str, anchor: str = "start", size: int = 12) -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}" '
        f'font-family="sans-serif">{html.escape(words)}</text>'
    )


def score_rows(metrics: dict, comparison: Comparison | None, gate: dict) -> list[dict]:
    """Per task of the candidate's metrics: both scores, their stderrs, and the gate's regression line."""
    base = comparison.baseline.metrics["tasks"] if comparison else {}
    verdicts = {v.task: v for v in comparison.tasks} if comparison else {}
    rows = []
    for task in sorted(metrics["tasks"].keys() | base.keys()):
        new, old, verdict = metrics["tasks"].get(task, {}), base.get(task, {}), verdicts.get(task)
        row = {"task": task, "candidate": new.get("score"), "candidate_err": new.get("stderr")}
        row |= {"baseline": old.get("score"), "baseline_err": old.get("stderr"), "gate": None}
        if verdict and verdict.verdict != "not comparable" and verdict.baseline is not None:
            spread = (
                verdict.mde if verdict.rule == "paired" else float(gate["k_stderr"]) * (verdict.stderr or 0.0)
            )
            threshold = max(spread or 0.0, float(gate["abs_floor"]))
            row["gate"] = verdict.baseline - threshold
        rows.append(row)
    return rows


def score_chart(rows: list[dict]) -> str:
    """Horizontal bars, a row per task: baseline (grey) and candidate (blue), stderr whiskers, and the
    gate's threshold as a red tick at baseline - max(the paired rule's minimum detectable effect, or the
    unpaired rule's k * stderr, abs_floor)."""
    ends = [r[k] + (r[f"{k}_err"] or 0) for r in rows for k in ("baseline", "candidate") if r[k] is not None]
    top = max([1.0, *ends])
    scale, height = PLOT / top, ROW * len(rows) + 40
    parts = [axis(top, scale, height - 30)]
    for i, r in enumerate(rows):
        y = 10 + i * ROW
        parts.append(text(LEFT - 8, y + 17, r["task"], "end"))
        for k, dy, colour in (("baseline", 2, BASELINE_COLOUR), ("candidate", 13, CANDIDATE_COLOUR)):
            if r[k] is not None:
                x = LEFT + r[k] * scale
                parts.append(bar(LEFT, x, y + dy, 10, colour, f"{r['task']} {k} {r[k]:.4f}"))
                parts.append(whisker(x, r[f"{k}_err"], y + dy + 5, scale))
        if r["gate"] is not None:
            gx = LEFT + max(r["gate"], 0.0) * scale
            parts.append(
                f'<path d="M{gx:.1f} {y:.1f}V{y + 25:.1f}" stroke="{GATE_COLOUR}" stroke-width="2.5">'
                f"<title>gate: a regression below {r['gate']:.4f}</title></path>"
            )
        value = r["candidate"] if r["candidate"] is not None else r["baseline"]
        parts.append(text(LEFT + PLOT + 8, y + 17, "-" if value is None else f"{value:.4f}"))
    return svg(LEFT + PLOT + RIGHT, height, parts, "scores per task")


def axis(top: float, scale: float, y: float) -> str:
    parts = [f'<path d="M{LEFT} {y:.1f}H{LEFT + PLOT}" stroke="#444"/>']
    for tick in (top * i / 4 for i in range(5)):
        x = LEFT + tick * scale
        parts.append(f'<path d="M{x:.1f} 4V{y:.1f}" stroke="#e4e4e4"/>')
        parts.append(text(x, y + 16, f"{tick:.2f}", "middle", 11))
    return "".join(parts)


def svg(width: float, height: float, parts: list[str], label: str) -> str:
    return (
        f'<svg width="{width:.0f}" height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" '
        f'role="img" aria-label="{html.escape(label)}">{"".join(parts)}</svg>'
    )


HISTORY_W, HISTORY_H, PAD = 760, 260, 50


def history_chart(history: list[Release]) -> str:
    """The suite mean (black, thick) and each task (thin) at every release, oldest left; a legend."""
    if not history:
        return "<p>No release of this model yet: <code>evalpin release NAME</code> tags one.</p>"
    tasks = sorted({t for r in history for t in r.metrics.get("tasks", {})})
    series = [("suite (mean)", [r.metrics.get("suite", {}).get("score") for r in history])]
    series += [(t, [r.metrics["tasks"].get(t, {}).get("score") for r in history]) for t in tasks]
    step = (HISTORY_W - 2 * PAD) / max(len(history) - 1, 1)
    bottom, span = HISTORY_H - PAD, HISTORY_H - PAD - 10
    parts = [f'<path d="M{PAD} {bottom}H{HISTORY_W - PAD}M{PAD} 10V{bottom}" stroke="#444"/>']
    parts += [text(PAD - 6, bottom - v * span + 4, f"{v:.1f}", "end", 11) for v in (0, 0.5, 1)]
    parts += [text(PAD + i * step, bottom + 18, r.tag, "middle", 11) for i, r in enumerate(history)]
    legend = []
    for n, (name, values) in enumerate(series):
        colour = "#111" if n == 0 else LINE_COLOURS[(n - 1) % len(LINE_COLOURS)]
        points = [(PAD + i * step, bottom - v * span) for i, v in enumerate(values) if v is not None]
        parts.append(
            f'<polyline points="{" ".join(f"{x:.1f},{y:.1f}" for x, y in points)}" fill="none" '
            f'stroke="{colour}" stroke-width="{3.5 if n == 0 else 1.3}"><title>{html.escape(name)}</title>'
            "</polyline>"
        )
        parts += [f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}"/>' for x, y in points]
        legend.append(f'<span class="key" style="background:{colour}"></span>{html.escape(name)}')
    return svg(HISTORY_W, HISTORY_H, parts, "suite history across releases") + (
        '<p class="legend">' + " ".join(legend) + "</p>"
    )


def changed_outputs(comparison: Comparison) -> list[str]:
    """Tasks on both sides whose greedy outputs (their fingerprint's outputs_sha256) differ."""
    old = comparison.baseline.fingerprint.get("suite", {}).get("tasks", {})
    new = comparison.candidate.fingerprint.get("suite", {}).get("tasks", {})
    return sorted(
        t
        for t in old.keys() & new.keys()
        if old[t].get("output_type") != "group"
        and old[t].get("outputs_sha256") != new[t].get("outputs_sha256")
    )


def verdict_table(comparison: Comparison) -> str:
    head = "".join(f"<th>{h}</th>" for h in HEADER)
    body = "".join(
        f'<tr class="{html.escape(v.verdict.replace(" ", "-"))}">'
        + "".join(f"<td>{html.escape(cell)}</td>" for cell in row)
        + "</tr>"
        for v, row in zip(comparison.tasks, rows(comparison), strict=True)
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def drift_html(comparison: Comparison | None, note: str, fingerprint: dict, metrics: dict) -> str:
    parts = [f'<p class="note">{html.escape(note)}</p>'] if note else []
    if comparison:
        parts.append(f"<pre>{html.escape(summary(comparison))}</pre>")
        parts.append('<h3 id="verdicts">The gate, task by task</h3>' + verdict_table(comparison))
        changed = changed_outputs(comparison)
        base = html.escape(comparison.baseline.rev)
        items = "".join(
            f"<li><code>{html.escape(t)}</code>: <code>evalpin outputs-diff {base}</code>, "
            f"<code>evalpin samples {html.escape(t)} --failed</code></li>"
            for t in changed
        )
        parts.append(
            '<h3 id="outputs">Greedy outputs that changed</h3>'
            + (f"<ul>{items}</ul>" if changed else "<p>None: every task answered as at the baseline.</p>")
        )
    cut = truncation_lines(fingerprint, metrics)
    parts.append(
        '<h3 id="truncation">Truncated prompts</h3>'
        + (
            "<ul>" + "".join(f"<li>{html.escape(line)}</li>" for line in cut) + "</ul>"
            if cut
            else "<p>None.</p>"
        )
    )
    return "".join(parts)


STYLE = (
    "body{font-family:sans-serif;margin:24px;color:#111;max-width:1000px}"
    "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}"
    "tr.regression td{background:#fde0e0}tr.not-comparable td{background:#fff3cd}"
    "tr.improved td{background:#e0f3e0}.note{background:#fff3cd;padding:6px}"
    ".key{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px}"
    "pre{background:#f4f4f4;padding:8px;white-space:pre-wrap}"
)


def build(root: Path, baseline: str = "HEAD") -> str:
    """The whole page for the workspace's scores against `baseline`."""
    params = load_params(root)
    name = params["model"]["name"]
    metrics, fingerprint = read_at(root, WORKSPACE, METRICS_FILE), read_at(root, WORKSPACE, FINGERPRINT_FILE)
    comparison, note = comparison_or_none(root, baseline, params["gate"], name)
    delivery = html.escape(delivery_of(load_side(root, WORKSPACE)))
    keys = (
        f'<p class="legend"><span class="key" style="background:{BASELINE_COLOUR}"></span>baseline '
        f'{html.escape(baseline)}<span class="key" style="background:{CANDIDATE_COLOUR}"></span>candidate '
        f'(workspace)<span class="key" style="background:{GATE_COLOUR}"></span>the gate: a score left of it '
        "is a regression. Whiskers: stderr.</p>"
    )
    chart = score_chart(score_rows(metrics, comparison, params["gate"]))
    body = [
        f"<h1>evalpin report: {html.escape(name)}</h1><p>{delivery}</p>",
        '<p><a href="#scores">scores</a> · <a href="#history">releases</a> · '
        '<a href="#drift">what drifted</a></p>',
        f'<h2 id="scores">Scores per task</h2>{keys}{chart}',
        f'<h2 id="history">{html.escape(name)} across releases</h2>{history_chart(releases(root, name))}',
        f'<h2 id="drift">What drifted</h2>{drift_html(comparison, note, fingerprint, metrics)}',
    ]
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>evalpin report: {html.escape(name)}</title><style>{STYLE}</style></head>"
        f"<body>{''.join(body)}</body></html>\n"
    )


def write(root: Path, path: Path, baseline: str = "HEAD") -> Path:
    target = path if path.is_absolute() else Path.cwd() / path
    write_atomic(target, build(root, baseline))
    return target
