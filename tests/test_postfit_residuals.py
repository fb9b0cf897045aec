"""Residuals, SRMR from them, R-square and the residual heatmap, against lavaan 0.6-14
(tests/fixtures/postfit, written by tests/fixtures/r/make_postfit_fixtures.R)."""

import json

import numpy as np
import pytest
from conftest import FIXTURES

import msem_nb as ms
from msem_nb.errors import ModelSpecificationError

POSTFIT = FIXTURES / "postfit"


def _ref(name):
    return json.loads((POSTFIT / f"{name}.json").read_text())


def _matrix(ref_mat, frame):
    names = ref_mat["names"]
    return np.array(ref_mat["values"]), frame.loc[names, names].to_numpy()


@pytest.fixture(scope="module")
def hs_fit(hs):
    ref = _ref("HS_cfa_postfit")
    return ref, ms.fit(ref["model_syntax"], hs)


@pytest.fixture(scope="module")
def m1_fit(demo):
    ref = _ref("M1_scores")
    return ref, ms.fit(ref["model_syntax"], demo, cluster=ref["cluster"])


@pytest.mark.parametrize("kind", ["raw", "cor"])
def test_single_level_residuals_and_z(hs_fit, kind):
    """lavResiduals(type = "raw" / "cor.bollen"): residuals to 1e-6, their
    z-statistics to 1e-4 (they carry lavaan's estimates' last digits)."""
    ref, fit = hs_fit
    res = fit.residuals(kind, zstat=True)
    lv = res[""]
    want, got = _matrix(ref[f"residuals_{kind}"], lv.cov)
    np.testing.assert_allclose(got, want, atol=1e-6)
    want, got = _matrix(ref[f"residuals_{kind}_z"], lv.cov_z)
    np.testing.assert_allclose(got, want, atol=1e-4)
    assert lv.mean is None          # no mean structure
    assert res.srmr["srmr"] == pytest.approx(fit.fit_measures["srmr"], rel=1e-12)
    assert res.srmr["srmr"] == pytest.approx(ref["srmr"], rel=1e-6)


def test_single_level_mean_structure(hs):
    """With intercepts the mean residuals enter Bentler's SRMR as fit_measures' does;
    the intercepts are saturated, so the mean residuals vanish."""
    fit = ms.fit(_ref("HS_sem_postfit")["model_syntax"], hs, meanstructure=True)
    res = fit.residuals("raw", zstat=True)
    lv = res[""]
    assert lv.mean is not None and np.abs(lv.mean.to_numpy()).max() < 1e-6
    assert lv.mean_z is not None and lv.cov_z is not None
    assert res.srmr["srmr"] == pytest.approx(fit.fit_measures["srmr"], rel=1e-12)
    cor = fit.residuals("cor")[""]
    sd = np.sqrt(np.diag(fit.data.cov))
    np.testing.assert_allclose(cor.mean.to_numpy(), lv.mean.to_numpy() / sd, atol=1e-12)


def test_standardized_residuals_are_the_raw_z(hs_fit):
    ref, fit = hs_fit
    z = fit.residuals("standardized")[""].cov
    want, got = _matrix(ref["residuals_raw_z"], z)
    np.testing.assert_allclose(got, want, atol=1e-4)
    top = fit.residuals("standardized").largest(3)
    assert list(top.columns) == ["level", "lhs", "rhs", "residual"]
    assert (top.lhs[0], top.rhs[0]) == ("x8", "x7")
    assert abs(top.residual[0]) >= abs(top.residual[1]) >= abs(top.residual[2])


def test_two_level_residuals_by_level(m1_fit):
    """Within and between covariance residuals as lavaan's. lavaan's saturated
    two-level model (EM) stops short: its log-likelihood is 6.5e-5 below ours, so
    the residuals agree to 3e-4. lavaan splits a both-level variable's saturated
    mean between the levels; the sum of its two mean residuals is ours (between)."""
    ref, fit = m1_fit
    h1_lavaan = json.loads((FIXTURES / "M1_cfa_twolevel.json").read_text())
    assert fit.fit_measures["unrestricted_loglik"] > \
        h1_lavaan["fit_measures"]["unrestricted.logl"]
    for kind in ("raw", "cor"):
        res = fit.residuals(kind)
        assert [lv.level for lv in res.levels] == ["within", "between"]
        for level in ("within", "between"):
            want, got = _matrix(ref[f"residuals_{kind}"][level]["cov"], res[level].cov)
            np.testing.assert_allclose(got, want, atol=3e-4)
        within, between = ref[f"residuals_{kind}"]["within"], ref[f"residuals_{kind}"]["between"]
        for v in ("y1", "y2", "y3"):
            assert res["within"].mean[v] == 0.0
            if kind == "raw":
                total = within["mean"][v] + between["mean"][v]
                assert res["between"].mean[v] == pytest.approx(total, abs=2e-4)
    res = fit.residuals("cor")
    fm = fit.fit_measures
    assert res.srmr == pytest.approx({"srmr_within": fm["srmr_within"],
                                      "srmr_between": fm["srmr_between"]}, rel=1e-12)
    assert res.srmr["srmr_within"] == pytest.approx(ref["srmr_within"], abs=3e-4)
    assert res.srmr["srmr_between"] == pytest.approx(ref["srmr_between"], abs=3e-4)
    with pytest.raises(ModelSpecificationError, match="two-level"):
        fit.residuals("standardized")
    with pytest.raises(ValueError, match="type must be"):
        fit.residuals("normalized")


def test_residuals_display(hs_fit):
    _, fit = hs_fit
    page = fit.residuals("cor")._repr_html_()
    assert page.count("<table") == 1 and "x9" in page
    text = repr(fit.residuals("raw"))
    assert text.startswith("<msem_nb Residuals (raw)>") and "x9" in text


def test_r2_single_and_two_level(hs, hs_fit, m1_fit, demo):
    ref, fit = hs_fit
    r2 = fit.r2
    assert list(r2.columns) == ["level", "variable", "r2"]
    assert dict(zip(r2.variable, r2.r2)) == pytest.approx(ref["r2"], rel=1e-5)
    sem = _ref("HS_sem_postfit")
    got = ms.fit(sem["model_syntax"], hs).r2
    assert list(got.variable) == list(sem["r2"])
    assert dict(zip(got.variable, got.r2)) == pytest.approx(sem["r2"], rel=1e-5)
    m1 = _ref("M1_postfit")
    _, f2 = m1_fit
    r2 = f2.r2
    for level, key in (("within", "r2_within"), ("between", "r2_between")):
        part = r2[r2.level == level]
        assert list(part.variable) == list(m1[key])
        # lavaan's estimates stop short (see test_postfit_modindices): 1e-4
        assert dict(zip(part.variable, part.r2)) == pytest.approx(m1[key], abs=1e-4)
    m1b = _ref("M1b_scores")
    r2b = ms.fit(m1b["model_syntax"], demo, cluster="cluster").r2
    between = r2b[r2b.level == "between"]
    assert dict(zip(between.variable, between.r2)) == pytest.approx(m1b["r2_between"],
                                                                   abs=1e-4)


def test_r2_in_summary_and_report(m1_fit):
    _, fit = m1_fit
    text = fit.summary()
    assert text.count("R-Square:") == 2
    block = text.split("Level 2 [between]:")[1].split("R-Square:")[1]
    fb = float(fit.r2.query("level == 'between' and variable == 'fb'").r2.iloc[0])
    assert f"fb{'':<14}{fb:9.3f}".rstrip() in block
    assert "R-square" in fit._repr_html_()
    rep = fit.report()
    assert rep["estimates"].html.count("<b>R-square</b>") == 2
    assert "**R-square**" in rep["estimates"].markdown


def test_heatmap_outlines_the_largest(m1_fit):
    pytest.importorskip("plotly")
    _, fit = m1_fit
    res = fit.residuals("cor")
    fig = fit.residual_plot("cor", top=3)
    assert len(fig.data) == 2 and len(fig.layout.shapes) == 3
    largest = res.largest(3)
    # the outlined cells are the three largest, in their level's panel
    boxes = {(s.xref, round(s.x0 + 0.5), round(s.y0 + 0.5)) for s in fig.layout.shapes}
    for r in largest.itertuples():
        names = list(res[r.level].cov.index)
        axis = "x" if r.level == "within" else "x2"
        assert (axis, names.index(r.rhs), names.index(r.lhs)) in boxes
    z = np.array(fig.data[1].z, dtype=float)
    assert np.isnan(z[0, 1]) and np.isfinite(z[1, 0])   # lower triangle only
    assert fig.data[0].zmid == 0
