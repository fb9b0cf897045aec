"""What the Export screen writes: a code cell, a static report cell, a file.

The code cell reproduces the panel's current model with :func:`msem_nb.fit`
and shows its report, so the notebook keeps working without the panel. The
data are referred to by the name they have in the notebook when the panel
can find it (the variable that holds the very DataFrame given to the panel),
by the CSV path when the panel was given a path, and otherwise by a
placeholder the user fills in.
"""

from __future__ import annotations

from msem_nb.present.notebook_output import PLOTLYJS_MARK, plotlyjs_script

__all__ = ["reproduction_code", "python_string", "find_variable_name", "report_cell_outputs",
           "report_html_document"]


def python_string(text: str) -> str:
    """A Python literal for `text`; a triple-quoted block when that is exact."""
    if text and '"""' not in text and "\\" not in text and not text.endswith('"'):
        return '"""\\\n' + text + '"""'
    return repr(text)


def find_variable_name(obj, namespace: dict | None = None) -> str | None:
    """Name of a variable of the user's namespace that holds `obj` itself.

    Parameters
    ----------
    obj : object
    namespace : dict, optional
        Default: the running IPython shell's user namespace.

    Returns
    -------
    str or None
    """
    if namespace is None:
        try:
            from IPython import get_ipython
        except ImportError:   # pragma: no cover
            return None
        ip = get_ipython()
        if ip is None:
            return None
        namespace = ip.user_ns
    names = [k for k, v in list(namespace.items())
             if v is obj and k.isidentifier() and not k.startswith("_")]
    if not names:
        return None
    # several names for one object: prefer the usual ones, then the shortest
    return min(names, key=lambda k: (k not in ("data", "df"), len(k), k))


def reproduction_code(syntax: str, cluster: str | None, *, data_name: str | None = None,
                      data_code: str | None = None, estimator: str = "ML",
                      missing: str = "listwise", report: bool = True,
                      group: str | None = None) -> str:
    """Python code that refits the model and shows its report.

    Parameters
    ----------
    syntax : str
        The model.
    cluster : str or None
    data_name : str, optional
        Name of a notebook variable holding the data.
    data_code : str, optional
        An expression that loads the data (used when `data_name` is None),
        e.g. ``'pd.read_csv("survey.csv")'``.
    estimator, missing : str
        As in :func:`msem_nb.fit`; defaults are left out of the call.
    report : bool
        End with the fit's report (``fit.report(data=...)``).
    group : str, optional
        Group column of a multigroup fit.

    Returns
    -------
    str
    """
    lines = ["import msem_nb as ms"]
    if data_name is None:
        if data_code is None:
            lines += ["import pandas as pd", "",
                      "# the panel could not tell where its data came from: load them here",
                      'data = pd.read_csv("DATA.csv")']
        else:
            if "pd." in data_code:
                lines.append("import pandas as pd")
            lines += ["", f"data = {data_code}"]
        data_name = "data"
    if cluster is None:
        lines += ["", "# a single-level model: no cluster column"]
    lines += ["", f"model = {python_string(syntax)}"]
    args = [f"cluster={cluster!r}"] if cluster is not None else []
    if str(estimator).upper() != "ML":
        args.append(f"estimator={estimator!r}")
    if missing != "listwise":
        args.append(f"missing={missing!r}")
    if group is not None:
        args.append(f"group={group!r}")
    call = ", ".join(["model", data_name] + args)
    lines.append(f"fit = ms.fit({call})")
    if report:
        lines.append(f"fit.report(data={data_name})")
    else:
        lines.append("fit")
    return "\n".join(lines) + "\n"


def report_cell_outputs(report) -> list[dict]:
    """nbformat outputs that show `report` statically (plotly.js embedded).

    The output must draw by itself wherever the cell ends up (nbconvert, a
    notebook opened offline), so plotly.js goes into it even when an
    earlier output of this kernel session already carried it.
    """
    body = report._repr_html_()
    if PLOTLYJS_MARK not in body and "plotly" in body.lower():
        body = plotlyjs_script() + body
    return [{"output_type": "display_data", "metadata": {},
             "data": {"text/html": body, "text/plain": f"<msem_nb report: {report.title}>"}}]


def report_html_document(report) -> str:
    """The report as one self-contained HTML file."""
    return report.to_html()
