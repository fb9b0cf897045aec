"""Random slopes on observed within covariates (issue 4)."""

import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import load_reference

import msem_nb as ms
from msem_nb.data.prepare import prepare_data
from msem_nb.errors import ModelSpecificationError
from msem_nb.estimation.exogenous import exogenous_values
from msem_nb.estimation.start import start_values
from msem_nb.likelihood.slopes import SlopeObjective
from msem_nb.model.partable import build_partable
from msem_nb.model.spec import build_spec
from msem_nb.syntax import parse

L2_MODEL = "level: within\n s1 | y1 ~ x1\nlevel: between\n y1 ~ w1"


def _est(res, lhs, op, rhs, level):
    e = res.estimates
    return e[(e.lhs == lhs) & (e.op == op) & (e.rhs == rhs) & (e.level == level)].iloc[0]


def simulate(n_clusters=150, seed=3, slope_var=0.2, cov=0.05, sizes=(5, 25)):
    rng = np.random.default_rng(seed)
    n = rng.integers(sizes[0], sizes[1] + 1, n_clusters)
    cid = np.repeat(np.arange(n_clusters), n)
    w = rng.normal(size=n_clusters)
    u = rng.multivariate_normal([0, 0], [[0.5, cov], [cov, slope_var]], n_clusters)
    x = rng.normal(size=len(cid))
    y = 0.2 + 0.3 * w[cid] + u[cid, 0] + (0.5 + 0.25 * w[cid] + u[cid, 1]) * x \
        + rng.normal(size=len(cid))
    return pd.DataFrame({"y": y, "x": x, "w": w[cid], "g": cid})


def test_reproduces_lme4_random_slope(demo):
    """lme4: y1 ~ x1 + w1 + (1 + x1 | cluster), REML = FALSE."""
    ref = load_reference("L2_random_slope")
    res = ms.fit(L2_MODEL, demo, cluster="cluster")
    assert res.converged
    assert res.loglik == pytest.approx(ref["logLik"], abs=1e-3)
    fe = {r["term"]: r for r in ref["fixed_effects"]}
    ours = {"(Intercept)": _est(res, "y1", "~1", "", "between"),
            "x1": _est(res, "s1", "~1", "", "between"),
            "w1": _est(res, "y1", "~", "w1", "between")}
    for term, row in ours.items():
        tol = max(1e-3 * abs(fe[term]["estimate"]), 2e-3 * fe[term]["se"])
        assert abs(row["est"] - fe[term]["estimate"]) <= tol, term
        assert row["se"] == pytest.approx(fe[term]["se"], rel=1e-2), term
    vc = {(r["var1"], r["var2"]): r["vcov"] for r in ref["variance_components"]}
    assert _est(res, "y1", "~~", "y1", "between")["est"] == pytest.approx(
        vc[("(Intercept)", None)], rel=1e-2)
    assert _est(res, "s1", "~~", "s1", "between")["est"] == pytest.approx(
        vc[("x1", None)], rel=1e-2)
    cov = res.estimates[(res.estimates.op == "~~") & (res.estimates.level == "between")
                        & (res.estimates.lhs.isin(["s1", "y1"]))
                        & (res.estimates.rhs.isin(["s1", "y1"]))
                        & (res.estimates.lhs != res.estimates.rhs)].iloc[0]
    assert cov["est"] == pytest.approx(vc[("(Intercept)", "x1")], rel=1e-2)
    assert _est(res, "y1", "~~", "y1", "within")["est"] == pytest.approx(
        vc[(None, None)], rel=1e-2)
    # the intercept-slope correlation is 0.99997 in these data: a boundary,
    # reported as such, not as a failure
    assert any("boundary" in n for n in res.estimation.notes)


def test_matches_statsmodels_mixedlm():
    sm = pytest.importorskip("statsmodels.formula.api")
    df = simulate()
    res = ms.fit("level: within\n s | y ~ x\nlevel: between\n y ~ w\n s ~ w", df, cluster="g")
    assert res.converged
    df2 = df.assign(xw=df.x * df.w)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = sm.mixedlm("y ~ x + w + xw", df2, groups=df2["g"], re_formula="~x").fit(reml=False)
    assert res.loglik == pytest.approx(ref.llf, abs=1e-3)
    fe = ref.fe_params
    pairs = [(_est(res, "y", "~1", "", "between"), "Intercept"),
             (_est(res, "s", "~1", "", "between"), "x"),
             (_est(res, "y", "~", "w", "between"), "w"),
             (_est(res, "s", "~", "w", "between"), "xw")]
    for row, name in pairs:
        assert row["est"] == pytest.approx(fe[name], rel=1e-3, abs=1e-3 * ref.bse[name])
        assert row["se"] == pytest.approx(ref.bse[name], rel=1e-2)
    re = ref.cov_re.to_numpy()
    assert _est(res, "y", "~~", "y", "between")["est"] == pytest.approx(re[0, 0], rel=1e-2)
    assert _est(res, "s", "~~", "s", "between")["est"] == pytest.approx(re[1, 1], rel=1e-2)
    assert _est(res, "y", "~~", "y", "within")["est"] == pytest.approx(ref.scale, rel=1e-2)


MODELS = {
    "one_slope": L2_MODEL,
    "two_slopes_one_outcome": "level: within\n s1 | y1 ~ x1\n s2 | y1 ~ x2\n"
                              "level: between\n y1 ~ w1\n s1 ~ w1",
    "two_outcomes": "level: within\n s1 | y1 ~ x1\n s2 | y2 ~ x1\n y2 ~ y1\n"
                    "level: between\n y1 ~ w1\n y2 ~ y1",
    "between_outcome": "level: within\n s1 | y1 ~ x1\nlevel: between\n y1 ~ w1\n w2 ~ y1 + s1",
    "decomposed_predictor": "level: within\n s1 | y1 ~ x1\n y1 ~ y2\n"
                            "level: between\n y1 ~ y2 + w1\n s1 ~ w1",
    "latent_within": "level: within\n fw =~ y2 + y3 + y4\n s1 | y1 ~ x1\n y1 ~ fw\n"
                     "level: between\n fb =~ y2 + y3 + y4\n y1 ~ fb\n s1 ~ fb",
}


@pytest.mark.parametrize("name", list(MODELS))
def test_gradient_matches_finite_differences(name, demo):
    pt = build_partable(parse(MODELS[name]))
    within, between_only, both = pt.roles()
    data = prepare_data(demo, within, "cluster", between_only, both)
    spec = build_spec(pt, exogenous_values(pt, data)[0])
    obj = SlopeObjective(pt, spec, data)
    theta = start_values(pt, spec, data)
    theta += np.random.default_rng(0).normal(scale=0.02, size=len(theta))
    ll, g = obj.loglik(theta, gradient=True)
    assert np.isfinite(ll)
    fd = np.array([(obj.loglik(theta + e) - obj.loglik(theta - e)) / 2e-6
                   for e in np.eye(len(theta)) * 1e-6])
    np.testing.assert_allclose(g, fd, rtol=1e-5, atol=1e-5 * np.abs(fd).max())


@pytest.mark.parametrize("name", list(MODELS))
def test_models_with_the_rest_of_sem_converge(name, demo):
    with warnings.catch_warnings():
        warnings.simplefilter("error", ms.ConvergenceWarning)
        res = ms.fit(MODELS[name], demo, cluster="cluster")
    assert res.converged
    _, g = res.estimation.objective.loglik(res.estimation.theta, gradient=True)
    assert np.all(np.isfinite(g))


def test_recovers_a_slope_model_with_slopes_as_outcomes():
    df = simulate(n_clusters=400, seed=8)
    res = ms.fit("level: within\n s | y ~ x\nlevel: between\n y ~ w\n s ~ w", df, cluster="g")
    assert _est(res, "s", "~1", "", "between")["est"] == pytest.approx(0.5, abs=0.08)
    assert _est(res, "s", "~", "w", "between")["est"] == pytest.approx(0.25, abs=0.08)
    assert _est(res, "s", "~~", "s", "between")["est"] == pytest.approx(0.2, abs=0.08)
    assert _est(res, "y", "~", "w", "between")["est"] == pytest.approx(0.3, abs=0.1)


def test_boundary_slope_variance_is_reported_not_failed():
    df = simulate(n_clusters=200, seed=5, slope_var=1e-12, cov=0.0)
    res = ms.fit("level: within\n s | y ~ x\nlevel: between\n y ~ w\n s ~ w", df, cluster="g")
    assert res.converged
    assert _est(res, "s", "~~", "s", "between")["est"] < 0.01
    assert res.estimation.notes and "boundary" in " ".join(res.estimation.notes)
    assert "Note:" in res.summary()


def test_no_saturated_model_so_no_chi_square(demo):
    res = ms.fit(L2_MODEL, demo, cluster="cluster")
    fm = res.fit_measures
    assert set(fm) >= {"loglik", "aic", "bic", "npar"}
    assert "chisq" not in fm and "cfi" not in fm and "rmsea" not in fm
    assert "no saturated model" in fm["note"]
    assert fm["bic"] == pytest.approx(-2 * res.loglik + np.log(res.nobs) * res.npar)
    assert "no saturated model" in res.summary()


def test_center_option_is_applied_and_recorded(demo):
    res = ms.fit(L2_MODEL, demo, cluster="cluster", center={"x1": "cluster"})
    assert res.centering == {"x1": "cluster"}
    manual = demo.assign(x1=demo.x1 - demo.groupby("cluster").x1.transform("mean"))
    ref = ms.fit(L2_MODEL, manual, cluster="cluster")
    assert res.loglik == pytest.approx(ref.loglik, abs=1e-8)
    grand = ms.fit(L2_MODEL, demo, cluster="cluster", center={"x1": "grand"})
    assert grand.centering == {"x1": "grand"}
    assert "Centred x1" in grand.summary()


@pytest.mark.parametrize("model, match", [
    # (slopes on latent covariates and on both-level covariates were refused here until
    # issue 14; they are fitted now: tests/test_slopes_lavdev.py)
    ("level: within\n y2 | y1 ~ x1\nlevel: between\n y1 ~ w1\n y2 ~ w1", "slope name"),
    ("level: within\n x2 | y1 ~ x1\n y1 ~ x2\nlevel: between\n y1 ~ w1", "give the slope"),
    ("level: within\n y1 ~ x1\nlevel: between\n s | y1 ~ w1", "between block"),
    ("s | y1 ~ x1", "single-level"),
    ("level: within\n s | y1 ~ x1\n y1 ~ x1\nlevel: between\n y1 ~ w1", "same effect"),
    ("level: within\n s | y1 ~ x1\n s ~~ y1\nlevel: between\n y1 ~ w1", "between level"),
    ("level: within\n s | y1 ~ x1\n t | y1 ~ x1\nlevel: between\n y1 ~ w1",
     "both describe 'y1 ~ x1'"),
])
def test_clear_errors(model, match, demo):
    with pytest.raises((ModelSpecificationError, ms.ModelSyntaxError), match=match):
        ms.fit(model, demo, cluster="cluster")
