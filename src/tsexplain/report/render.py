"""Write a Report as Markdown (figures as PNG files beside it) and as one self-contained HTML page (figures inlined
as base64, styles inline, no external asset)."""

from __future__ import annotations

import base64
import html
import os
from pathlib import Path

from tsexplain.report.build import Report, Section, seeds_text
from tsexplain.report.grouping import direction

LEGEND = ("Cells: mean ± standard error over seeds (n runs); bold: best mean of the column (within each dataset when "
          "the table spans several); published: the value a paper reports for the same dataset, explainer and "
          "black box (beside ours); ↑ higher is better, ↓ lower is better.")


def _header(section: Section) -> list[str]:
    head = [*section.by, "n"]
    for m in section.metrics:
        arrow = {1: " ↑", -1: " ↓"}.get(direction(m), "")
        head.append(m + arrow)
        if section.anchored(m):
            head.append("published")
    return head


def _rows(section: Section) -> list[list[tuple[str, bool, str]]]:
    """Cells as (text, is_best, kind) per row; kind is 'key', 'n', 'value' or 'anchor'."""
    rows = []
    for i, g in enumerate(section.groups):
        cells = [(v, False, "key") for v in g.keys] + [(str(len(g.runs)), False, "n")]
        for m in section.metrics:
            cells.append((g.stats[m].text(), m in g.best, "value"))
            if section.anchored(m):
                a = section.anchors.get((i, m))
                cells.append((f"{a.value:.3f}" if a else "", False, "anchor"))
        rows.append(cells)
    return rows


def _rel(root: Path, path: Path) -> str:
    try:
        return str(path.relative_to(root)) or "."
    except ValueError:
        return str(path)


def _sources(section: Section) -> list[str]:
    return sorted({a.source for a in section.anchors.values()})


def _fixed_text(section: Section) -> str:
    fixed = ", ".join(f"{k}={v}" for k, v in section.fixed.items())
    seeds = sorted({s for g in section.groups for s in g.seeds}, key=lambda s: (len(s), s))
    grouped = ", ".join(section.by) if section.by else "nothing (all runs differ only by seed)"
    runs = f"{len(section.runs)} run{'s' if len(section.runs) != 1 else ''}"
    return (f"{runs}; grouped by {grouped}; seeds {', '.join(seeds)}"
            + (f"; fixed: {fixed}" if fixed else ""))


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|")


def section_table(s: Section) -> list[str]:
    """A section's Markdown table, its published-sources line and its notes (lines, each block ending blank)."""
    head = _header(s)
    out = ["| " + " | ".join(_md_cell(h) for h in head) + " |",
           "|" + "|".join("---" if i < len(s.by) else "---:" for i in range(len(head))) + "|"]
    for row in _rows(s):
        out.append("| " + " | ".join(_md_cell(f"**{t}**" if best else t) for t, best, _ in row) + " |")
    out.append("")
    if s.anchors:
        out += [f"Published: {', '.join(_sources(s))} (see anchors.yaml for the citation).", ""]
    out += [f"- {n}" for n in s.notes] + ([""] if s.notes else [])
    return out


def readme_block(report: Report, command: str) -> str:
    """The report's tables for a README block (no headings, no figures): per sweep its settings line, table,
    published sources and notes, then the skipped runs with their reasons; `command` is what wrote it."""
    out = [f"Written by `{command}`: {report.n_runs} runs, {len(report.skipped)} skipped. {LEGEND}", ""]
    out += [f"> Note: {n}" for n in report.notes] + ([""] if report.notes else [])
    for s in report.sections:
        out += [f"**{s.sweep}**: {_fixed_text(s)}", "", *section_table(s)]
    if report.skipped:
        out += [f"Skipped: {len(report.skipped)} run folder(s)", ""]
        out += [f"- `{_rel(report.root, k.path)}`: {k.reason}" for k in report.skipped]
        out.append("")
    return "\n".join(out).strip() + "\n"


def to_markdown(report: Report, fig_dir: str = "figures") -> str:
    """The report as Markdown; figures are linked as `fig_dir/<name>` (write_report writes them there)."""
    out = [f"# Comparison report: {report.root.name or report.root}", "",
           f"{report.n_runs} runs read from `{report.root}` in {len(report.sections)} sweep(s); "
           f"{len(report.skipped)} skipped. {LEGEND}", ""]
    out += [f"> Note: {n}" for n in report.notes] + ([""] if report.notes else [])
    for s in report.sections:
        out += [f"## {s.sweep}", "", _fixed_text(s), "", *section_table(s)]
        for f in s.figures:
            out += [f"![{f.title}]({fig_dir}/{f.name})", ""]
    out += ["## Skipped", ""]
    if report.skipped:
        out += ["| run folder | why |", "|---|---|"]
        out += [f"| {_md_cell(_rel(report.root, k.path))} | {_md_cell(k.reason)} |" for k in report.skipped]
    else:
        out.append("Nothing was skipped.")
    return "\n".join(out) + "\n"


_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:2rem auto;max-width:1600px;
  padding:0 1rem;color:#1d1d1f;line-height:1.45}
h1{font-size:1.6rem;margin-bottom:.3rem}h2{font-size:1.25rem;margin-top:2.2rem;border-bottom:1px solid #ddd}
p.meta{color:#555;font-size:.92rem}.note{background:#fff6db;border-left:4px solid #e0b000;padding:.4rem .8rem;
  margin:.6rem 0}
table{border-collapse:collapse;font-size:.82rem;margin:.6rem 0 1rem;font-variant-numeric:tabular-nums}
th,td{border:1px solid #d0d0d0;padding:.22rem .45rem;text-align:right;white-space:nowrap}
th{background:#f2f4f7}td.key,th.key{text-align:left}td.best{font-weight:700;background:#e5f4e7}
span.anchor{color:#6a4c93;font-size:.8rem}
.scroll{overflow-x:auto}.figs{display:flex;flex-wrap:wrap;gap:1rem;align-items:flex-start}
figure{margin:.5rem 0}figure img{max-width:100%;border:1px solid #eee}figcaption{font-size:.85rem;color:#555}
"""


def _th(head: str, key: bool, anchored: bool = False) -> str:
    """A header cell; `explain/` metrics print without their prefix (the full name is the cell's tooltip)."""
    short = head.removeprefix("explain/")
    title = f" title='{html.escape(head)}'" if short != head else ""
    below = "<br><span class='anchor'>published</span>" if anchored else ""
    return f"<th{' class=key' if key else ''}{title}>{html.escape(short)}{below}</th>"


def to_html(report: Report) -> str:
    """The report as one HTML page: tables, notes, skipped runs, and figures inlined as data: URIs."""
    e = html.escape
    out = ["<!DOCTYPE html>", "<html lang='en'><head><meta charset='utf-8'>",
           f"<title>Comparison report: {e(report.root.name or str(report.root))}</title>",
           f"<style>{_CSS}</style></head><body>",
           f"<h1>Comparison report: {e(report.root.name or str(report.root))}</h1>",
           f"<p class='meta'>{report.n_runs} runs read from <code>{e(str(report.root))}</code> in "
           f"{len(report.sections)} sweep(s); {len(report.skipped)} skipped. {e(LEGEND)}</p>"]
    out += [f"<p class='note'>Note: {e(n)}</p>" for n in report.notes]
    for s in report.sections:
        out += [f"<h2 id='{e(s.sweep)}'>{e(s.sweep)}</h2>", f"<p class='meta'>{e(_fixed_text(s))}</p>",
                f"<div class='scroll'><table class='results' data-sweep='{e(s.sweep)}'><thead><tr>"]
        # published values go under our number in the same cell (one column per metric keeps the page narrow)
        head = [h for h in _header(s) if h != "published"]
        anchored = {i for i, m in enumerate(s.metrics) if s.anchored(m)}
        out.append("".join(_th(h, i < len(s.by), (i - len(s.by) - 1) in anchored) for i, h in enumerate(head)))
        out.append("</tr></thead><tbody>")
        for g, row in zip(s.groups, _rows(s), strict=True):
            tds: list[str] = []
            for text, best, kind in row:
                if kind == "anchor":
                    if text:
                        tds[-1] = tds[-1].replace("</td>", f"<br><span class='anchor'>published {e(text)}</span></td>")
                    continue
                cls = " ".join(c for c in (kind if kind == "key" else "", "best" if best else "") if c)
                title = f" title='seeds {e(seeds_text(g))}'" if kind == "n" else ""
                attr = f' class="{cls}"' if cls else ""
                tds.append(f"<td{attr}{title}>{e(text)}</td>")
            out.append("<tr>" + "".join(tds) + "</tr>")
        out.append("</tbody></table></div>")
        if s.anchors:
            out.append(f"<p class='meta'>Published: {e(', '.join(_sources(s)))} (citation in anchors.yaml).</p>")
        out += [f"<p class='note'>{e(n)}</p>" for n in s.notes]
        out.append("<div class='figs'>")
        for f in s.figures:
            data = base64.b64encode(f.png).decode("ascii")
            out.append(f"<figure><img alt='{e(f.title)}' src='data:image/png;base64,{data}'>"
                       f"<figcaption>{e(f.title)}</figcaption></figure>")
        out.append("</div>")
    out.append("<h2 id='skipped'>Skipped</h2>")
    if report.skipped:
        out.append("<table class='skipped'><thead><tr><th class='key'>run folder</th><th class='key'>why</th></tr>"
                   "</thead><tbody>")
        out += [f"<tr><td class='key'>{e(_rel(report.root, k.path))}</td><td class='key'>{e(k.reason)}</td></tr>"
                for k in report.skipped]
        out.append("</tbody></table>")
    else:
        out.append("<p>Nothing was skipped.</p>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def write_report(report: Report, out_dir: Path) -> dict[str, Path]:
    """report.md (+ figures/*.png) and report.html in `out_dir`; each written whole then renamed into place."""
    out_dir = Path(out_dir)
    fig_dir = out_dir / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    for s in report.sections:
        for f in s.figures:
            (fig_dir / f.name).write_bytes(f.png)
    paths = {"markdown": out_dir / "report.md", "html": out_dir / "report.html"}
    for key, text in (("markdown", to_markdown(report)), ("html", to_html(report))):
        tmp = paths[key].with_name(f".{paths[key].name}.{os.getpid()}.tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, paths[key])
    return paths
