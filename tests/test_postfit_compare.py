"""ms.compare: likelihood-ratio tests against lavaan 0.6-14's lavTestLRT
(tests/fixtures/postfit, written by tests/fixtures/r/make_postfit_fixtures.R)."""

import json

import numpy as np
import pytest
from conftest import FIXTURES

import msem_nb as ms
from msem_nb.errors import DataError, ModelSpecificationError
from msem_nb.inference.compare import model_trace

POSTFIT = FIXTURES / "postfit"
HS = json.loads((POSTFIT / "HS_lrt.json").read_text())
M1 = json.loads((POSTFIT / "M1_lrt.json").read_text())
# lavaan's orthogonal = TRUE, written out
ORTHOGONAL = HS["model_full"] + "  visual ~~ 0*textual + 0*speed\n  textual ~~ 0*speed\n"


@pytest.fixture(scope="module")
def hs_fits(hs):
    return {est: {"full": ms.fit(HS["model_full"], hs, estimator=est),
                  "equal_loadings": ms.fit(HS["model_equal_loadings"], hs, estimator=est),
                  "orthogonal": ms.fit(ORTHOGONAL, hs, estimator=est)}
            for est in ("ML", "MLR")}


@pytest.mark.parametrize("other", ["equal_loadings", "orthogonal"])
def test_hs_ml_lrt_and_information_criteria(hs_fits, other):
    fits = hs_fits["ML"]
    cmp = ms.compare(fits[other], fits["full"], names=[other, "full"])
    assert cmp.method == "standard"
    tab = cmp.table
    # the larger model comes first, whatever the order given
    assert list(tab.index) == ["full", other]
    ref = HS["ML"]["tests"]["default"][other]
    row = tab.loc[other]
    assert row["chisq_diff"] == pytest.approx(ref["chisq_diff"], rel=1e-5)
    assert row["df_diff"] == ref["df_diff"]
    assert row["pvalue"] == pytest.approx(ref["pvalue"], rel=1e-4)
    assert np.isnan(tab.loc["full", "chisq_diff"])
    for name in ("full", other):
        for col, key in (("aic", "aic"), ("bic", "bic"), ("bic2", "bic2"), ("chisq", "chisq"),
                         ("npar", "npar"), ("df", "df")):
            assert tab.loc[name, col] == pytest.approx(HS["ML"][name][key], rel=1e-6), (name, col)


@pytest.mark.parametrize("method", ["satorra.bentler.2001", "satorra.bentler.2010"])
@pytest.mark.parametrize("other", ["equal_loadings", "orthogonal"])
def test_hs_mlr_scaled_differences(hs_fits, method, other):
    """Both scaled tests as lavaan's, to 1e-5; the 2010 one needs the full model's
    scaling factor at the restricted model's estimates."""
    fits = hs_fits["MLR"]
    cmp = ms.compare(fits["full"], fits[other], names=["full", other], method=method)
    ref = HS["MLR"]["tests"][method][other]
    row = cmp.table.loc[other]
    assert row["chisq_diff"] == pytest.approx(ref["chisq_diff"], rel=1e-5)
    assert row["pvalue"] == pytest.approx(ref["pvalue"], rel=1e-4)
    assert row["scaling_factor"] > 0
    if method == "satorra.bentler.2001":
        default = ms.compare(fits["full"], fits[other], names=["full", other])
        assert default.method == method
        assert default.table.loc[other, "chisq_diff"] == row["chisq_diff"]


def test_hs_2010_differs_from_2001(hs_fits):
    fits = hs_fits["MLR"]
    a = ms.compare(fits["full"], fits["orthogonal"], method="satorra.bentler.2001")
    b = ms.compare(fits["full"], fits["orthogonal"], method="satorra.bentler.2010")
    assert a.table.iloc[1]["chisq_diff"] > 2 * b.table.iloc[1]["chisq_diff"]


@pytest.fixture(scope="module")
def m1_fits(demo):
    return {est: (ms.fit(M1["model_full"], demo, cluster="cluster", estimator=est),
                  ms.fit(M1["model_equal_slopes"], demo, cluster="cluster", estimator=est))
            for est in ("ML", "MLR")}


def test_two_level_lrt(m1_fits):
    f1, f0 = m1_fits["ML"]
    row = ms.compare(f1, f0).table.iloc[1]
    ref = M1["ML"]["tests"]["default"]
    assert row["chisq_diff"] == pytest.approx(ref["chisq_diff"], rel=1e-6)
    assert row["df_diff"] == 2


def test_two_level_scaled_2001(m1_fits):
    """Two-level scaling factors differ from lavaan's by its EM tolerance on the
    saturated model (tests/test_mlr.py: about 1e-3), and so does the scaled
    difference; with lavaan's own scaling factors the formula gives lavaan's number."""
    f1, f0 = m1_fits["MLR"]
    row = ms.compare(f1, f0).table.iloc[1]
    ref = M1["MLR"]["tests"]["satorra.bentler.2001"]
    assert row["chisq_diff"] == pytest.approx(ref["chisq_diff"], rel=2e-3)
    lf, lr = M1["MLR"]["full"], M1["MLR"]["equal_slopes"]
    cd = (lr["df"] * lr["chisq.scaling.factor"] - lf["df"] * lf["chisq.scaling.factor"]) / 2
    assert (lr["chisq"] - lf["chisq"]) / cd == pytest.approx(ref["chisq_diff"], rel=1e-9)
    for fit, lav in ((f1, lf), (f0, lr)):
        assert fit.fit_measures["chisq_scaling_factor"] == pytest.approx(
            lav["chisq.scaling.factor"], rel=2e-3)


def test_two_level_scaled_2010(m1_fits):
    """lavaan 0.6-14 returns a negative statistic here (-27.1, with a warning that
    the information of its M10 model is not positive definite); the 2010 test is
    positive by construction when that information is positive definite, as ours
    is. The model part of the scaling factor, evaluated at the full model's own
    estimates, is the trace of the fit's sandwich."""
    f1, f0 = m1_fits["MLR"]
    cmp = ms.compare(f1, f0, method="satorra.bentler.2010")
    stat = cmp.table.iloc[1]["chisq_diff"]
    assert M1["MLR"]["tests"]["satorra.bentler.2010"]["chisq_diff"] < 0
    assert np.isfinite(stat) and stat > 0 and not cmp.notes
    assert model_trace(f1, f1.estimation.theta) == pytest.approx(
        f1.estimation.robust.trace_h0, rel=1e-8)


def test_errors_say_what_differs(hs, hs_fits, demo, m1_fits):
    full = hs_fits["ML"]["full"]
    fewer_rows = ms.fit(HS["model_equal_loadings"], hs.iloc[:250])
    with pytest.raises(DataError, match="different rows.*301 vs 250"):
        ms.compare(full, fewer_rows)
    changed = hs.copy()
    changed["x5"] = changed["x5"] * 2
    with pytest.raises(DataError, match="variable 'x5' differs"):
        ms.compare(full, ms.fit(HS["model_equal_loadings"], changed))
    other_vars = ms.fit("visual =~ x1 + x2 + x3\n textual =~ x4 + x5 + x6", hs)
    with pytest.raises(ModelSpecificationError, match="different variables.*x7, x8, x9"):
        ms.compare(full, other_vars)
    with pytest.raises(DataError, match="different clusters"):
        ms.compare(m1_fits["ML"][0], full)
    same_npar = ms.fit(HS["model_full"] + " visual =~ x9\n visual ~~ 0*speed\n", hs)
    assert same_npar.npar == full.npar
    with pytest.raises(ModelSpecificationError, match="same number of parameters"):
        ms.compare(full, same_npar)
    with pytest.raises(ModelSpecificationError, match="needs MLR fits"):
        ms.compare(full, hs_fits["ML"]["orthogonal"], method="satorra.bentler.2001")
    with pytest.raises(ValueError, match="at least two"):
        ms.compare(full)


def test_not_nested_when_the_smaller_model_fits_better(hs_fits, hs):
    """One factor with four residual covariances has more parameters than the
    three-factor model but fits far worse: the two cannot be nested."""
    three = hs_fits["ML"]["full"]
    one = ms.fit("g =~ x1 + x2 + x3 + x4 + x5 + x6 + x7 + x8 + x9\n"
                 " x1 ~~ x2\n x4 ~~ x5\n x7 ~~ x8\n x3 ~~ x6", hs)
    assert one.npar > three.npar and one.loglik < three.loglik
    with pytest.raises(ModelSpecificationError, match="fits better.*not nested"):
        ms.compare(one, three)


def test_repr_and_html_are_escaped(hs_fits):
    fits = hs_fits["ML"]
    cmp = ms.compare(fits["full"], fits["orthogonal"], names=["<b>full</b>", "orth & co"])
    page = cmp._repr_html_()
    assert "&lt;b&gt;full&lt;/b&gt;" in page and "orth &amp; co" in page
    assert "<b>full</b>" not in page
    text = repr(cmp)
    assert text.startswith("Likelihood-ratio test") and "orth & co" in text
