"""Untrusted text from records made inert in each output format (markdown, HTML, LaTeX, CSV), for every table
bench writes (the leaderboard, its cell tables, the board diff)."""

from __future__ import annotations

import html
from typing import Any

_MARKDOWN_SPECIAL = str.maketrans({c: "\\" + c for c in "\\`*~[]|"} | {"<": "&lt;", ">": "&gt;", "&": "&amp;"})
_LATEX_SPECIAL = str.maketrans({
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
    "}": r"\}", "~": r"\textasciitilde{}", "^": r"\^{}",
})


def escape_text(text: Any, fmt: str) -> str:
    """Untrusted text from records (device names, errors, variant labels, grid values), made inert for ``fmt``.

    Whitespace runs (newlines included) become one space, so no text can start a row, a heading or a list
    item; markdown markup and HTML are escaped; CSV cells cannot start a spreadsheet formula.
    """
    flat = " ".join(str(text).split())
    if fmt == "markdown":
        return flat.translate(_MARKDOWN_SPECIAL)
    if fmt == "html":
        return html.escape(flat)
    if fmt == "latex":
        return flat.translate(_LATEX_SPECIAL)
    if fmt == "csv" and flat[:1] in ("=", "+", "-", "@"):
        return "'" + flat
    return flat
