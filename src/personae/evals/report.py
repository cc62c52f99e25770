"""The HTML report of an eval run: one self-contained page, charts drawn as inline SVG (no
scripts, nothing fetched), every text escaped."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from html import escape

from personae.evals.results import STATUSES, EvalRun, Regression, Status

COLOURS: dict[Status, str] = {
    "pass": "#2e7d32",
    "fail": "#c62828",
    "skip": "#9e9e9e",
    "error": "#ef6c00",
}
_BAR_W = 420
_ROW_H = 22


def _by_check(run: EvalRun) -> dict[str, dict[Status, int]]:
    found: dict[str, dict[Status, int]] = defaultdict(lambda: dict.fromkeys(STATUSES, 0))
    for case in run.cases:
        for check in case.checks:
            found[check.check][check.status] += 1
    return dict(sorted(found.items()))


def stacked_bars(rows: Sequence[tuple[str, dict[Status, int]]], title: str) -> str:
    """One horizontal bar per row, split by status; widths are shares of the row's total."""
    label_w = 150
    height = _ROW_H * len(rows) + 30
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{label_w + _BAR_W + 60}" '
        f'height="{height}" role="img" aria-label="{escape(title)}">',
        f'<text x="0" y="14" font-size="13" font-weight="bold">{escape(title)}</text>',
    ]
    for index, (label, counts) in enumerate(rows):
        y = 24 + index * _ROW_H
        total = sum(counts.values()) or 1
        parts.append(f'<text x="0" y="{y + 14}" font-size="12">{escape(label)}</text>')
        x = float(label_w)
        for status in STATUSES:
            width = _BAR_W * counts.get(status, 0) / total
            if width > 0:
                parts.append(
                    f'<rect x="{x:.1f}" y="{y}" width="{width:.1f}" height="{_ROW_H - 6}" '
                    f'fill="{COLOURS[status]}"><title>{status}: {counts[status]}</title></rect>'
                )
                x += width
        passed = counts.get("pass", 0)
        parts.append(
            f'<text x="{label_w + _BAR_W + 6}" y="{y + 14}" font-size="12">'
            f"{passed}/{sum(counts.values())}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def score_bars(run: EvalRun) -> str:
    """The judge's score per judged case (1-5), or nothing when no case was judged."""
    scores = [
        (case.name, check.score)
        for case in run.cases
        for check in case.checks
        if check.score is not None
    ]
    if not scores:
        return ""
    label_w = 150
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{label_w + _BAR_W + 60}" '
        f'height="{_ROW_H * len(scores) + 30}" role="img" aria-label="judge scores">',
        '<text x="0" y="14" font-size="13" font-weight="bold">Judge score (1-5)</text>',
    ]
    for index, (name, score) in enumerate(scores):
        y = 24 + index * _ROW_H
        width = _BAR_W * (score or 0) / 5
        parts.append(f'<text x="0" y="{y + 14}" font-size="12">{escape(name[:22])}</text>')
        parts.append(
            f'<rect x="{label_w}" y="{y}" width="{width:.1f}" height="{_ROW_H - 6}" '
            f'fill="#1565c0"><title>{score:g}</title></rect>'
        )
        parts.append(
            f'<text x="{label_w + width + 6:.1f}" y="{y + 14}" font-size="12">{score:g}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def render_html(run: EvalRun, baseline: EvalRun | None, found: Sequence[Regression]) -> str:
    totals = run.counts()
    rows: list[tuple[str, dict[Status, int]]] = [("this run", totals)]
    if baseline is not None:
        rows.append((f"baseline (rev {baseline.revision})", baseline.counts()))
    charts = [
        stacked_bars(rows, "Checks by outcome"),
        stacked_bars(list(_by_check(run).items()), "Each kind of check"),
        score_bars(run),
    ]
    verdict = (
        f"{len(found)} regression(s) against the baseline"
        if found
        else ("no regression against the baseline" if baseline else "first run: stored as baseline")
    )
    regressed = {(r.case, r.check) for r in found}
    table = []
    for case in run.cases:
        checks = "<br>".join(
            f'<span style="color:{COLOURS[c.status]}">{escape(c.status)}</span> '
            f"{escape(c.check)}{' ⚠ regression' if (case.name, c.check) in regressed else ''}"
            f"{': ' + escape(c.detail) if c.detail else ''}"
            for c in case.checks
        )
        turns = "".join(
            f"<p><b>person:</b> {escape(m)}<br><b>{escape(run.persona)}:</b> {escape(r)}</p>"
            for m, r in zip(case.messages, case.replies or ("",) * len(case.messages), strict=False)
        )
        table.append(
            f"<tr><td>{escape(case.name)}<br><small>{case.kind}</small></td>"
            f'<td style="color:{COLOURS[case.status]}">{case.status}</td>'
            f"<td>{checks}</td><td>{turns}</td></tr>"
        )
    summary = ", ".join(f"{count} {status}" for status, count in totals.items())
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>personae eval: {escape(run.persona)} revision {run.revision}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; max-width: 70em; }}
table {{ border-collapse: collapse; width: 100%; }}
td, th {{ border: 1px solid #ddd; padding: .4em; vertical-align: top; text-align: left; }}
p {{ margin: .2em 0; }}
</style></head><body>
<h1>{escape(run.persona)}, revision {run.revision}</h1>
<p>{escape(run.engine)} {escape(run.model)}; judge: {escape(run.judge or "none")};
started {escape(run.started_at)}</p>
<p><b>{escape(verdict)}</b>; checks: {escape(summary)}</p>
{"".join(f"<div>{chart}</div>" for chart in charts if chart)}
<h2>Cases</h2>
<table><tr><th>case</th><th>result</th><th>checks</th><th>conversation</th></tr>
{"".join(table)}
</table></body></html>
"""
