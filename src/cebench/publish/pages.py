"""The frame every cebench page of the site shares: one stylesheet, one navigation bar,
tables that fold when long, Markdown rendered with its ``<details>`` blocks working.

Pages are self-contained (inline CSS, no script, nothing from outside the site) so that
they open from disk (``file://``) as well as over HTTP.
"""

from __future__ import annotations

import html
import re

#: (title, path from the site's root) of the navigation bar, in order.
NAV = [("Answers", "index.html"), ("Findings", "cebench/findings.html"),
       ("Newest run", "cebench/newest.html"), ("Implementations", "cebench/implementations.html"),
       ("Analysis", "cebench/analysis.html"), ("Semantics check", "cebench/check.html"),
       ("Benchmark charts", "benchmarks.html")]
#: Tables longer than this are folded into a <details> block.
FOLD_ROWS = 25

CSS = """body{font-family:system-ui,-apple-system,'DejaVu Sans',sans-serif;margin:0;
color:#1b1f24;line-height:1.45;background:#fff}
main{max-width:72rem;margin:0 auto;padding:1rem 1.5rem 3rem}
nav.site{background:#0b3d6e;padding:.45rem 1.5rem;font-size:.95rem}
nav.site a{color:#fff;margin-right:1.2rem;text-decoration:none}
nav.site a.here{font-weight:700;text-decoration:underline}
h1{font-size:1.6rem;margin:.8rem 0 .4rem}h2{font-size:1.25rem;margin-top:1.8rem}
table{border-collapse:collapse;margin:.6rem 0 1rem;font-size:.88rem}
th,td{border:1px solid #d0d7de;padding:.2rem .55rem;text-align:left;vertical-align:top;
overflow-wrap:break-word}
th{background:#f3f5f7}td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.worse td{background:#ffebe9}tr.better td{background:#e6f4ea}
tr.untested td{color:#57606a}
code,pre{background:#f3f5f7;padding:.1rem .3rem;font-size:.85rem}
pre{padding:.5rem;overflow-x:auto}
details{margin:.4rem 0 1rem}summary{cursor:pointer;color:#0b5cad}
.answer{border-left:4px solid #0b5cad;background:#f6f9fc;padding:.6rem 1rem;margin:1rem 0}
.rule{color:#57606a;font-size:.88rem;margin:.2rem 0}
.verdict-regression{color:#b42318;font-weight:700}
.verdict-improvement{color:#1a7f37;font-weight:700}
.verdict-inconclusive,.verdict-unchanged,.verdict-none{color:#57606a;font-weight:700}
.muted{color:#57606a}.pending{border:1px dashed #8c959f;padding:.6rem 1rem;color:#57606a}"""


def esc(value) -> str:
    return html.escape(str(value), quote=True)


def nav(here: str, prefix: str) -> str:
    """The navigation bar; ``prefix`` leads from the page to the site's root."""
    mark = ' class="here"'
    links = "".join(f'<a href="{prefix}{path}"{mark if path == here else ""}>{esc(title)}</a>'
                    for title, path in NAV)
    return f'<nav class="site">{links}</nav>'


def page(title: str, body: str, here: str = "", prefix: str = "") -> str:
    """A complete page: ``here`` is its path from the root (marks the bar), ``prefix``
    the way back to the root ('' at the root, '../' one folder down)."""
    t = esc(title)
    return ("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{t}</title><link rel=\"icon\" href=\"data:,\"><style>{CSS}</style>"
            f"</head><body>\n{nav(here, prefix)}\n<main>\n<h1>{t}</h1>\n{body}\n</main>"
            "</body></html>\n")


def cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def table(headers: list[str], rows: list[list], row_classes: list[str] | None = None,
          fold_after: int = FOLD_ROWS, summary: str = "") -> str:
    """An HTML table (cells escaped; numbers right-aligned); folded into a <details>
    block when it has more than ``fold_after`` rows."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = []
    for i, row in enumerate(rows):
        cls = row_classes[i] if row_classes and row_classes[i] else ""
        cells = "".join(
            f'<td class="num">{esc(cell(v))}</td>' if isinstance(v, (int, float))
            and not isinstance(v, bool) else f"<td>{esc(cell(v))}</td>" for v in row)
        body.append(f'<tr class="{cls}">{cells}</tr>' if cls else f"<tr>{cells}</tr>")
    out = f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    if len(rows) > fold_after:
        out = (f"<details><summary>{esc(summary or 'the table')} ({len(rows)} rows)"
               f"</summary>{out}</details>")
    return out


# GitHub shortcodes that `cebench compare` writes (GitHub renders them in job summaries);
# here plain symbols that common fonts (DejaVu) have, not colour emoji.
_SHORTCODES = {":red_circle:": "\N{BLACK CIRCLE}", ":white_check_mark:": "\N{HEAVY CHECK MARK}",
               ":warning:": "\N{WARNING SIGN}", ":green_circle:": "\N{BLACK CIRCLE}"}
_DETAILS = re.compile(r"^\s*(<details>\s*<summary>(.*?)</summary>|</details>)\s*$", re.M)


def markdown_to_html(text: str) -> str:
    """Markdown (pipe tables) to HTML. Raw HTML is escaped, except the ``<details>`` /
    ``<summary>`` lines that compare's and the findings' Markdown use to fold a table,
    which become real folds."""
    for code, char in _SHORTCODES.items():
        text = text.replace(code, char)
    try:
        import mistune
    except ImportError:  # nbconvert brings mistune; without it, show the text as is
        return f"<pre>{esc(text)}</pre>"
    render = mistune.create_markdown(escape=True, plugins=["table"])
    parts, pos, inside = [], 0, 0
    for match in _DETAILS.finditer(text):
        chunk = render(text[pos:match.start()])
        parts.append(chunk if inside else fold_tables(chunk))  # a fold holds no fold
        if match.group(1).startswith("</"):
            parts.append("</details>")
            inside = max(0, inside - 1)
        else:
            parts.append(f"<details><summary>{esc(match.group(2))}</summary>")
            inside += 1
        pos = match.end()
    chunk = render(text[pos:])
    parts.append(chunk if inside else fold_tables(chunk))
    return "".join(parts)


_TABLE = re.compile(r"<table>.*?</table>", re.S)


def fold_tables(html_text: str, fold_after: int = FOLD_ROWS) -> str:
    """Every table of more than ``fold_after`` rows folded into a <details> block."""
    def fold(match):
        rows = match.group(0).count("<tr") - 1
        if rows <= fold_after:
            return match.group(0)
        return f"<details><summary>the table ({rows} rows)</summary>{match.group(0)}</details>"
    return _TABLE.sub(fold, html_text)
