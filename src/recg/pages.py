"""The Markdown tables recg writes, also as HTML pages: Snakemake's report viewer shows an HTML
file inline but only offers a Markdown file for download.

Only the subset recg itself writes is understood: `#` headings, paragraphs, pipe tables as
`DataFrame.to_markdown` makes them, and inline `code`, **bold** and _italic_ spans.
"""

from __future__ import annotations

import html
import os
import re
from pathlib import Path

from recg.io import atomic_paths

STYLE = (
    "body{font-family:sans-serif;margin:1.5em;color:#1f2937}"
    "table{border-collapse:collapse;margin:0.5em 0 1.5em}"
    "th,td{border:1px solid #d1d5db;padding:0.25em 0.6em}"
    "th{background:#f3f4f6}td.r,th.r{text-align:right}"
    "code{background:#f3f4f6;padding:0 0.2em}"
)
SPANS = [
    (re.compile(r"`([^`]+)`"), r"<code>\1</code>"),
    (re.compile(r"\*\*([^*]+)\*\*"), r"<strong>\1</strong>"),
    (re.compile(r"(?<!\w)_([^_]+)_(?!\w)"), r"<em>\1</em>"),
]


def _inline(text: str) -> str:
    text = html.escape(text, quote=False)
    for pattern, replacement in SPANS:
        text = pattern.sub(replacement, text)
    return text


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def _table(lines: list[str]) -> str:
    header, rule, *body = lines
    right = [cell.endswith(":") and not cell.startswith(":") for cell in _cells(rule)]

    def row(cells: list[str], tag: str) -> str:
        return (
            "<tr>"
            + "".join(
                f"<{tag}{' class=r' if right[i] else ''}>{_inline(c)}</{tag}>"
                for i, c in enumerate(cells)
            )
            + "</tr>"
        )

    rows = [row(_cells(header), "th"), *(row(_cells(line), "td") for line in body)]
    return "<table>" + "".join(rows) + "</table>"


def markdown_html(text: str) -> str:
    """A whole HTML page from recg's Markdown."""
    parts: list[str] = []
    table: list[str] = []
    paragraph: list[str] = []

    def close() -> None:
        if table:
            parts.append(_table(table))
            table.clear()
        if paragraph:
            parts.append(f"<p>{_inline(' '.join(paragraph))}</p>")
            paragraph.clear()

    for line in text.splitlines():
        if line.startswith("|"):
            if paragraph:
                close()
            table.append(line)
        elif line.startswith("#"):
            close()
            level = min(len(line) - len(line.lstrip("#")), 6)
            parts.append(f"<h{level}>{_inline(line.lstrip('#').strip())}</h{level}>")
        elif line.strip():
            if table:
                close()
            paragraph.append(line.strip())
        else:
            close()
    close()
    body = "\n".join(parts)
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
        f"<style>{STYLE}</style></head>\n<body>\n{body}\n</body></html>\n"
    )


def write_markdown(text: str, path: str | os.PathLike) -> None:
    """`path` (.md) and its HTML twin beside it (.html), written together."""
    page = Path(path).with_suffix(".html")
    with atomic_paths(path, page) as (md_tmp, html_tmp):
        md_tmp.write_text(text)
        html_tmp.write_text(markdown_html(text))
