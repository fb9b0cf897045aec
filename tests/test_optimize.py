"""Fisher scoring then Newton (estimation.optimize.maximize_scoring), and the one-pass
log-likelihood, gradient and information it evaluates (estimation.information)."""

import json

import numpy as np
import pandas as pd
import pytest
from conftest import FIXTURES

import msem_nb as ms
from msem_nb.estimation.exogenous import _exo_subset, _separate_levels
from msem_nb.estimation.information import (
    expected_information,
    loglik_information,
    observed_information,
)
from msem_nb.estimation.optimize import maximize_scoring
from msem_nb.estimation.options import FitOptions
from msem_nb.estimation.pipeline import prepare
from msem_nb.estimation.saturated import fit_saturated
from msem_nb.estimation.start import start_values
from msem_nb.model.partable import build_partable
from msem_nb.syntax import parse

M1 = json.loads((FIXTURES / "M1_cfa_twolevel.json").read_text())["model_syntax"]


def _concave(spread):
    """A smooth concave function on parameters of scales 1/spread..spread, its gradient,
    Hessian and a positive definite stand-in for the expected information."""
    rng = np.random.default_rng(3)
    n = 6
    s = np.geomspace(1.0 / spread, spread, n)
    A = rng.normal(size=(n, n))
    A = A @ A.T + n * np.eye(n)
    b = rng.normal(size=n)

    def evaluate(x, kind):
        z = x / s
        f = -0.5 * z @ A @ z + b @ z - np.sum(z ** 4) / 12
        g = (-(A @ z) + b - z ** 3 / 3) / s
        if kind is None:
            return f, g, None
        info = A + (np.diag(z ** 2) if kind == "observed" else 0.0)
        return f, g, info / np.outer(s, s)

    return evaluate, A, b, s


@pytest.mark.parametrize("spread", [1.0, 1e6])
def test_scoring_then_newton_finds_the_maximum_whatever_the_scale(spread):
    evaluate, A, b, s = _concave(spread)
    res = maximize_scoring(evaluate, np.zeros(6))
    assert res is not None and res.converged
    z = res.x / s
    np.testing.assert_allclose(A @ z + z ** 3 / 3, b, atol=1e-12)
    # the Hessian returned is the one at the returned point
    np.testing.assert_allclose(res.hessian, -evaluate(res.x, "observed")[2], rtol=1e-14)


def test_scoring_gives_up_where_the_information_is_singular():
    def evaluate(x, kind):
        f = -0.5 * (x[0] + x[1] - 1.0) ** 2
        g = -(x[0] + x[1] - 1.0) * np.ones(2)
        return f, g, (None if kind is None else np.ones((2, 2)))

    assert maximize_scoring(evaluate, np.zeros(2)) is None


def test_scoring_stops_after_max_steps_without_converging():
    evaluate, *_ = _concave(1.0)
    res = maximize_scoring(evaluate, np.full(6, 5.0), max_steps=1)
    assert res is not None and not res.converged and res.hessian is None


@pytest.fixture(scope="module")
def m1(demo):
    return ms.fit(M1, demo, cluster="cluster")


def test_one_pass_matches_the_separate_pieces(m1):
    est = m1.estimation
    obj = est.internal.objective
    xi = est.internal.theta + np.random.default_rng(1).normal(scale=0.02, size=len(est.theta))
    ll, g = obj.loglik(xi, gradient=True)
    for kind, info in (("observed", observed_information(obj, xi)),
                       ("expected", expected_information(obj, xi))):
        ll1, g1, info1 = loglik_information(obj, xi, kind)
        assert ll1 == pytest.approx(ll, rel=1e-14)
        np.testing.assert_allclose(g1, g, rtol=1e-12, atol=1e-9)
        np.testing.assert_allclose(info1, info, rtol=1e-12, atol=1e-9)
    bad = xi.copy()
    bad[obj.spec.blocks[0].S_free[2]] = -1.0      # negative variances
    assert loglik_information(obj, bad, "observed") == (-np.inf, None, None)


def test_m1_takes_a_handful_of_steps(m1):
    """Scoring then Newton: M1 (the lavaan tutorial's two-level CFA) converges in a
    few steps, each one evaluation, and to the same maximum from another start."""
    est = m1.estimation
    assert est.converged and est.iterations <= 6 and est.evaluations <= est.iterations + 2
    demo = pd.read_csv(FIXTURES / "Demo.twolevel.csv")
    other = ms.fit(M1, demo, cluster="cluster", control={"start": est.theta * 0.7 + 0.05})
    assert other.converged
    np.testing.assert_allclose(other.estimation.theta, est.theta, rtol=1e-8, atol=1e-10)


HS_CFA = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9"
PATHS = ("level: within\n y1 ~ x1 + x2\n y2 ~ y1 + x1\n"
         "level: between\n y1 ~ w1 + w2\n y2 ~ y1 + w1")


@pytest.mark.parametrize("model, data, cluster", [(M1, "demo", "cluster"),
                                                  (HS_CFA, "hs", None),
                                                  (PATHS, "demo", "cluster")])
def test_start_values_are_near_the_estimates(model, data, cluster, demo, hs):
    """Loadings by the indicators' covariances, paths by least squares on the moments,
    residual variances what is left: each start within a few standard errors (zero
    paths and half variances were up to 22 off on M1)."""
    fit = ms.fit(model, demo if data == "demo" else hs, cluster=cluster)
    inner = fit.estimation.internal
    obj = inner.objective
    start = start_values(fit.partable, obj.spec, obj.data, user=False)
    off = (start - inner.theta) / np.sqrt(np.diag(inner.vcov))
    assert np.abs(off).max() < 4.0, np.round(off, 1)


@pytest.mark.parametrize("model", [M1, PATHS])
def test_covariates_with_one_part_have_closed_form_moments(model, demo):
    """The fixed covariates' saturated model without a pass over the rows equals the
    fitted one on their subset (the exogenous-values fast path)."""
    pt = build_partable(parse(model))
    data, _ = prepare(pt, demo.assign(w1=demo.w1 * 100 + 3), "cluster", FitOptions())
    exo = pt.exogenous
    slow = fit_saturated(_exo_subset(pt, data, exo))
    fast = _separate_levels(data, [v for v in data.within if v in exo],
                            [v for v in data.between_only if v in exo])
    assert fast.names == slow.names and len(fast.names) >= 3
    assert fast.loglik == pytest.approx(slow.loglik, rel=1e-13)
    np.testing.assert_allclose(fast.mu, slow.mu, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(fast.sigma_w, slow.sigma_w, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(fast.sigma_b, slow.sigma_b, rtol=1e-12, atol=1e-12)
