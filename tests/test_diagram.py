"""Path diagrams: what is drawn, how, and where (layout)."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pandas as pd
import pytest

import msem_nb as ms
from msem_nb.model.partable import BlockVars, ParTable, build_partable
from msem_nb.present.layout import compute_layout, model_graph

pytest.importorskip("plotly")

from msem_nb.present.diagram import path_diagram  # noqa: E402
from msem_nb.present.notebook_output import figure_html, reset_plotlyjs, static_figure  # noqa: E402

EVIL = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def classroom_fit():
    df = ms.load_example("classrooms")
    return ms.fit(ms.EXAMPLE_MODELS["classrooms"], df, cluster="class_id")


def _named(items, prefix):
    return [it for it in items if (it.name or "").startswith(prefix)]


def test_node_labels_and_shapes(classroom_fit):
    fig = classroom_fit.diagram()
    labels = {a.name: a.text for a in _named(fig.layout.annotations, "label:")}
    within = {"mot1", "mot2", "mot3", "mot4", "math", "ses", "hours", "motw"}
    between = {"mot1", "mot2", "mot3", "mot4", "math", "ses", "class_climate", "teacher_exp",
               "motb"}
    assert labels == {**{f"label:within:{v}": v for v in within},
                      **{f"label:between:{v}": v for v in between}}
    nodes = _named(fig.layout.shapes, "node:")
    assert len(nodes) == len(within) + len(between)
    kinds = {s.name: s.type for s in nodes}
    # observed boxes, latent ellipses; between parts of within variables are ellipses
    assert kinds["node:within:mot1"] == "rect"
    assert kinds["node:within:motw"] == "circle"
    assert kinds["node:between:mot1"] == "circle"
    assert kinds["node:between:class_climate"] == "rect"
    # a random-intercept dot on every within box of a variable with a between part
    dots = {s.name for s in _named(fig.layout.shapes, "ri-dot:")}
    assert dots == {f"ri-dot:{v}" for v in ["mot1", "mot2", "mot3", "mot4", "math", "ses"]}
    assert len(_named(fig.layout.shapes, "panel:")) == 2
    # Between panel above Within
    y = {s.name: (s.y0 + s.y1) / 2 for s in nodes}
    assert min(v for k, v in y.items() if ":between:" in k) > max(
        v for k, v in y.items() if ":within:" in k)


def test_one_arrow_per_path_with_estimates(classroom_fit):
    fig = classroom_fit.diagram()
    est = classroom_fit.estimates
    paths = est[est["op"].isin(["~", "=~"])]
    arrows = _named(fig.layout.shapes, "path:")
    assert len(arrows) == len(paths) == 15
    heads = _named(fig.layout.annotations, "head:path:")
    assert len(heads) == len(arrows)
    assert all(h.showarrow for h in heads)
    labels = {a.name: a for a in _named(fig.layout.annotations, "est:path:")}
    lab = labels["est:path:within:motw->math"]
    row = est[(est["lhs"] == "math") & (est["rhs"] == "motw") & (est["level"] == "within")].iloc[0]
    assert lab.text == f"{row['est']:.2f}***"
    for part in ("SE", "z ", "p ", "CI", f"{row['se']:.3f}"):
        assert part in lab.hovertext
    std = classroom_fit.diagram(standardized=True)
    lab = {a.name: a for a in std.layout.annotations}["est:path:within:motw->math"]
    assert lab.text.startswith(f"{row['std_all']:.2f}")


def test_hover_names_the_fits_interval_level(demo):
    model = "level: within\n y1 ~ x1\nlevel: between\n y1 ~ w1"
    fig = ms.fit(model, demo, cluster="cluster", ci_level=0.9).diagram()
    lab = {a.name: a for a in fig.layout.annotations}["est:path:within:x1->y1"]
    assert "90% CI" in lab.hovertext and "95% CI" not in lab.hovertext


def test_nonsignificant_path_is_dashed_and_grey(classroom_fit):
    fig = classroom_fit.diagram()
    shapes = {s.name: s for s in fig.layout.shapes}
    weak = shapes["path:between:ses->motb"]          # p = .55 in these data
    strong = shapes["path:between:motb->math"]
    assert weak.line.dash == "dash" and strong.line.dash == "solid"
    assert weak.line.width < strong.line.width
    assert weak.line.color != strong.line.color


def test_unfitted_syntax_and_single_level():
    fig = path_diagram("visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nx1 ~~ x4\n")
    names = [s.name for s in fig.layout.shapes]
    assert not any(n.startswith("panel:") for n in names)          # one panel
    assert sum(n.startswith("path:") for n in names) == 6
    assert "cov:" + ":x1<->x4" in names
    assert "cov:" + ":textual<->visual" in names or "cov::visual<->textual" in names
    est_labels = {a.name: a.text for a in _named(fig.layout.annotations, "est:")}
    # marker loadings show their fixed value; free paths have no number yet
    assert est_labels["est:path::visual->x1"] == "1"
    assert "est:path::visual->x2" not in est_labels
    covs = [s for s in fig.layout.shapes if s.name.startswith("cov:")]
    assert all(" Q " in s.path for s in covs)                          # curved
    assert len(_named(fig.layout.annotations, "head:cov:")) == 2 * len(covs)   # two-headed


def test_deterministic(classroom_fit):
    a = classroom_fit.diagram().to_json()
    b = classroom_fit.diagram().to_json()
    assert a == b
    pt = build_partable(ms.parse(ms.EXAMPLE_MODELS["classrooms"]))
    assert compute_layout(pt) == compute_layout(pt)
    assert path_diagram(ms.EXAMPLE_MODELS["classrooms"]).to_json() == \
        path_diagram(ms.EXAMPLE_MODELS["classrooms"]).to_json()


def _big_models():
    ind = [f"y{i}" for i in range(1, 16)]
    within = ("level: within\n"
              "  f1 =~ " + " + ".join(ind[:5]) + "\n"
              "  f2 =~ " + " + ".join(ind[5:10]) + "\n"
              "  f3 =~ " + " + ".join(ind[10:]) + "\n"
              "  f1 ~ x1 + x2\n  f2 ~ f1 + x3\n  f3 ~ f2 + x1\n  z1 ~ f3\n  z2 ~ f3 + z1\n"
              "  y1 ~~ y6\n")
    between = ("level: between\n"
               "  b1 =~ " + " + ".join(ind[:8]) + "\n"
               "  b2 =~ " + " + ".join(ind[8:]) + "\n"
               "  b2 ~ b1 + w1 + w2\n  z1 ~ b2 + w3\n  z2 ~ b1\n")
    chain = "\n".join(f"v{i + 1} ~ v{i}" + (f" + v{i - 1}" if i > 1 else "")
                      for i in range(1, 20))
    cfa = "\n".join(f"g{k} =~ " + " + ".join(f"u{k}_{j}" for j in range(4)) for k in range(5))
    return {"two-level": within + between, "chain": chain, "cfa": cfa}


@pytest.mark.parametrize("name", ["two-level", "chain", "cfa"])
def test_no_overlapping_nodes(name):
    model = _big_models()[name]
    pt = build_partable(ms.parse(model))
    places = compute_layout(pt)
    for lvl in {k[0] for k in places}:
        nodes = [(k, p) for k, p in places.items() if k[0] == lvl]
        assert len(nodes) >= 19
        for (ka, a), (kb, b) in itertools.combinations(nodes, 2):
            # boxes plus the random-intercept dots that stick out of them
            gap_x = abs(a.x - b.x) - (a.width + b.width) / 2
            gap_y = abs(a.y - b.y) - (a.height + b.height) / 2
            assert gap_x > 0.15 or gap_y > 0.15, (ka, kb)
    if name == "two-level":
        low_between = min(p.y - p.height / 2 for k, p in places.items() if k[0] == "between")
        high_within = max(p.y + p.height / 2 for k, p in places.items() if k[0] == "within")
        assert low_between > high_within
    # exogenous left of endogenous
    if name == "chain":
        xs = [places[("", f"v{i}")].x for i in range(1, 21)]
        assert xs == sorted(xs)


def _slope_table():
    """Parameter table of 's1 | y ~ x' (within) with s1 ~ w and s1 ~~ y (between)."""
    rows = [
        ("y", "|~", "x", 0, "within", 0, "", "s1"),
        ("y", "~", "z", 0, "within", 1, "", ""),
        ("y", "~~", "y", 0, "within", 2, "", ""),
        ("x", "~~", "x", 0, "within", 0, "", ""),
        ("z", "~~", "z", 0, "within", 0, "", ""),
        ("y", "~", "w", 1, "between", 3, "", ""),
        ("s1", "~", "w", 1, "between", 4, "", ""),
        ("s1", "~~", "y", 1, "between", 5, "", ""),
        ("s1", "~~", "s1", 1, "between", 6, "", ""),
        ("y", "~~", "y", 1, "between", 7, "", ""),
        ("s1", "~1", "", 1, "between", 8, "", ""),
        ("y", "~1", "", 1, "between", 9, "", ""),
    ]
    tab = pd.DataFrame(rows, columns=["lhs", "op", "rhs", "block", "level", "free", "label",
                                      "slope"])
    tab.insert(0, "id", np.arange(1, len(tab) + 1))
    tab["ustart"] = np.nan
    tab["exo"] = False
    blocks = (BlockVars("within", (), ("y", "x", "z"), ("x", "z"), (), ()),
              BlockVars("between", ("s1",), ("y", "w"), ("w",), (), ()))
    return ParTable(tab, blocks, True, 2)


def _slope_estimates(pt):
    est = pt.table[["lhs", "op", "rhs", "level", "label"]].copy()
    est["est"] = [np.nan, 0.2, 1.0, 1.0, 1.0, 0.4, 0.1, 0.02, 0.05, 0.3, 0.31, 5.0]
    est["se"] = [np.nan, 0.05, 0.1, 0, 0, 0.1, 0.2, 0.01, 0.01, 0.1, 0.04, 0.1]
    est["z"] = est["est"] / est["se"].replace(0, np.nan)
    from scipy import stats
    est["pvalue"] = 2 * stats.norm.sf(est["z"].abs())
    est["ci_lower"] = est["est"] - 1.96 * est["se"]
    est["ci_upper"] = est["est"] + 1.96 * est["se"]
    est["std_all"] = est["est"] / 2
    est["free"] = pt.table["free"].to_numpy() > 0
    est["exo"] = False
    return est


def test_random_slope_drawing():
    pt = _slope_table()
    g = model_graph(pt)
    assert g.slopes == {"s1": ("y", "x")}
    assert g.nodes["between"]["s1"] == "random_slope"
    fig = path_diagram(pt, estimates=_slope_estimates(pt))
    shapes = {s.name: s for s in fig.layout.shapes}
    # the within arrow y <- x carries a filled dot named s1
    assert "path:within:x->y" in shapes
    dot = shapes["slope-dot:s1"]
    assert dot.type == "circle" and dot.fillcolor
    ann = {a.name: a for a in fig.layout.annotations}
    assert "s1" in ann["slope-label:s1"].text
    assert "mean slope 0.310" in ann["slope-label:s1"].hovertext
    # the arrow is labelled with the mean slope (s1 ~ 1)
    assert ann["est:path:within:x->y"].text == "0.31***"
    # s1 is an ellipse of the Between panel, with its own predictors and covariances
    assert shapes["node:between:s1"].type == "circle"
    assert "path:between:w->s1" in shapes
    assert any(n in shapes for n in ("cov:between:s1<->y", "cov:between:y<->s1"))
    # s1 ~ w has p = .62: dashed
    assert shapes["path:between:w->s1"].line.dash == "dash"
    # unfitted, the same table draws without numbers
    bare = path_diagram(pt)
    assert "slope-dot:s1" in {s.name for s in bare.layout.shapes}


def _evil_partable():
    rows = [("f", "=~", EVIL, 0, "", 0, "", 1.0), ("f", "=~", "y2", 0, "", 1, "", np.nan),
            ("f", "=~", "y3", 0, "", 2, "", np.nan)]
    tab = pd.DataFrame(rows, columns=["lhs", "op", "rhs", "block", "level", "free", "label",
                                      "ustart"])
    tab.insert(0, "id", np.arange(1, 4))
    tab["exo"] = False
    return ParTable(tab, (BlockVars("", ("f",), (EVIL, "y2", "y3"), (), (), (EVIL, "y2", "y3")),),
                    False, 1)


def test_user_names_are_escaped():
    fig = path_diagram(_evil_partable())
    texts = [a.text or "" for a in fig.layout.annotations] + \
        [a.hovertext or "" for a in fig.layout.annotations]
    texts += list(fig.data[0].hovertext)
    assert not any("<img" in t for t in texts)
    assert any("&lt;img src=x onerror=alert(1)&gt;" in t for t in texts)
    reset_plotlyjs()
    html = figure_html(fig, include_plotlyjs=False)
    assert "<img" not in html and "</script><img" not in html


def test_static_figure_bundle_has_html():
    fig = path_diagram("f =~ a + b + c")
    bundle = fig._repr_mimebundle_()
    assert "text/html" in bundle and "application/vnd.plotly.v1+json" in bundle
    json.dumps(bundle["application/vnd.plotly.v1+json"])
    # outside a kernel every fragment carries plotly.js itself
    assert "* plotly.js v" in bundle["text/html"]
    assert static_figure(fig).to_json() == fig.to_json()


def test_random_slope_from_a_fit():
    df = ms.load_example("classrooms")
    model = ("level: within\n  s1 | math ~ hours\n  math ~ ses\n"
             "level: between\n  math ~ teacher_exp\n  s1 ~ teacher_exp\n")
    res = ms.fit(model, df, cluster="class_id")
    for standardized in (False, True):
        fig = res.diagram(standardized=standardized)
        shapes = {s.name: s for s in fig.layout.shapes}
        assert {"slope-dot:s1", "path:within:hours->math", "node:between:s1",
                "path:between:teacher_exp->s1"} <= set(shapes)
        ann = {a.name: a for a in fig.layout.annotations}
        mean = res.estimates.query("lhs == 's1' and op == '~1'")["est"].iloc[0]
        assert ann["est:path:within:hours->math"].text.startswith(f"{mean:.2f}")
    rep = res.report(data=df)
    assert "s1 | math ~ hours" in rep["estimates"].html
