"""The data-level moments behind the likelihood seam."""

import numpy as np
import pytest

import msem_nb as ms
from msem_nb.likelihood.objective import assemble
from msem_nb.model.implied import model_moments

SINGLE = "f =~ x1 + x2 + x3"
TWO_LEVEL = ("level: within\n fw =~ y1 + y2 + y3\n"
             "level: between\n fb =~ y1 + y2 + y3")


def test_assemble_matches_the_objectives_moments(demo, hs):
    for model, data, cluster in ((SINGLE, hs, None), (TWO_LEVEL, demo, "cluster")):
        res = ms.fit(model, data, cluster=cluster)
        obj, theta = res.estimation.objective, res.estimation.theta
        bm = model_moments(obj.spec, theta)
        positions = obj.positions if len(bm) > 1 else None
        got = assemble(bm, obj.data, positions, obj.meanstructure)
        want = obj.moments(theta)[1]
        assert len(got) == len(want)
        for a, b in zip(got, want):
            np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="positions"):
        assemble(bm, obj.data, None, True)
