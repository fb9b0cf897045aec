"""Every log-likelihood the estimation can be handed satisfies the LogLikelihood seam.

``LogLikelihood`` is ``runtime_checkable``: an object is an instance when it has
``spec``, ``data``, ``loglik`` and ``moments``. The shapes behind the seam are
checked too: the value without and with the gradient agree, and the data-level
moments have one shape per number of levels (None for random slopes).
"""

import numpy as np
import pytest

import msem_nb as ms
from msem_nb.likelihood.muml import MumlObjective
from msem_nb.likelihood.objective import Objective, assemble
from msem_nb.likelihood.protocol import LogLikelihood
from msem_nb.likelihood.slopes import SlopeObjective
from msem_nb.likelihood.threelevel_objective import ThreeLevelObjective
from msem_nb.model.implied import model_moments

SINGLE = "f =~ x1 + x2 + x3"
TWO_LEVEL = ("level: within\n fw =~ y1 + y2 + y3\n"
             "level: between\n fb =~ y1 + y2 + y3")
SLOPES = "level: within\n s1 | y1 ~ x1\nlevel: between\n y1 ~ w1"
THREE_LEVEL = ("level: 1\n fw =~ y1 + y2 + y3\nlevel: 2\n fc =~ y1 + y2 + y3\n"
               "level: 3\n fs =~ y1 + y2 + y3")


def _objective(kind, demo, hs):
    if kind == "single":
        res = ms.fit(SINGLE, hs)
    elif kind == "two-level":
        res = ms.fit(TWO_LEVEL, demo, cluster="cluster")
    elif kind == "fiml":
        incomplete = demo.copy()
        incomplete.loc[:20, "y1"] = np.nan
        res = ms.fit(TWO_LEVEL, incomplete, cluster="cluster", missing="fiml")
    elif kind == "slopes":
        res = ms.fit(SLOPES, demo, cluster="cluster")
    elif kind == "three-level":
        population = THREE_LEVEL.replace("=~ y1", "=~ 1*y1") + (
            "\n fs ~~ 2*fs\n y1 ~~ 0.2*y1\n y2 ~~ 0.2*y2\n y3 ~~ 0.2*y3")
        nested = ms.simulate(population, 40, (5, 5), seed=1)
        res = ms.fit(THREE_LEVEL, nested, cluster=["class", "school"])
    else:
        res = ms.fit(TWO_LEVEL, demo, cluster="cluster", estimator="MUML")
    return res.estimation.objective, res.estimation.theta


KINDS = {"single": Objective, "two-level": Objective, "fiml": Objective,
         "slopes": SlopeObjective, "muml": MumlObjective, "three-level": ThreeLevelObjective}


@pytest.mark.parametrize("kind", list(KINDS))
def test_objectives_are_log_likelihoods(kind, demo, hs):
    obj, theta = _objective(kind, demo, hs)
    assert type(obj) is KINDS[kind]
    assert isinstance(obj, LogLikelihood)
    ll = obj.loglik(theta)
    ll2, g = obj.loglik(theta, gradient=True)
    assert np.isfinite(ll) and ll2 == ll
    assert g.shape == theta.shape and np.all(np.isfinite(g))
    bm, mom = obj.moments(theta)
    assert len(bm) == len(obj.spec.blocks)
    if kind == "slopes":
        assert mom is None
    elif kind == "three-level":
        # the three-level moments come from level_moments (a 4-tuple)
        assert mom is None
        mu, sigma_w, sigma_2, sigma_3 = obj.level_moments(theta)[1]
        p = len(obj.data.names)
        assert sigma_w.shape == (3, 3) and sigma_2.shape == sigma_3.shape == (p, p)
    elif kind == "single":
        mu, sigma = mom
        assert sigma.shape == (3, 3)
    else:
        mu, sigma_w, sigma_b = mom
        p = len(obj.data.names)
        assert mu.shape == (p,) and sigma_b.shape == (p, p)


def test_an_object_without_moments_is_not_a_log_likelihood(demo, hs):
    obj, _ = _objective("single", demo, hs)

    class ValueOnly:
        spec, data = obj.spec, obj.data

        def loglik(self, theta, gradient=False):
            return obj.loglik(theta, gradient)

    assert not isinstance(ValueOnly(), LogLikelihood)


def test_assemble_matches_the_objectives_moments(demo, hs):
    for kind in ("single", "two-level"):
        obj, theta = _objective(kind, demo, hs)
        bm = model_moments(obj.spec, theta)
        positions = obj.positions if len(bm) > 1 else None
        got = assemble(bm, obj.data, positions, obj.meanstructure)
        want = obj.moments(theta)[1]
        assert len(got) == len(want)
        for a, b in zip(got, want):
            np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="positions"):
        assemble(bm, obj.data, None, True)
