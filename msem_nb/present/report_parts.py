"""Building blocks of reports: escaping, number formats, tables and sections.

Shared by :mod:`msem_nb.present.report` and the data section
(:mod:`msem_nb.present.report_data`). Every user-supplied name passes
through :func:`esc` (HTML) or :func:`md_code` / :func:`md_text` (Markdown).
"""

from __future__ import annotations

import html
from dataclasses import dataclass

from msem_nb.format import num, pvalue
from msem_nb.present.notebook_output import figure_html

__all__ = ["REPORT_CSS", "esc", "fmt_num", "fmt_p", "md_code", "md_text", "Section", "Code",
           "html_table", "md_table"]

REPORT_CSS = """
.msem-report{font-family:-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;font-size:14px;
  color:#222;max-width:1100px}
.msem-report h2{font-size:20px;margin:8px 0 4px}
.msem-report h3{font-size:16px;margin:18px 0 6px;border-bottom:1px solid #ddd;padding-bottom:2px}
.msem-report h4{font-size:14px;margin:10px 0 4px}
.msem-report table{border-collapse:collapse;margin:4px 0 10px}
.msem-report th,.msem-report td{padding:2px 8px;border-bottom:1px solid #eee}
.msem-report th{text-align:left;background:#f6f6f6}
.msem-report td.num{text-align:right;font-variant-numeric:tabular-nums}
.msem-report pre{background:#f7f7f7;padding:8px;border-radius:4px;overflow-x:auto}
.msem-report .note{color:#555}
.msem-report .warn{background:#fff3cd;border:1px solid #e0b000;padding:4px 8px}
"""


def esc(s) -> str:
    """`s` as escaped HTML text."""
    return html.escape(str(s))


def fmt_num(v, digits=3) -> str:
    """A number with `digits` decimals; "" for a missing one."""
    return num(v, f".{digits}f", missing="")


def fmt_p(v) -> str:
    """A p-value as the report shows it; "" for a missing one."""
    return pvalue(v, missing="")

def md_code(s) -> str:
    """A name as a Markdown code span: shown as typed, never as HTML or markup."""
    s = str(s).replace("\n", " ")
    fence = "``" if "`" in s else "`"
    pad = " " if s.startswith("`") or s.endswith("`") else ""
    return f"{fence}{pad}{s}{pad}{fence}".replace("|", "\\|")


def md_text(s) -> str:
    """Plain Markdown text with markup characters escaped."""
    out = str(s).replace("\\", "\\\\")
    for ch in "`*_[]<>|#":
        out = out.replace(ch, "\\" + ch)
    return out


@dataclass
class Section:
    """One part of a report, renderable on its own in a notebook.

    Attributes
    ----------
    key : str
        ``"data"``, ``"model"``, ``"fit"``, ``"estimates"``, ``"defined"`` or
        ``"diagram"``.
    title : str
    html : str
        Body as an HTML fragment (names escaped).
    markdown : str
        Body as Markdown.
    figure : plotly Figure or None
        The diagram of the ``"diagram"`` section.
    """

    key: str
    title: str
    html: str
    markdown: str
    figure: object = None

    def body_html(self, include_plotlyjs=None, div_id=None) -> str:
        """Body HTML with the figure, if any (plotly.js as :func:`figure_html` decides)."""
        if self.figure is None:
            return self.html
        return self.html + figure_html(self.figure, include_plotlyjs=include_plotlyjs,
                                       div_id=div_id)

    def _repr_html_(self) -> str:
        # no heading: in a report notebook the heading is the markdown cell above
        return f"<div class='msem-report'><style>{REPORT_CSS}</style>{self.body_html()}</div>"


class Code(str):
    """A cell that holds a user-supplied name: a code span in Markdown."""


def html_table(header, rows, numeric=()) -> str:
    """An HTML table (cells escaped; columns in `numeric` right-aligned)."""
    head = "".join(f"<th>{esc(h)}</th>" for h in header) if header else ""
    body = []
    for r in rows:
        cells = "".join(f"<td class='num'>{esc(c)}</td>" if i in numeric else f"<td>{esc(c)}</td>"
                        for i, c in enumerate(r))
        body.append(f"<tr>{cells}</tr>")
    thead = f"<thead><tr>{head}</tr></thead>" if head else ""
    return f"<table>{thead}<tbody>{''.join(body)}</tbody></table>"


def md_table(header, rows, code=()) -> str:
    """A Markdown table (columns in `code`, and :class:`Code` cells, as code spans)."""
    def cell(i, c):
        if not str(c):
            return ""
        return md_code(c) if i in code or isinstance(c, Code) else md_text(c)
    lines = ["| " + " | ".join(md_text(h) for h in header) + " |",
             "|" + "|".join("---" for _ in header) + "|"]
    for r in rows:
        lines.append("| " + " | ".join(cell(i, c) for i, c in enumerate(r)) + " |")
    return "\n".join(lines)
