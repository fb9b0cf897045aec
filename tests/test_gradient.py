"""The analytic gradient agrees with finite differences of the log-likelihood."""

import numpy as np
import pytest

import msem_nb as ms
from msem_nb.data.prepare import prepare_data
from msem_nb.estimation.exogenous import exogenous_values
from msem_nb.estimation.start import start_values
from msem_nb.likelihood.objective import Objective
from msem_nb.model.partable import build_partable
from msem_nb.model.spec import build_spec
from msem_nb.syntax import parse

MODELS = {
    "twolevel_cfa": ("level: within\n fw =~ y1 + y2 + y3\n fw ~ x1 + x2\n"
                     "level: between\n fb =~ y1 + y2 + y3\n fb ~ w1\n w2 ~ fb", "cluster"),
    "paths_both_levels": ("level: within\n y2 ~ y1 + x1\n y3 ~ y2\nlevel: between\n"
                          " y2 ~ y1 + w1\n y3 ~ y2 + w2\n y1 ~~ w1", "cluster"),
    "single_level": ("f =~ y1 + y2 + y3\n y4 ~ f + x1\n y1 ~ 1", None),
}


def _finite_difference(obj, theta, h=1e-6):
    g = np.empty_like(theta)
    for j in range(len(theta)):
        e = np.zeros_like(theta)
        e[j] = h
        g[j] = (obj.loglik(theta + e) - obj.loglik(theta - e)) / (2 * h)
    return g


@pytest.mark.parametrize("name", list(MODELS))
def test_gradient_matches_finite_differences(name, demo):
    model, cluster = MODELS[name]
    if "y1 ~~ w1" in model:
        # giving a covariate a covariance makes it random, and says so
        with pytest.warns(UserWarning, match="treated as random"):
            pt = build_partable(parse(model))
    else:
        pt = build_partable(parse(model))
    within, between_only, both = pt.roles()
    data = prepare_data(demo, within, cluster, between_only, both)
    spec = build_spec(pt, exogenous_values(pt, data)[0])
    obj = Objective(spec, data, pt.meanstructure)
    rng = np.random.default_rng(1)
    theta = start_values(pt, spec, data)
    theta = theta + rng.normal(scale=0.05, size=len(theta))
    ll, g = obj.loglik(theta, gradient=True)
    assert np.isfinite(ll)
    fd = _finite_difference(obj, theta)
    np.testing.assert_allclose(g, fd, rtol=1e-5, atol=1e-4 * np.abs(fd).max())


def test_gradient_is_zero_at_the_estimate(demo):
    res = ms.fit(MODELS["twolevel_cfa"][0], demo, cluster="cluster")
    _, g = res.estimation.objective.loglik(res.estimation.theta, gradient=True)
    assert np.abs(g).max() < 1e-6
