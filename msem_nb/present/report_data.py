"""The report's first section: the data and their clustering, with the ICCs.

Two levels: the cluster column, the cluster sizes and the within/between
decomposition (:func:`msem_nb.inference.decompose.decompose`). Three levels:
both cluster columns, the class and school sizes and the level-1/2/3 shares
(:func:`msem_nb.inference.decompose_threelevel.decompose_threelevel`). The
decomposition runs on the data given to the report, or on the rows rebuilt
from the fit's prepared data.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from msem_nb.inference.decompose import decompose
from msem_nb.present.report_parts import (
    Code,
    Section,
    esc,
    fmt_num,
    html_table,
    md_table,
    md_text,
)

__all__ = ["data_section", "frame_from_prepared"]


def frame_from_prepared(fit) -> pd.DataFrame | None:
    """The rows the fit used, rebuilt from the prepared two- or three-level data (or None)."""
    d = fit.data
    rows = getattr(d, "rows", None)
    if getattr(fit, "nschools", None) is not None:
        return _frame_from_threelevel(fit)
    if rows is None or getattr(d, "cluster_sizes", None) is None:
        return None
    sizes = np.asarray(d.cluster_sizes)
    frame = pd.DataFrame(np.asarray(rows), columns=list(d.within))
    if d.between_only:
        between = np.repeat(np.asarray(d.cluster_vectors)[:, len(d.within):], sizes, axis=0)
        for k, v in enumerate(d.between_only):
            frame[v] = between[:, k]
    cluster = str(fit.cluster)
    frame.insert(0, cluster, np.repeat(np.asarray(d.cluster_ids), sizes))
    return frame


def _frame_from_threelevel(fit) -> pd.DataFrame | None:
    d = fit.data
    if d.rows is None:
        return None
    sizes = np.asarray(d.class_sizes)
    frame = pd.DataFrame(np.asarray(d.rows), columns=list(d.within))
    cls = np.repeat(np.arange(d.nclasses), sizes)
    for k, v in enumerate(d.names[d.p1:d.q]):
        frame[v] = d.class_vectors[cls, d.p1 + k]
    school = d.class_school[cls]
    for k, v in enumerate(d.names[d.q:]):
        frame[v] = d.school_z[school, k]
    frame.insert(0, str(fit.cluster[1]), np.asarray(d.school_ids)[school])
    frame.insert(0, str(fit.cluster[0]), np.asarray(d.class_ids)[cls])
    return frame


def _decomposition(fit, data):
    frame = data if data is not None else frame_from_prepared(fit)
    if frame is None:
        return None, "the data are not available"
    try:
        return decompose(frame, fit.cluster, variables=list(fit.data.names)), ""
    except Exception as exc:  # the report must not fail on its preliminaries
        return None, str(exc)


def _span(sizes) -> str:
    sizes = np.asarray(sizes)
    return f"{sizes.min()} / {np.median(sizes):g} / {sizes.mean():.1f} / {sizes.max()}"


def _icc_table(fit, dec) -> tuple[str, str]:
    """The decomposition's table (HTML, Markdown)."""
    if getattr(fit, "nschools", None) is not None:
        t = dec.table()
        rows = [(v, fmt_num(r["level1"]), fmt_num(r["level2"]), fmt_num(r["level3"]),
                 fmt_num(r["design_effect"], 2), r["role"]) for v, r in t.iterrows()]
        header = ["Variable", "Level 1", "Level 2", "Level 3", "Design effect",
                  "Suggested levels"]
        note = ("Shares of each variable's variance at level 1 (rows within classes), level 2 "
                "(classes within schools) and level 3 (schools), from the ML saturated "
                "three-level model; design effect 1 + (n - 1)(ICC2 + ICC3) + n (m - 1) ICC3 "
                "with n rows per class and m classes per school.")
        return ("<h4>Variance at each level</h4>" + html_table(header, rows, numeric=(1, 2, 3, 4))
                + f"<p class='note'>{esc(note)}</p>",
                "#### Variance at each level\n\n" + md_table(header, rows, code=(0,))
                + "\n\n" + md_text(note))
    t = dec.table()
    rows = [(v, fmt_num(r["icc"]), fmt_num(r["icc_anova"]), fmt_num(r["design_effect"], 2),
             r["role"]) for v, r in t.iterrows()]
    header = ["Variable", "ICC", "ICC(1)", "Design effect", "Suggested level"]
    return ("<h4>Intraclass correlations</h4>"
            + html_table(header, rows, numeric=(1, 2, 3))
            + "<p class='note'>ICC: between-cluster share of the variance "
              "(ML, saturated two-level model); ICC(1): ANOVA estimate; "
              "design effect 1 + (mean cluster size - 1) ICC.</p>",
            "#### Intraclass correlations\n\n" + md_table(header, rows, code=(0,))
            + "\n\nICC: between-cluster share of the variance (ML, saturated "
              "two-level model); ICC(1): ANOVA estimate; design effect "
              "1 + (mean cluster size - 1) ICC.")


def data_section(fit, data: pd.DataFrame | None, data_name: str | None) -> Section:
    """The "Data and clustering" section of a report of `fit`."""
    facts: list[tuple[str, object]] = [("Observations used", fit.nobs)]
    if fit.n_dropped:
        facts.append(("Rows dropped (missing values)", fit.n_dropped))
    if data_name:
        facts.insert(0, ("Data", Code(data_name)))
    notes_html, notes_md = "", ""
    icc_html = icc_md = ""
    if getattr(fit, "nschools", None) is not None:
        d = fit.data
        facts += [("Cluster variables (level 2, level 3)",
                   Code(f"{fit.cluster[0]}, {fit.cluster[1]}")),
                  ("Level-2 clusters", fit.nclusters), ("Level-3 clusters", fit.nschools),
                  ("Rows per level-2 cluster (min / median / mean / max)", _span(d.class_sizes)),
                  ("Level-2 clusters per level-3 cluster (min / median / mean / max)",
                   _span(d.school_nclasses))]
    elif fit.nclusters is not None:
        facts += [("Cluster variable", Code(fit.cluster)), ("Clusters", fit.nclusters),
                  ("Cluster size (min / median / mean / max)", _span(fit.data.cluster_sizes))]
    if fit.nclusters is not None:
        dec, why = _decomposition(fit, data)
        if dec is not None:
            icc_html, icc_md = _icc_table(fit, dec)
            if dec.notes:
                notes_html = "<ul>" + "".join(f"<li>{esc(n)}</li>" for n in dec.notes) + "</ul>"
                notes_md = "\n".join(f"- {md_text(n)}" for n in dec.notes)
        else:
            icc_html = f"<p class='note'>ICCs not available: {esc(why)}</p>"
            icc_md = f"ICCs not available: {md_text(why)}"
    fact_rows = [(k, fmt_num(v) if not isinstance(v, str) else v) for k, v in facts]
    html_ = html_table(None, fact_rows) + icc_html + notes_html
    md = "\n\n".join(p for p in (md_table(["Fact", "Value"], fact_rows), icc_md, notes_md) if p)
    return Section("data", "Data and clustering", html_, md)
