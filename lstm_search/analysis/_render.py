"""Render a report, a list of blocks (headings, paragraphs, notes, tables, figures), to Markdown
and to one self-contained HTML file (figures embedded as base64 PNG data URIs, CSS inline).
"""

from __future__ import annotations

import base64
import html
import math
import re
from dataclasses import dataclass, field
from typing import Any

import pandas as pd


@dataclass
class Block:
    """One piece of a report. ``kind``: "h1", "h2", "h3", "p", "note", "table", "figure",
    "gallery" (small figures side by side: ``items`` of (name, caption, png)), "links" (a list
    of relative links: ``links`` of (label, href))."""

    kind: str
    text: str = ""
    table: pd.DataFrame | None = None
    png: bytes = b""
    name: str = ""  # figure file stem
    classes: dict[str, str] = field(default_factory=dict)  # table cell text -> CSS class
    items: list[tuple[str, str, bytes]] = field(default_factory=list)
    links: list[tuple[str, str]] = field(default_factory=list)


def fmt(value: Any, column: str = "") -> str:
    """A table cell as text: p-values in 2 significant digits, other floats in 4."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int) or (hasattr(value, "dtype") and "int" in str(value.dtype)):
        return f"{int(value):,}" if abs(int(value)) >= 10000 else str(int(value))
    if isinstance(value, float) or hasattr(value, "dtype"):
        v = float(value)
        if "p (" in column or column.startswith("p ") or column.endswith(" p"):
            return "<1e-300" if v == 0 else f"{v:.2g}" if v >= 1e-3 else f"{v:.1e}"
        if math.isinf(v):
            return "∞" if v > 0 else "-∞"
        if abs(v) >= 1e9 or (v != 0 and abs(v) < 1e-3):
            return f"{v:.3g}"
        if abs(v) >= 1000:
            return f"{v:,.0f}"
        return f"{v:.4g}"
    return str(value)


# characters with a meaning in Markdown (and GitHub's math): escaped in text from the table
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|$#!~])")


def md_escape(text: str) -> str:
    """``text`` shown literally in Markdown: markup characters backslash-escaped, line breaks
    and other control characters as spaces (a cell named ``<script>`` or ``$\\frac{$`` is
    text, not HTML or math)."""
    text = "".join(" " if ord(ch) < 32 or ord(ch) == 127 else ch for ch in str(text))
    return _MD_SPECIAL.sub(r"\\\1", text)


def md_text(text: str) -> str:
    """A report sentence in Markdown: its `code` spans kept (their content is literal), the
    rest escaped with :func:`md_escape`; with an odd number of backticks (a name holding one)
    everything is escaped."""
    pieces = text.split("`")
    if len(pieces) % 2 == 0:
        return md_escape(text)
    return "".join(f"`{' '.join(p.splitlines())}`" if i % 2 else md_escape(p)
                   for i, p in enumerate(pieces))


def to_markdown(blocks: list[Block]) -> str:
    out: list[str] = []
    for b in blocks:
        if b.kind in ("h1", "h2", "h3"):
            out.append("#" * int(b.kind[1]) + " " + md_text(b.text))
        elif b.kind == "p":
            out.append(md_text(b.text))
        elif b.kind == "note":
            out.append("> **Note:** " + md_text(b.text))
        elif b.kind == "table" and b.table is not None:
            out.append(_md_table(b.table))
        elif b.kind == "figure":
            out.append(f"![{md_escape(b.text)}](figures/{b.name}.png)\n\n*{md_text(b.text)}*")
        elif b.kind == "gallery":  # each image links to its full-size file
            out.append(" ".join(f"[![{md_escape(cap)}](figures/{name}.png)](figures/{name}.png)"
                                for name, cap, _ in b.items))
        elif b.kind == "links":
            out.append("\n".join(f"- [{md_escape(label)}](<{href}>)" for label, href in b.links))
    return "\n\n".join(out) + "\n"


def _md_table(df: pd.DataFrame) -> str:
    if df.empty:
        return "*(no rows)*"
    cols = [str(c) for c in df.columns]

    def cell(v: Any, c: str) -> str:
        return md_escape(fmt(v, c))

    lines = ["| " + " | ".join(map(md_escape, cols)) + " |", "|" + "|".join(
        "---:" if pd.api.types.is_numeric_dtype(df[c]) else ":---" for c in df.columns) + "|"]
    for row in df.itertuples(index=False):
        lines.append("| " + " | ".join(cell(v, c) for v, c in zip(row, cols)) + " |")
    return "\n".join(lines)


_CSS = """
body{font-family:-apple-system,BlinkMacSystemFont,"Segoe UI",Helvetica,Arial,sans-serif;
 max-width:1180px;margin:2rem auto;padding:0 1.2rem;color:#222;line-height:1.5}
h1{font-size:1.7rem;border-bottom:2px solid #333;padding-bottom:.3rem}
h2{font-size:1.35rem;margin-top:2.4rem;border-bottom:1px solid #ccc;padding-bottom:.2rem}
h3{font-size:1.08rem;margin-top:1.6rem}
table{border-collapse:collapse;font-size:.82rem;margin:.6rem 0 1rem;display:block;
 overflow-x:auto;max-width:100%}
th,td{padding:.25rem .55rem;border-bottom:1px solid #e3e3e3;white-space:nowrap}
th{background:#f4f4f4;text-align:left;position:sticky;top:0}
td.num{text-align:right;font-variant-numeric:tabular-nums}
tr:hover td{background:#fafafa}
.note{background:#fff8e5;border-left:4px solid #e0a800;padding:.5rem .8rem;margin:.8rem 0}
.better{background:#dcecf7;color:#114a70;font-weight:600}
.worse{background:#fbe3d2;color:#8a3200;font-weight:600}
.same{color:#666}
.baseline{font-weight:700}
figure{margin:1rem 0 1.6rem}
figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.85rem;color:#555;margin-top:.3rem}
.gallery{display:flex;flex-wrap:wrap;gap:1rem;align-items:flex-start}
.gallery figure{flex:0 1 calc(50% - .5rem);margin:0;min-width:420px}
.gallery img{width:100%;max-height:600px;object-fit:contain;background:#fff;cursor:zoom-in}
.gallery .close{display:none}
.gallery figure:target{position:fixed;inset:0;z-index:10;margin:0;padding:.8rem 1.2rem;
 overflow:auto;background:#fff}
.gallery figure:target img{max-height:none;cursor:default;border:0}
.gallery figure:target .close{display:block;position:sticky;top:0;float:right;z-index:11;
 background:#333;color:#fff;padding:.2rem .7rem;border-radius:4px;text-decoration:none}
code{background:#f4f4f4;padding:0 .25rem;border-radius:3px}
"""


def to_html(blocks: list[Block], title: str) -> str:
    parts = [f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
             f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
             f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>"]
    for b in blocks:
        if b.kind in ("h1", "h2", "h3"):
            parts.append(f"<{b.kind} id=\"{_anchor(b.text)}\">{_inline(b.text)}</{b.kind}>")
        elif b.kind == "p":
            parts.append(f"<p>{_inline(b.text)}</p>")
        elif b.kind == "note":
            parts.append(f"<div class=\"note\"><strong>Note:</strong> {_inline(b.text)}</div>")
        elif b.kind == "table" and b.table is not None:
            parts.append(_html_table(b.table, b.classes))
        elif b.kind == "figure":
            data = base64.b64encode(b.png).decode("ascii")
            parts.append(f"<figure><img src=\"data:image/png;base64,{data}\" "
                         f"alt=\"{html.escape(b.text)}\" data-figure=\"{html.escape(b.name)}\">"
                         f"<figcaption>{_inline(b.text)}</figcaption></figure>")
        elif b.kind == "gallery":
            parts.append(_html_gallery(b.items))
        elif b.kind == "links":
            parts.append("<ul>" + "".join(
                f"<li><a href=\"{html.escape(href)}\">{html.escape(label)}</a></li>"
                for label, href in b.links) + "</ul>")
    parts.append("</body></html>\n")
    return "\n".join(parts)


def _html_gallery(items: list[tuple[str, str, bytes]]) -> str:
    """Figures side by side; a click on one shows it across the window (CSS ``:target``, no
    script and no second copy of the image), "close" returns to the gallery."""
    gallery = "gallery-" + _anchor(items[0][0]) if items else "gallery"
    figures = []
    for name, cap, png in items:
        fid = "fig-" + _anchor(name)
        data = base64.b64encode(png).decode("ascii")
        figures.append(
            f"<figure id=\"{fid}\"><a class=\"close\" href=\"#{gallery}\">close ×</a>"
            f"<a class=\"zoom\" href=\"#{fid}\" title=\"enlarge\"><img "
            f"src=\"data:image/png;base64,{data}\" alt=\"{html.escape(cap)}\" "
            f"data-figure=\"{html.escape(name)}\"></a><figcaption>{_inline(cap)}; click to "
            "enlarge.</figcaption></figure>")
    return f"<div class=\"gallery\" id=\"{gallery}\">" + "".join(figures) + "</div>"


def _anchor(text: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in text.lower())


def _inline(text: str) -> str:
    """Escape, then turn `code` spans into <code> (the only inline markup reports use)."""
    pieces = html.escape(text).split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(pieces))


def _html_table(df: pd.DataFrame, classes: dict[str, str]) -> str:
    if df.empty:
        return "<p><em>(no rows)</em></p>"
    numeric = [pd.api.types.is_numeric_dtype(df[c]) for c in df.columns]
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    rows = []
    for row in df.itertuples(index=False):
        tds = []
        for v, c, num in zip(row, df.columns, numeric):
            text = fmt(v, str(c))
            cls = ["num"] if num else []
            if text in classes:
                cls.append(classes[text])
            attr = f" class=\"{' '.join(cls)}\"" if cls else ""
            tds.append(f"<td{attr}>{html.escape(text)}</td>")
        rows.append("<tr>" + "".join(tds) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
