"""The ``msem_report`` nbconvert exporter: a clean, offline HTML report of a notebook.

``jupyter nbconvert --to msem_report analysis.ipynb`` writes
``analysis.html`` with

* no code: code inputs and prompts are hidden, only outputs remain;
* only the report cells, when there are any: if some cells carry the tag
  ``msem-report`` (as in notebooks written by ``Report.to_notebook``), only
  those are kept; otherwise all markdown cells and all outputs are;
* working figures with no network: Plotly figures saved only in Plotly's
  mime type (which the standard HTML exporter drops) get an HTML version,
  and plotly.js is embedded exactly once, before the first figure;
* no references to CDNs (require.js, MathJax and mermaid are left out).

The exporter is registered under the entry point group
``nbconvert.exporters`` (see ``pyproject.toml``).
"""

from __future__ import annotations

import copy

from jinja2 import DictLoader
from nbconvert.exporters import HTMLExporter
from traitlets import default

from msem_nb.present.notebook_output import PLOTLYJS_MARK, figure_html, plotlyjs_script

__all__ = ["MsemReportExporter", "prepare_report_notebook", "REPORT_TAG"]

#: Cells with this tag make up the report.
REPORT_TAG = "msem-report"
_PLOTLY_MIME = "application/vnd.plotly.v1+json"

# The lab template without the blocks that load scripts from the internet.
_TEMPLATE = """{%- extends 'index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{% block jupyter_widgets %}{% endblock jupyter_widgets %}
"""


def _text(v) -> str:
    return "".join(v) if isinstance(v, list) else str(v)


def _tags(cell) -> list:
    return list(cell.get("metadata", {}).get("tags", []) or [])


def _strip_plotlyjs(html: str) -> str:
    """Remove every embedded copy of plotly.js (the ``<script>`` that holds it)."""
    while True:
        i = html.find(PLOTLYJS_MARK)
        if i < 0:
            return html
        start = html.rfind("<script", 0, i)
        end = html.find("</script>", i)
        if start < 0 or end < 0:
            return html
        html = html[:start] + html[end + len("</script>"):]


def prepare_report_notebook(nb):
    """The notebook as the report shows it (a modified copy).

    Parameters
    ----------
    nb : nbformat.NotebookNode

    Returns
    -------
    nbformat.NotebookNode
        Report cells only (see the module doc), Plotly outputs with an
        HTML version, plotly.js once before the first figure.
    """
    nb = copy.deepcopy(nb)
    tagged = any(REPORT_TAG in _tags(c) for c in nb.cells)
    keep = []
    for cell in nb.cells:
        if tagged and REPORT_TAG not in _tags(cell):
            continue
        if cell.cell_type == "code" and not cell.get("outputs"):
            continue
        if cell.cell_type == "raw" and not tagged:
            continue
        keep.append(cell)
    nb.cells = keep
    first = None
    for cell in nb.cells:
        for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
            data = out.get("data")
            if not data:
                continue
            if _PLOTLY_MIME in data and "text/html" not in data:
                data["text/html"] = figure_html(dict(data[_PLOTLY_MIME]), include_plotlyjs=False)
            if "text/html" in data:
                html = _strip_plotlyjs(_text(data["text/html"]))
                data["text/html"] = html
                if first is None and "Plotly.newPlot" in html:
                    first = data
    if first is not None:
        first["text/html"] = plotlyjs_script() + first["text/html"]
    return nb


class MsemReportExporter(HTMLExporter):
    """HTML report of a notebook: outputs and report cells only, offline.

    Use as ``jupyter nbconvert --to msem_report notebook.ipynb``.
    """

    export_from_notebook = "msem_nb report"

    @default("exclude_input")
    def _exclude_input_default(self):
        return True

    @default("exclude_input_prompt")
    def _exclude_input_prompt_default(self):
        return True

    @default("exclude_output_prompt")
    def _exclude_output_prompt_default(self):
        return True

    @default("template_file")
    def _template_file_default(self):
        return "msem_report.html.j2"

    @default("extra_loaders")
    def _extra_loaders_default(self):
        return [DictLoader({"msem_report.html.j2": _TEMPLATE})]

    def from_notebook_node(self, nb, resources=None, **kw):
        """Convert a notebook node (see :func:`prepare_report_notebook`)."""
        return super().from_notebook_node(prepare_report_notebook(nb), resources, **kw)
