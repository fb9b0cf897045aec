"""Wald z, p and intervals: one rule for the parameter table, MUML and the panel."""

import numpy as np

import msem_nb as ms


def test_zero_standard_error_has_no_z(demo):
    # a defined parameter that does not vary: lavaan gives z = NA, not Inf
    res = ms.fit("y1 ~ a*x1\nd := a - a + 1", demo)
    d = res.estimates.query("op == ':='").iloc[0]
    assert d.est == 1.0 and d.se == 0.0
    assert np.isnan(d.z) and np.isnan(d.pvalue)
    assert d.ci_lower == d.ci_upper == 1.0
    slope = res.estimates.query("label == 'a'").iloc[0]
    assert np.isfinite(slope.z) and slope.z == slope.est / slope.se
