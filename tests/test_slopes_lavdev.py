"""Random slopes beyond observed outcomes on observed covariates (issue 14), against
lavaan's development version (0.7-2.3170, the rv() modifier); fixtures and their R
script in tests/fixtures/slopes_lavdev/."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import msem_nb as ms
from msem_nb.errors import ModelSpecificationError
from msem_nb.estimation.exogenous import exogenous_values
from msem_nb.estimation.options import FitOptions
from msem_nb.estimation.pipeline import prepare
from msem_nb.estimation.start import start_values
from msem_nb.likelihood.slopes_latent import DEFAULT_NODES, LatentSlopeObjective
from msem_nb.model.partable import build_partable
from msem_nb.model.spec import build_spec
from msem_nb.syntax import parse
from msem_nb.syntax.tokens import ModelSyntaxError

DIR = Path(__file__).parent / "fixtures" / "slopes_lavdev"


def _ref(name):
    return json.loads((DIR / f"{name}.json").read_text())


@pytest.fixture(scope="module")
def rs_sim():
    return pd.read_csv(DIR / "rs_sim.csv")


def compare(res, ref, *, ll_tol=1e-3, se_rel=0.02):
    """lavaan-dev's rows against ours: estimates within 1e-3 relative or 1% of the SE,
    SEs within `se_rel`; the log-likelihood within `ll_tol`."""
    assert res.converged
    assert res.loglik == pytest.approx(ref["logl"], abs=ll_tol)
    ours = res.estimates.set_index(["lhs", "op", "rhs", "level"])
    levels = {1: "within", 2: "between"}
    checked = 0
    for row in ref["parameter_table"]:
        if not row["se"]:   # fixed rows (and lavaan's zero placeholders of random paths)
            continue
        key = (row["lhs"], row["op"], row["rhs"], levels[row["level"]])
        if key not in ours.index and row["op"] == "~~":
            key = (row["rhs"], row["op"], row["lhs"], levels[row["level"]])
        mine = ours.loc[key]
        tol = max(1e-3 * abs(row["est"]), 0.01 * row["se"])
        assert abs(mine["est"] - row["est"]) <= tol, key
        assert mine["se"] == pytest.approx(row["se"], rel=se_rel), key
        checked += 1
    assert checked == ref["npar"]


def test_rv_modifier_is_the_bar_form():
    a = parse('level: 1\n fw =~ y1 + y2\n fw ~ rv("s1")*x1 + rv(\'s2\')*x2 + x3\n'
              'level: 2\n fb =~ y1 + y2')
    b = parse("level: 1\n fw =~ y1 + y2\n fw ~ x3\n s1 | fw ~ x1\n s2 | fw ~ x2\n"
              "level: 2\n fb =~ y1 + y2")
    assert a.statements == b.statements


@pytest.mark.parametrize("text, message", [
    ('level: 1\n y ~ rv("s1")*a*x\nlevel: 2\n y ~~ y', "cannot also carry a label"),
    ('level: 1\n y ~~ rv("s1")*x\nlevel: 2\n y ~~ y', "allowed after '~' only"),
    ('level: 1\n y ~ rv()*x\nlevel: 2\n y ~~ y', "expected a slope name inside rv"),
    ('level: 1\n y ~ rv("s1"*x\nlevel: 2\n y ~~ y', "expected '\\)' to close rv"),
    ('level: 1\n y ~ rv("s1)*x\nlevel: 2\n y ~~ y', "unclosed quote"),
])
def test_rv_modifier_errors(text, message):
    with pytest.raises(ModelSyntaxError, match=message):
        parse(text)


def test_thresholds_still_told_apart():
    with pytest.raises(ModelSyntaxError, match="thresholds"):
        parse("y | t1 + t2")


def test_latent_outcome_observed_covariate(rs_sim):
    """RS1: fy ~ rv("s1")*z1 + z2 with fy =~ y1 + y2 + y3 (closed form)."""
    ref = _ref("RS1_latent_outcome")
    res = ms.fit(ref["model_syntax"], rs_sim, cluster="cluster")
    compare(res, ref)


def test_fixed_x_false_is_refused(rs_sim):
    """The likelihood is conditional on the covariates: free covariate moments would be
    parameters that never enter it (they used to be counted, with NaN standard errors)."""
    with pytest.raises(ModelSpecificationError, match="fixed_x=False is not available"):
        ms.fit('level: 1\n y1 ~ rv("s1")*z1 + z2\nlevel: 2\n y1 ~ w', rs_sim,
               cluster="cluster", fixed_x=False)


@pytest.fixture(scope="module")
def rs3_fit(rs_sim):
    ref = _ref("RS3_contextual")
    return ref, ms.fit(ref["model_syntax"], rs_sim, cluster="cluster")


def test_latent_centred_contextual_slope(rs3_fit):
    """RS3: yc ~ rv("s1")*xc with xc at both levels: the slope multiplies xc's latent
    within part (adaptive Gauss-Hermite over s1, the rest analytically)."""
    ref, res = rs3_fit
    compare(res, ref)
    # lavaan-dev with 41 nodes instead of its 21: the same log-likelihood
    ref41 = _ref("RS3_contextual_41")
    assert res.loglik == pytest.approx(ref41["logl"], abs=1e-3)


def test_default_nodes_are_enough(rs3_fit):
    """The default rule against twice its nodes: the log-likelihood moves < 1e-4."""
    _, res = rs3_fit
    obj = res.estimation.objective
    assert isinstance(obj, LatentSlopeObjective) and obj.nodes == DEFAULT_NODES
    twice = LatentSlopeObjective(obj.pt, obj.spec, obj.data, 2 * DEFAULT_NODES)
    fewer = LatentSlopeObjective(obj.pt, obj.spec, obj.data, 2)
    theta = res.estimation.theta
    assert abs(twice.loglik(theta) - obj.loglik(theta)) < 1e-4
    # (and the rule is not trivially exact: two nodes are visibly off)
    assert abs(fewer.loglik(theta) - obj.loglik(theta)) > 1e-4


def _richardson_check(obj, theta, g, S=None):
    """The analytic gradient (adaptation fixed) against a Richardson extrapolation of
    central differences of the same function; per-cluster scores likewise."""
    ad = obj.adaptation(theta, refresh=True)
    for i in range(len(theta)):
        e = np.zeros(len(theta))

        def d(h):
            e[i] = h
            return (obj.cluster_loglik(theta + e, ad) - obj.cluster_loglik(theta - e, ad)) / (2 * h)
        rich = (4 * d(1e-3) - d(2e-3)) / 3
        assert g[i] == pytest.approx(rich.sum(), rel=1e-5, abs=1e-4)
        if S is not None:
            np.testing.assert_allclose(S[:, i], rich, rtol=1e-5, atol=1e-5)


def test_analytic_gradient_is_accurate(rs3_fit):
    """RS3's gradient and MLR scores (posterior-weighted conditional gradients, the
    adaptation held fixed) against differences of the quadrature sum."""
    _, res = rs3_fit
    obj = res.estimation.objective
    theta = res.estimation.theta + 0.01
    obj.adaptation(theta, refresh=True)
    g = obj.loglik(theta, gradient=True)[1]
    S = obj.cluster_scores(theta)
    np.testing.assert_allclose(S.sum(axis=0), g, rtol=1e-10, atol=1e-8)
    _richardson_check(obj, theta, g, S)


def test_contextual_slope_mlr(rs_sim):
    """RS3 with MLR: the sandwich from the analytic per-cluster scores of the quadrature
    objective, against lavaan-dev's."""
    ref = _ref("RS3_contextual_mlr")
    res = ms.fit(ref["model_syntax"], rs_sim, cluster="cluster", estimator="MLR")
    compare(res, ref)


def _rs2_objective(rs_sim):
    """RS2's objective built as ms.fit builds it, and lavaan-dev's estimates as theta."""
    ref = _ref("RS2_latent_covariate")
    pt = build_partable(parse(ref["model_syntax"] + RS2_AS_LAVDEV))
    data, _ = prepare(pt, rs_sim, "cluster", FitOptions())
    spec = build_spec(pt, exogenous_values(pt, data)[0])
    obj = LatentSlopeObjective(pt, spec, data)
    levels = {"within": 1, "between": 2}
    est = {(r["lhs"], r["op"], r["rhs"], r["level"]): r["est"] for r in ref["parameter_table"]}
    theta = np.full(pt.npar, np.nan)
    for r in pt.records:
        if r["free"]:
            key = (r["lhs"], r["op"], r["rhs"], levels[r["level"]])
            if key not in est:
                key = (r["rhs"], r["op"], r["lhs"], levels[r["level"]])
            theta[r["free"] - 1] = est[key]
    assert np.isfinite(theta).all()
    return ref, obj, theta


def test_analytic_gradient_two_latent_slopes(rs_sim):
    """Two slopes by quadrature (on a within latent variable and on the latent within
    part of xc; 3 x 3 nodes: the identity holds for any rule), a slope on an observed
    covariate and a fixed covariate analytically: the gradient and the cluster scores
    against central differences."""
    text = ('level: 1\n fx =~ x1 + x2 + x3\n y1 ~ rv("s1")*fx + z2\n'
            ' yc ~ rv("s2")*xc + rv("s3")*z1\n'
            'level: 2\n fxb =~ x1 + x2 + x3\n y1 ~ fxb\n yc ~ xc')
    pt = build_partable(parse(text))
    data, _ = prepare(pt, rs_sim, "cluster", FitOptions())
    spec = build_spec(pt, exogenous_values(pt, data)[0])
    obj = LatentSlopeObjective(pt, spec, data, nodes=3)
    assert obj.q == 2 and obj.layout.slopes == {"s3": ("yc", "z1")}
    theta = start_values(pt, spec, data) + 0.01
    ad = obj.adaptation(theta, refresh=True)
    g = obj.loglik(theta, gradient=True)[1]
    S = obj.cluster_scores(theta)
    np.testing.assert_allclose(S.sum(axis=0), g, rtol=1e-10, atol=1e-8)
    for i in range(len(theta)):
        e = np.zeros(len(theta))
        e[i] = 1e-5
        d = (obj.cluster_loglik(theta + e, ad) - obj.cluster_loglik(theta - e, ad)) / 2e-5
        assert g[i] == pytest.approx(d.sum(), rel=1e-5, abs=1e-4)


#: lavaan-dev gives a random slope no default covariances (only what the model states:
#: here fyb ~~ s1), ours lets exogenous latent variables covary (lavaan's auto.cov.lv.x,
#: the slopes among them); RS2 is fitted with lavaan-dev's free parameters
RS2_AS_LAVDEV = "  fxb ~~ 0*s1\n"


def test_rs2_loglik_at_lavdev_estimates(rs_sim):
    """RS2 (slope of a latent outcome on a latent covariate): our log-likelihood at
    lavaan-dev's estimates is lavaan-dev's; the analytic gradient there against
    differences (the within loadings and F(s) all enter)."""
    ref, obj, theta = _rs2_objective(rs_sim)
    assert obj.loglik(theta) == pytest.approx(ref["logl"], abs=1e-3)
    g = obj.loglik(theta + 0.005, gradient=True)[1]
    _richardson_check(obj, theta + 0.005, g)


def test_rs2_latent_covariate(rs_sim):
    """RS2 against lavaan-dev: log-likelihood, estimates and standard errors."""
    ref = _ref("RS2_latent_covariate")
    res = ms.fit(ref["model_syntax"] + RS2_AS_LAVDEV, rs_sim, cluster="cluster")
    compare(res, ref)


def test_two_slopes_mlr(rs_sim):
    """RS4: two random slopes regressed on w, MLR (cluster-robust sandwich)."""
    ref = _ref("RS4_two_slopes_mlr")
    res = ms.fit(ref["model_syntax"], rs_sim, cluster="cluster", estimator="MLR")
    compare(res, ref)
