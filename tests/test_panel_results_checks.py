"""The Results screen after a fit (issue 16, item 6): modification indices with "Free"
buttons, residual heatmaps per level and the comparison with the previous fit.

Real panels, real fits and the real widgets: clicks are the messages the page sends
(``ModelChecks._dispatch``), and what the page would draw is read from the widgets'
traits. The models: a one-factor-per-level CFA of Demo.twolevel (y1 ~~ y2 at the
between level has the largest index, 115) and the Holzinger-Swineford three-factor
CFA (visual =~ x9, 36.4, as lavaan's modindices).
"""

import warnings

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("anywidget")
pytest.importorskip("plotly")

import msem_nb as ms  # noqa: E402
from msem_nb.errors import DataError, ModelSpecificationError  # noqa: E402
from msem_nb.widget.checks import ResultChecks  # noqa: E402
from msem_nb.widget.controller import PanelController  # noqa: E402
from msem_nb.widget.modindex import MI_MINIMUM, free_key, unavailable  # noqa: E402
from msem_nb.widget.screens.results import ResultsScreen  # noqa: E402

CFA = ("level: within\n  fw =~ y1 + y2 + y3 + y4 + y5 + y6\n"
       "level: between\n  fb =~ y1 + y2 + y3 + y4 + y5 + y6\n")
HS = ("visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9\n"
      "x7 ~~ 0*x8\n")


def _open_results(panel):
    panel.tabs.selected_index = panel.screens.index(panel._results)
    assert panel.checks.wait(60)


def _click(panel, kind, ident=None):
    msg = {"type": kind} if ident is None else {"type": kind, "id": ident}
    panel._results.checks._dispatch(None, msg, [])


def _settle(panel):
    panel.wait(60)
    assert panel.checks.wait(60)


def _mi(panel):
    return panel._results.checks.modindices


@pytest.fixture
def cfa_panel(demo):
    p = ms.Panel(demo, cluster="cluster", model=CFA)
    p.wait(60)
    yield p
    p.close()


def test_indices_are_computed_only_while_results_are_open(cfa_panel):
    p = cfa_panel
    # the first fit behind the Model tab: no indices, no heatmap
    assert p.checks.fit is None and p._results.checks.modindices == {}
    assert p._results.residuals.figure == ""
    _open_results(p)
    assert p.checks.fit is p.result
    # another tab: a refit computes nothing for the Results screen
    p.tabs.selected_index = p.screens.index(p._model)
    first = p.result
    p.toggle_covariance("y4", "y5", "within", True)
    _settle(p)
    assert p.result is not first and p.checks.fit is first
    # opened again: the new fit's indices
    _open_results(p)
    assert p.checks.fit is p.result
    assert all(r["cells"][0] != "y4 ~~ y5" for r in _mi(p)["rows"])


def test_the_list_shows_the_largest_indices_formatted(cfa_panel):
    p = cfa_panel
    _open_results(p)
    spec = _mi(p)
    table = p.result.modindices(sort=True)
    big = table[table["mi"] >= MI_MINIMUM]
    assert spec["state"] == "ok" and 0 < len(spec["rows"]) == min(10, len(big))
    first = spec["rows"][0]
    top = big.iloc[0]
    assert first["cells"] == [f"{top['lhs']} ~~ {top['rhs']}", "between", f"{top['mi']:.2f}",
                              f"{top['epc']:.3f}", f"{top['sepc.all']:.3f}"]
    assert first["cells"][0] == "y1 ~~ y2" and first["id"]
    # every row of this model can be freed (residual covariances)
    assert all(r["id"] and not r["why"] for r in spec["rows"])
    assert float(spec["rows"][-1]["cells"][2]) >= MI_MINIMUM


def test_free_refits_and_undo_restores_the_model(cfa_panel):
    p = cfa_panel
    _open_results(p)
    before, chisq0 = p.syntax, p.result.fit_measures["chisq"]
    ident = _mi(p)["rows"][0]["id"]
    _click(p, "free", ident)
    # the model text: y1 ~~ y2 in the between block
    assert p.syntax == before + "  y1 ~~ y2\n"
    _settle(p)
    est = p.result.estimates
    row = est[(est.lhs == "y1") & (est.op == "~~") & (est.rhs == "y2")]
    assert list(row["level"]) == ["between"] and row["free"].iloc[0] > 0
    chisq1 = p.result.fit_measures["chisq"]
    assert chisq1 < chisq0 - 50
    spec = _mi(p)
    assert spec["freed"] == [{"id": ident, "name": "y1 ~~ y2 (between level)"}]
    assert all(r["cells"][0] != "y1 ~~ y2" for r in spec["rows"])
    # a stale click (an id the page no longer offers as a row) is refused, nothing changes
    # but the page draws the list again (its pending mark goes)
    version = spec["version"]
    _click(p, "free", ident)
    assert p.syntax == before + "  y1 ~~ y2\n"
    assert p.status.state == "warn" and "not in the list" in p.status.message
    assert _mi(p)["version"] > version and _mi(p)["rows"] == spec["rows"]
    # Undo fixes it again: the model text and the chi-square are back
    _click(p, "unfree", ident)
    assert p.syntax == before
    _settle(p)
    assert p.result.fit_measures["chisq"] == pytest.approx(chisq0, rel=1e-8)
    assert _mi(p)["freed"] == []
    # freeing it again from the scripting surface flips it, as the button
    assert p.free_parameter("y1", "~~", "y2", "between") is True
    assert p.free_parameter("y2", "~~", "y1", "between") is False
    assert p.syntax == before


def test_compare_with_previous_fit_shows_the_lrt(cfa_panel):
    p = cfa_panel
    _open_results(p)
    _click(p, "compare")
    _settle(p)
    spec = p._results.checks.comparison
    assert spec["state"] == "unavailable" and "No previous fit" in spec["message"]
    fit0 = p.result
    _click(p, "free", _mi(p)["rows"][0]["id"])
    _settle(p)
    fit1 = p.result
    _click(p, "compare")
    _settle(p)
    spec = p._results.checks.comparison
    assert spec["state"] == "ok" and spec["title"] == "Likelihood-ratio test"
    rows = {r[0]: r for r in spec["rows"]}
    assert set(rows) == {"previous fit", "current fit"}
    diff = fit0.fit_measures["chisq"] - fit1.fit_measures["chisq"]
    assert rows["previous fit"][4] == f"{diff:.3f}" and rows["previous fit"][5] == "1"
    assert rows["previous fit"][6] == "<.001"
    assert rows["current fit"][7] == f"{fit1.fit_measures['aic']:.1f}"
    assert "frees y1 ~~ y2 (between level)" in spec["message"]
    assert "fits significantly better" in spec["message"]
    cmp = p.compare_previous()
    assert cmp.table.loc["previous fit", "chisq_diff"] == pytest.approx(diff)
    # a new fit: the comparison on the screen was of older fits
    p.toggle_covariance("y4", "y5", "within", True)
    _settle(p)
    assert p._results.checks.comparison["state"] == "idle"


def test_fits_that_cannot_be_compared_say_why_in_the_panel(demo):
    p = ms.Panel(demo, cluster="cluster", model="level: within\n  y1 ~ x1\n"
                                                 "level: between\n  y1 ~ w1\n")
    try:
        p.wait(60)
        _open_results(p)
        # different variables: not nested
        p.syntax = "level: within\n  y1 ~ x2\nlevel: between\n  y1 ~ w1\n"
        _settle(p)
        _click(p, "compare")
        _settle(p)
        spec = p._results.checks.comparison
        assert spec["state"] == "error"
        assert spec["message"].startswith("Cannot compare with the previous fit: 'previous "
                                          "fit' and 'current fit' are not nested")
        assert "Traceback" not in spec["message"]
        with pytest.raises(ModelSpecificationError, match="not nested"):
            p.compare_previous()
        # other data: no cluster column any more
        p.set_cluster(None)
        _settle(p)
        _click(p, "compare")
        _settle(p)
        spec = p._results.checks.comparison
        assert spec["state"] == "error" and "different clusters" in spec["message"]
        with pytest.raises(DataError):
            p.compare_previous()
        # the panel lives on: a switch still refits
        p.toggle_path("y1", "x1", None, True)
        assert p.wait(60) is not None and p.error is None
    finally:
        p.close()


def test_mlr_fits_get_the_scaled_difference_test(demo):
    p = ms.Panel(demo, cluster="cluster", model=CFA, estimator="MLR")
    try:
        p.wait(60)
        p.free_parameter("y1", "~~", "y2", "between")
        _settle(p)
        _open_results(p)
        _click(p, "compare")
        _settle(p)
        spec = p._results.checks.comparison
        assert spec["title"] == "Scaled difference test (Satorra-Bentler 2001)"
        assert spec["header"][4] == "\u0394\u03c7\u00b2 (scaled)"
        assert spec["header"][-1] == "scaling factor"
        cmp = p.checks.comparison
        assert cmp.method == "satorra.bentler.2001"
        row = dict(zip(spec["header"], spec["rows"][1]))
        assert row["\u0394\u03c7\u00b2 (scaled)"] == \
            f"{cmp.table.loc['previous fit', 'chisq_diff']:.3f}"
    finally:
        p.close()


def test_cross_loadings_free_and_fixed_parameters_say_why(hs):
    p = ms.Panel(hs, model=HS, single_level=True)
    try:
        p.wait(60)
        _open_results(p)
        spec = _mi(p)
        rows = {r["cells"][0]: r for r in spec["rows"]}
        # fixed in the text: not a button, a reason
        fixed = rows["x7 ~~ x8"]
        assert fixed["id"] == "" and "The model text fixes x7 ~~ x8 at 0" in fixed["why"]
        # the largest (visual =~ x9, lavaan's 36.4) is a cross-loading: freed as a loading
        assert spec["rows"][0]["cells"][:3] == ["visual =~ x9", "", "36.41"]
        _click(p, "free", spec["rows"][0]["id"])
        assert "visual =~ x1 + x2 + x3 + x9\n" in p.syntax
        _settle(p)
        est = p.result.estimates
        assert ((est.lhs == "visual") & (est.op == "=~") & (est.rhs == "x9")
                & (est.free > 0)).sum() == 1
        _click(p, "unfree", _mi(p)["freed"][0]["id"])
        assert p.syntax.startswith("visual =~ x1 + x2 + x3\n")
        with pytest.raises(ValueError, match="model text fixes"):
            p.free_parameter("x7", "~~", "x8")
        # what the list can meet in other models
        model, fit = p.model, p.result
        assert "marker of visual" in free_key(model, fit, "visual", "=~", "x1", "")[1]
        assert "type 'x1 ~ 1'" in free_key(model, fit, "x1", "~1", "", "")[1]
        assert free_key(model, fit, "x1", "~~", "x4", "")[0] == ("cov", "", "x1", "x4")
    finally:
        p.close()


def _exact(R, n=500, seed=1, names="abc"):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, len(R)))
    X -= X.mean(0)
    X = X @ np.linalg.inv(np.linalg.cholesky(np.cov(X.T, bias=True))).T
    return pd.DataFrame(X @ np.linalg.cholesky(np.asarray(R)).T, columns=list(names))


def test_an_improper_solution_has_no_indices_and_no_comparison():
    # a Heywood case (as tests/test_improper.py): a ~~ a = -0.6
    R = [[1, .8, .8], [.8, 1, .4], [.8, .4, 1]]
    p = ms.Panel(_exact(R), model="f =~ a + b + c", single_level=True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            p.wait(60)
            _open_results(p)
            spec = _mi(p)
            assert spec["state"] == "unavailable" and spec["rows"] == []
            assert spec["message"].startswith("Modification indices are not available: the "
                                              "solution is improper (some estimated ov "
                                              "variances are negative")
            # the residuals are still shown
            assert p._results.residuals.figure
            p._model.estimator.value = "MLR"
            _settle(p)
            assert p.result.estimator == "MLR"
            _click(p, "compare")
            _settle(p)
        msg = p._results.checks.comparison["message"]
        assert p._results.checks.comparison["state"] == "unavailable"
        assert msg.startswith("Cannot compare: in the current fit, the solution is improper "
                              "(some estimated ov variances are negative: a ~~ a = -0.600)")
        with pytest.raises(ValueError, match="solution is improper"):
            p.compare_previous()
    finally:
        p.close()


class _Quiet:
    def __getattr__(self, name):
        return lambda *a, **k: None


def test_a_fit_that_did_not_converge_has_no_indices(demo):
    def fit_fn(syntax, data, **kw):
        return ms.fit(syntax, data, control={"maxiter": 2}, quiet=True, **kw)

    ctl = PanelController(demo, "cluster", CFA, view=_Quiet(), fit_fn=fit_fn,
                          diagram_fn=lambda fit: None)
    screen = ResultsScreen()
    checks = ResultChecks(ctl, screen)
    try:
        ctl.start()
        assert ctl.wait(60) and not ctl.result.converged
        assert "did not converge" in unavailable(ctl.result)
        checks.want(ctl.result)
        assert checks.wait(60)
        spec = screen.checks.modindices
        assert spec["state"] == "unavailable"
        assert spec["message"] == ("Modification indices are not available: the fit did not "
                                   "converge, so its estimates (and any test at them) are not "
                                   "reliable; fix the model first.")
    finally:
        checks.close()
        ctl.close()


def test_residual_heatmaps_per_level_with_a_selector(cfa_panel):
    p = cfa_panel
    _open_results(p)
    screen = p._results
    assert list(screen.residual_level.options) == ["within", "between"]
    assert screen.residual_level.layout.display == ""
    res = p.result.residuals(type="cor")
    # what the page gets: the within level's figure
    sent = screen.residuals.data()
    assert sent["data"][0]["x"] == ["y1", "y2", "y3", "y4", "y5", "y6"]
    assert sent["layout"]["annotations"][0]["text"] == "within"
    z = np.asarray(screen.residuals.shown.data[0].z, dtype=float)
    assert np.allclose(np.tril(z), np.tril(res["within"].cov.to_numpy()), equal_nan=True)
    screen.residual_level.value = "between"
    assert screen.residuals.data()["layout"]["annotations"][0]["text"] == "between"
    z = np.asarray(screen.residuals.shown.data[0].z, dtype=float)
    assert np.allclose(np.tril(z), np.tril(res["between"].cov.to_numpy()), equal_nan=True)
    assert "between level" in screen.residuals.description


def test_names_reach_the_page_as_data_only(demo):
    # a column name that is HTML: the specs carry it as plain text for textContent
    df = demo.rename(columns={"y1": "a<b>", "y2": "c&d"})
    model = ("level: within\n  fw =~ `a<b>` + `c&d` + y3 + y4 + y5 + y6\n"
             "level: between\n  fb =~ `a<b>` + `c&d` + y3 + y4 + y5 + y6\n")
    p = ms.Panel(df, cluster="cluster", model=model)
    try:
        p.wait(60)
        _open_results(p)
        top = _mi(p)["rows"][0]
        assert top["cells"][0] == "a<b> ~~ c&d" and top["name"] == "a<b> ~~ c&d (between level)"
        _click(p, "free", top["id"])
        _settle(p)
        assert p.error is None and "`a<b>` ~~ `c&d`" in p.syntax
    finally:
        p.close()


def test_random_slopes_say_why_there_are_no_indices_or_residuals(demo):
    p = ms.Panel(demo, cluster="cluster", model="level: within\n  y1 ~ x1\n"
                                                 "level: between\n  y1 ~ w1\n")
    try:
        p.wait(60)
        _open_results(p)
        assert p._results.residuals.figure
        p.toggle_random_slope("y1", "x1", True)
        _settle(p)
        spec = _mi(p)
        assert spec["state"] == "unavailable"
        assert spec["message"] == (
            "Modification indices are not available: modification indices need a "
            "maximum-likelihood fit (ML or MLR) of complete data without random slopes; "
            "refit with estimator='ML' and missing='listwise'.")
        assert "Residuals not available: residuals need a saturated model" in \
            p._results.residual_note.value
        assert p._results.residuals.figure == ""
        assert p.status.state in ("ok", "warn")
    finally:
        p.close()


def test_after_a_failed_refit_nothing_is_offered_and_undo_stays(cfa_panel):
    p = cfa_panel
    _open_results(p)
    ident = _mi(p)["rows"][0]["id"]
    _click(p, "free", ident)
    _settle(p)
    good = p.syntax
    p.syntax = good + "  y3 ~~ \n"                  # a syntax error
    _settle(p)
    assert p.status.state == "error"
    spec = _mi(p)
    assert spec["rows"] and all(r["id"] == "" for r in spec["rows"])
    assert "not of the model in the syntax box" in spec["rows"][0]["why"]
    assert [f["id"] for f in spec["freed"]] == [ident]
    # Undo works from the last model that could be fitted, as a switch does
    _click(p, "unfree", ident)
    _settle(p)
    assert "y1 ~~ y2" not in p.syntax and p.error is None
    assert _mi(p)["rows"][0]["id"] == ident
