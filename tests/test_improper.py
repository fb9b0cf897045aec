"""Improper solutions are flagged everywhere (issue 12, point 4): negative
variances at any level, correlations beyond +/-1, latent covariance matrices
that are not positive definite, estimates at a boundary and std.all beyond
+/-1 give a finding in ``fit.improper``, a warning in ``fit.messages``, and a
mark in the summary, the HTML and the report; a proper fit has none."""

import warnings
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

import msem_nb as ms
from msem_nb.api import fit_partable
from msem_nb.inference.improper import detect_improper
from msem_nb.model.partable import build_partable
from msem_nb.syntax import parse


def _exact(R, n=500, seed=1, names="abc"):
    """Data whose ML covariance matrix is exactly R."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, len(R)))
    X -= X.mean(0)
    X = X @ np.linalg.inv(np.linalg.cholesky(np.cov(X.T, bias=True))).T
    return pd.DataFrame(X @ np.linalg.cholesky(np.asarray(R)).T, columns=list(names))


HEYWOOD = "f =~ a + b + c"


@pytest.fixture(scope="module")
def heywood():
    R = [[1, .8, .8], [.8, 1, .4], [.8, .4, 1]]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = ms.fit(HEYWOOD, _exact(R))
    return res, caught


def _kinds(res):
    return [(f.kind, f.level, f.parameters) for f in res.improper]


def test_heywood_case_is_flagged(heywood):
    res, caught = heywood
    assert res.converged
    assert _kinds(res) == [("ov_variance", "", ("a ~~ a",)), ("std_all", "", ("f =~ a",))]
    neg = res.improper[0]
    # residual variance of a: 1 - .8 * .8 / .4
    assert neg.values == pytest.approx((-0.6,), abs=1e-6)
    est = res.estimates
    assert [int(i) for i in neg.rows] == est.index[(est.lhs == "a") & (est.op == "~~")].tolist()
    assert res.improper[1].values[0] == pytest.approx(1.6 ** 0.5, abs=1e-6)
    msgs = [m for m in res.messages if m.category is ms.ImproperSolutionWarning]
    assert len(msgs) == 2
    assert msgs[0].startswith("some estimated ov variances are negative: a ~~ a = -0.600")
    assert msgs[1].startswith("some standardized estimates (std.all) are beyond +/-1: "
                              "f =~ a = 1.265")
    issued = [str(w.message) for w in caught if w.category is ms.ImproperSolutionWarning]
    assert issued == list(msgs)


def test_heywood_case_in_the_summary(heywood):
    res, _ = heywood
    lines = res.summary().splitlines()
    top = "\n".join(lines[:6])
    assert "WARNING: improper solution" in top
    assert "some estimated ov variances are negative: a ~~ a = -0.600" in top
    flagged = [ln for ln in lines if ln.rstrip().endswith("!")]
    assert [ln.split()[0] for ln in flagged] == ["a", ".a"]  # f =~ a, then a ~~ a
    assert "! marks estimates named in the improper-solution warnings" in res.summary()
    plain = res.summary(standardized=False)
    assert len([ln for ln in plain.splitlines() if ln.rstrip().endswith("!")]) == 2


def test_heywood_case_in_the_html_and_report(heywood):
    res, _ = heywood
    html = res._repr_html_()
    assert "Warning: improper solution" in html and "msem-improper" in html
    assert html.count("class='msem-flagged'") == 2
    assert "! negative variance" in html and "! std.all beyond +/-1" in html
    rep = res.report()
    assert "Warning: improper solution: some estimated ov variances are negative" \
        in rep.to_html()
    md = rep.to_markdown()
    assert "some estimated ov variances are negative" in md
    est_md = rep["estimates"].markdown
    assert "| Flag |" in est_md and "! negative variance" in est_md
    assert "Warnings of this fit" in rep["fit"].markdown


def test_findings_do_not_depend_on_units():
    R = [[1, .8, .8], [.8, 1, .4], [.8, .4, 1]]
    df = _exact(R)
    # (rescaling the marker itself does not converge yet: issue 12, point 1)
    scaled = df.assign(b=df.b * 1e-3, c=df.c + 5000.0)
    res = ms.fit(HEYWOOD, scaled, quiet=True)
    assert res.converged
    assert _kinds(res) == [("ov_variance", "", ("a ~~ a",)), ("std_all", "", ("f =~ a",))]
    assert res.improper[0].values[0] == pytest.approx(-0.6, rel=1e-6)
    assert "b ~~ b" not in res.improper[0].parameters  # 6e-7: small, not a boundary


def test_quiet_fits_and_refits_record_the_messages():
    # the panel fits through fit_partable(quiet=True) and turns amber on messages
    R = [[1, .8, .8], [.8, 1, .4], [.8, .4, 1]]
    pt = build_partable(parse(HEYWOOD))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = fit_partable(pt, _exact(R), quiet=True)
    assert any(m.startswith("some estimated ov variances are negative") for m in res.messages)


def test_negative_between_level_variance():
    rng = np.random.default_rng(3)
    J, n = 60, 8
    g = np.repeat(np.arange(J), n)
    x = rng.normal(size=J * n)
    e = rng.normal(size=J * n)
    # cluster means of y vary less than sampling alone would make them vary
    e -= 0.9 * pd.Series(e).groupby(g).transform("mean").to_numpy()
    df = pd.DataFrame({"g": g, "x": x, "y": 0.5 * x + e, "w": np.repeat(rng.normal(size=J), n)})
    res = ms.fit("level: within\n y ~ x\nlevel: between\n y ~ w", df, cluster="g",
                 quiet=True)
    assert res.converged
    assert _kinds(res) == [("ov_variance", "between", ("y ~~ y",))]
    assert res.improper[0].values[0] < 0
    assert res.messages[-1].startswith(
        "some estimated ov variances are negative (level: between): y ~~ y = ")
    text = res.summary()
    between = text[text.index("Level 2 [between]"):]
    assert [ln.split()[0] for ln in between.splitlines() if ln.rstrip().endswith("!")] == [".y"]


def test_latent_covariance_matrix_not_positive_definite():
    rng = np.random.default_rng(5)
    F = rng.normal(size=(500, 3))
    Y = np.hstack([np.outer(F[:, k], [1, .8, .7]) for k in range(3)]) + rng.normal(size=(500, 9))
    df = pd.DataFrame(Y, columns=[f"y{i}" for i in range(1, 10)])
    # every correlation is within +/-1, yet no population has all three
    model = ("f1 =~ NA*y1 + y2 + y3\n f2 =~ NA*y4 + y5 + y6\n f3 =~ NA*y7 + y8 + y9\n"
             " f1 ~~ 1*f1\n f2 ~~ 1*f2\n f3 ~~ 1*f3\n"
             " f1 ~~ 0.6*f2\n f1 ~~ 0.6*f3\n f2 ~~ -0.6*f3")
    res = ms.fit(model, df, quiet=True)
    assert res.converged
    assert _kinds(res) == [("lv_not_pd", "", ("f1", "f2", "f3"))]
    assert res.improper[0].values[0] == pytest.approx(-0.2, abs=1e-9)
    assert any(m.startswith("covariance matrix of latent variables is not positive definite: "
                            "smallest eigenvalue -0.2; variables f1, f2, f3")
               for m in res.messages)
    flagged = res.estimates.loc[list(res.improper[0].rows)]
    assert set(flagged["op"]) == {"~~"} and len(flagged) == 6


def test_factor_correlation_beyond_one():
    rng = np.random.default_rng(0)
    F = rng.normal(size=(150, 1))
    Y = F * np.array([1, .8, .7, .9, .8, .7]) + rng.normal(size=(150, 6))
    df = pd.DataFrame(Y, columns=[f"y{i}" for i in range(1, 7)])
    res = ms.fit("f1 =~ y1 + y2 + y3\n f2 =~ y4 + y5 + y6", df, quiet=True)
    assert res.converged
    # one finding: neither "not positive definite" nor std.all repeats it
    assert _kinds(res) == [("correlation", "", ("f1 ~~ f2",))]
    r = res.improper[0].values[0]
    est = res.estimates.set_index(["lhs", "op", "rhs"])
    assert r == pytest.approx(est.loc[("f1", "~~", "f2"), "std_all"]) and r > 1
    assert any(m.startswith(f"some estimated correlations are beyond +/-1: f1 ~~ f2 = {r:.3f}")
               for m in res.messages)


@pytest.mark.parametrize("example", ["classrooms", "demo_cfa", "hs_cfa"])
def test_proper_fits_have_no_findings(example, demo, hs):
    if example == "classrooms":
        res = ms.fit(ms.EXAMPLE_MODELS["classrooms"], ms.load_example("classrooms"),
                     cluster="class_id", quiet=True)
    elif example == "demo_cfa":
        res = ms.fit("level: 1\n fw =~ y1 + y2 + y3\nlevel: 2\n fb =~ y1 + y2 + y3",
                     demo, cluster="cluster", quiet=True)
    else:
        res = ms.fit("visual =~ x1 + x2 + x3\n textual =~ x4 + x5 + x6\n"
                     " speed =~ x7 + x8 + x9", hs, quiet=True)
    assert res.converged and res.improper == ()
    assert not [m for m in res.messages if m.category is ms.ImproperSolutionWarning]
    assert "WARNING" not in res.summary() and "!" not in res.summary()
    assert "msem-improper" not in res._repr_html_()
    assert "Flag" not in res.report()["estimates"].markdown


# -- the detector on its own: cases a fit rarely lands on exactly ------------

def _one_block(S, C=None, rows=(), n_ov=2, names=("y1", "y2", "f")):
    S = np.asarray(S, dtype=float)
    spec = SimpleNamespace(blocks=[SimpleNamespace(names=names, n_ov=n_ov,
                                                   key=SimpleNamespace(name="within"))])
    bm = [SimpleNamespace(S=S, cov_all=S if C is None else np.asarray(C, dtype=float))]
    table = pd.DataFrame(rows, columns=["lhs", "op", "rhs", "free", "est"])
    table["block"], table["exo"] = 0, False
    return table, spec, bm


def test_detector_boundary_variance_and_correlation():
    S = [[1e-9, 0, 0], [0, 2.0, 0], [0, 0, 1.0]]
    C = [[1.0, 0, 0], [0, 3.0, 0], [0, 0, 1.0]]
    table, spec, bm = _one_block(S, C, [("y1", "~~", "y1", 1, 1e-9), ("y2", "~~", "y2", 2, 2.0),
                                        ("f", "~~", "f", 3, 1.0)])
    found = detect_improper(table, spec, bm, table["est"].to_numpy())
    assert [(f.kind, f.level, f.parameters, f.rows) for f in found] == \
        [("boundary", "within", ("y1 ~~ y1",), (0,))]
    # a fixed zero variance is a choice, not a boundary estimate
    table.loc[0, "free"] = 0
    assert detect_improper(table, spec, bm, table["est"].to_numpy()) == ()
    S = [[1.0, 1.0, 0], [1.0, 1.0, 0], [0, 0, 1.0]]
    table, spec, bm = _one_block(S, rows=[("y1", "~~", "y2", 1, 1.0)])
    found = detect_improper(table, spec, bm, table["est"].to_numpy())
    assert [(f.kind, f.parameters, f.values) for f in found] == \
        [("boundary", ("y1 ~~ y2",), (1.0,))]


def test_detector_residual_covariance_matrix_not_positive_definite():
    names = ("y1", "y2", "y3")
    S = [[1.0, 0.6, 0.6], [0.6, 1.0, -0.6], [0.6, -0.6, 1.0]]
    rows = [("y1", "~~", "y2", 1, 0.6), ("y1", "~~", "y3", 2, 0.6), ("y2", "~~", "y3", 3, -0.6)]
    table, spec, bm = _one_block(S, rows=rows, n_ov=3, names=names)
    found = detect_improper(table, spec, bm, table["est"].to_numpy())
    assert [(f.kind, f.parameters, f.rows) for f in found] == \
        [("theta_not_pd", names, (0, 1, 2))]
    assert found[0].message.startswith(
        "the covariance matrix of the residuals of the observed variables (theta) is not "
        "positive definite (level: within): smallest eigenvalue -0.2")


def test_detector_std_all_beyond_one_and_proper_values():
    S = np.diag([0.5, 0.5, 1.0])
    rows = [("f", "=~", "y1", 1, 1.0), ("f", "=~", "y2", 2, 0.5), ("y1", "~1", "", 3, 5.0),
            ("y2", "~", "y1", 4, 0.9)]
    table, spec, bm = _one_block(S, rows=rows)
    est = table["est"].to_numpy()
    found = detect_improper(table, spec, bm, est, std=np.array([1.2, 0.6, 5.0, 1.3]))
    # intercepts are not bounded, loadings are; a standardized regression beyond 1
    # is proper with correlated predictors (suppression), so it is not flagged
    assert [(f.kind, f.parameters, f.values) for f in found] == \
        [("std_all", ("f =~ y1",), (1.2,))]
    assert detect_improper(table, spec, bm, est, std=np.array([1.0, 0.6, 5.0, 1.3])) == ()


def test_detector_implied_latent_correlation_beyond_one():
    # f2 = f1 + residual; no f1 ~~ f2 row, the implied correlation is what is wrong
    names = ("y1", "f1", "f2")
    S = np.diag([1.0, 1.0, 0.5])
    C = [[1.0, 0, 0], [0, 1.0, 1.1], [0, 1.1, 1.0]]
    table, spec, bm = _one_block(S, C, [("f1", "~~", "f1", 1, 1.0), ("f2", "~~", "f2", 2, 0.5)],
                                 n_ov=1, names=names)
    found = detect_improper(table, spec, bm, table["est"].to_numpy())
    assert [(f.kind, f.parameters, f.rows) for f in found] == \
        [("correlation", ("cor(f1, f2)",), ())]
    assert found[0].short == "some estimated correlations are beyond +/-1 (level: within): " \
        "cor(f1, f2) = 1.100"


def test_the_checks_made_during_the_fit_are_kept_on_the_result():
    """fit() adds its messages to the result of the estimation; the improper-solution
    checks it ran on the way stay computed (they used to be run again by summary())."""
    df = ms.load_example("classrooms")
    res = ms.fit("level: within\n math ~ ses\nlevel: between\n math ~ teacher_exp\n", df,
                 cluster="class_id")
    assert "improper" in res.__dict__
    assert res.improper == type(res).improper.func(res)
