"""docs/performance.md: sections of tables, each goal with what was measured and, when missed, why."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Verdict:
    goal: str
    measured: str
    met: bool
    why: str = ""  # printed when the goal is missed: by how much and the reason


@dataclass
class Section:
    title: str
    method: str  # what was run, against which reference
    headers: list[str]
    rows: list[list[str]] = field(default_factory=list)
    verdicts: list[Verdict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def table(headers: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(" --- " for _ in headers) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def render_verdict(verdict: Verdict) -> str:
    mark = "met" if verdict.met else "**missed**"
    line = f"- {verdict.goal}: {verdict.measured} — {mark}"
    why = verdict.why if verdict.why.endswith(".") else f"{verdict.why}."
    return line + (f". {why}" if not verdict.met and verdict.why else "")


def render_section(section: Section) -> str:
    parts = [f"## {section.title}", section.method, table(section.headers, section.rows)]
    if section.verdicts:
        parts.append("\n".join(render_verdict(v) for v in section.verdicts))
    parts += section.notes
    return "\n\n".join(parts)


def render(title: str, preamble: str, machine: list[list[str]], sections: list[Section]) -> str:
    verdicts = [v for s in sections for v in s.verdicts]
    summary = table(
        ["goal", "measured", "status"],
        [[v.goal, v.measured, "met" if v.met else "**missed**"] for v in verdicts],
    )
    body = [f"# {title}", preamble, "## Summary", summary, "## Machine", table(["", ""], machine)]
    body += [render_section(s) for s in sections]
    return "\n\n".join(body) + "\n"


def seconds(value: float) -> str:
    return f"{value:.3f} s" if value < 10 else f"{value:.1f} s"


def ratio(value: float) -> str:
    return f"{value:.2f}x"


def gbps(nbytes: int, secs: float) -> str:
    return f"{nbytes / secs / 1e9:.2f} GB/s"


def verdict_lines(rendered: str) -> list[list[str]]:
    """A rendered section's verdicts back as summary rows: `- GOAL: MEASURED — met[. why]`."""
    rows = []
    for line in rendered.splitlines():
        if line.startswith("- ") and " — " in line:
            claim, mark = line[2:].split(" — ", 1)
            if ": " in claim:
                goal, measured = claim.rsplit(": ", 1)
                rows.append([goal, measured, "met" if mark.startswith("met") else "**missed**"])
    return rows


def merge(existing: str, note: str, sections: list[Section]) -> str:
    """`existing` (a page render wrote) with `sections` in place of those of the same title, or after
    the others; the others are kept as measured, the summary lists every section's verdicts, and `note`
    (what was re-measured, when) follows the preamble."""
    head, *parts = existing.rstrip("\n").split("\n\n## ")
    kept = {p.split("\n", 1)[0]: f"## {p}" for p in parts}
    machine = kept.pop("Machine", "## Machine")
    kept.pop("Summary", None)
    rendered = {**kept, **{s.title: render_section(s) for s in sections}}
    rows = [row for text in rendered.values() for row in verdict_lines(text)]
    summary = table(["goal", "measured", "status"], rows)
    return "\n\n".join([head, note, "## Summary", summary, machine, *rendered.values()]) + "\n"
