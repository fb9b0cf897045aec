"""Wald z, p and intervals: one rule for the parameter table, MUML and the panel."""

import numpy as np
import pytest
from scipy import stats

import msem_nb as ms
from msem_nb.inference.wald import wald_table
from msem_nb.widget.effects import indirect_effects


def test_zero_standard_error_has_no_z(demo):
    # a defined parameter that does not vary: lavaan gives z = NA, not Inf
    res = ms.fit("y1 ~ a*x1\nd := a - a + 1", demo)
    d = res.estimates.query("op == ':='").iloc[0]
    assert d.est == 1.0 and d.se == 0.0
    assert np.isnan(d.z) and np.isnan(d.pvalue)
    assert d.ci_lower == d.ci_upper == 1.0
    slope = res.estimates.query("label == 'a'").iloc[0]
    assert np.isfinite(slope.z) and slope.z == slope.est / slope.se


def test_wald_table_rules():
    est = np.array([2.0, 1.0, 3.0, 0.5, 4.0])
    se = np.array([1.0, 0.0, np.nan, 0.25, 0.0])
    free = np.array([True, True, True, True, False])
    w = wald_table(est, se, free, ci_level=0.90)
    q = stats.norm.ppf(0.95)
    assert list(w.columns) == ["z", "pvalue", "ci_lower", "ci_upper"]
    assert w.z[0] == 2.0 and w.pvalue[0] == pytest.approx(2 * stats.norm.sf(2.0))
    assert (w.ci_lower[0], w.ci_upper[0]) == (2.0 - q, 2.0 + q)
    # zero SE: no test, a point interval; NaN SE: no test, no interval
    assert np.isnan(w.z[1]) and np.isnan(w.pvalue[1]) and w.ci_lower[1] == w.ci_upper[1] == 1.0
    assert np.isnan(w.z[2]) and np.isnan(w.ci_lower[2]) and np.isnan(w.ci_upper[2])
    assert w.z[3] == 2.0
    # fixed rows: no test even with an SE, the interval is the value
    assert np.isnan(w.z[4]) and np.isnan(w.pvalue[4]) and w.ci_lower[4] == w.ci_upper[4] == 4.0
    assert np.isnan(wald_table(est, se).z[4])  # SE 0: no z even when free
    wide = wald_table([1.0], [0.5], ci_level=0.99)
    assert wide.ci_upper[0] == pytest.approx(1.0 + 0.5 * stats.norm.ppf(0.995))


def test_results_and_effects_use_the_one_table(demo):
    model = "level: within\n  y2 ~ b*y1\n  y1 ~ a*x1\nlevel: between\n  y2 ~ y1\n  y1 ~ w1\n"
    res = ms.fit(model, demo, cluster="cluster", level=0.9)
    est = res.estimates
    w = wald_table(est.est, est.se, est.free, 0.9)
    for col in w.columns:
        np.testing.assert_array_equal(est[col].to_numpy(), w[col].to_numpy())
    eff = indirect_effects(res)
    assert len(eff) == 2
    w = wald_table(eff.est, eff.se, ci_level=0.9)
    for col in w.columns:
        np.testing.assert_array_equal(eff[col].to_numpy(), w[col].to_numpy())
    row = eff[eff.level == "within"].iloc[0]
    assert row.ci_upper - row.est == pytest.approx(stats.norm.ppf(0.95) * row.se)
