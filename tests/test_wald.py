"""Wald z, p and intervals: one rule for the parameter table, MUML and the panel."""

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import msem_nb as ms
from msem_nb.inference import intervals as iv
from msem_nb.inference.wald import wald_table
from msem_nb.teaching.muml import fit_muml
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
    res = ms.fit(model, demo, cluster="cluster", ci_level=0.9)
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


# -- ci_level, and level as its deprecated name -----------------------------------------------

MODEL = "y1 ~ a*x1\ny2 ~ b*y1\nab := a*b"


def test_ci_level_new_spelling(demo):
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)   # the new spelling never warns
        res = ms.fit(MODEL, demo, ci_level=0.8)
        assert res.ci_level == 0.8
        row = res.estimates.query("label == 'a'").iloc[0]
        assert row.ci_upper - row.est == pytest.approx(stats.norm.ppf(0.9) * row.se)
        mc = res.monte_carlo(500, seed=1)
        assert mc.ci_level == 0.8 and "80% intervals" in mc.summary()
        assert res.monte_carlo(500, seed=1, ci_level=0.5).ci_level == 0.5
        assert "(80%)" in res.report().to_markdown()
        assert ms.fit(MODEL, demo).ci_level == 0.95


def test_level_still_works_with_a_future_warning(demo):
    with pytest.warns(FutureWarning, match="use 'ci_level'"):
        old = ms.fit(MODEL, demo, level=0.8)
    new = ms.fit(MODEL, demo, ci_level=0.8)
    pd.testing.assert_frame_equal(old.estimates, new.estimates)
    with pytest.warns(FutureWarning, match="ci_level"):
        assert old.level == 0.8
    with pytest.warns(FutureWarning):
        mc = new.monte_carlo(500, seed=1, level=0.5)
    assert mc.ci_level == 0.5
    with pytest.warns(FutureWarning):
        assert mc.level == 0.5
    with pytest.warns(FutureWarning):
        boot = new.bootstrap(4, ci="percentile", seed=1, n_jobs=1, level=0.5)
    assert boot.ci_level == 0.5
    with pytest.warns(FutureWarning):
        assert iv.percentile_interval(np.arange(101.0), level=0.5) == (25.0, 75.0)
    assert iv.percentile_interval(np.arange(101.0), 0.5) == (25.0, 75.0)
    with pytest.raises(TypeError, match="once"):
        ms.fit(MODEL, demo, ci_level=0.9, level=0.8)
    with pytest.raises(ValueError, match="between 0 and 1"):
        ms.fit(MODEL, demo, ci_level=95)


def test_level_alias_in_muml_and_compare_approaches():
    df = ms.load_example("classrooms")
    model = "level: within\n math ~ ses\nlevel: between\n math ~ ses"
    new = fit_muml(model, df, "class_id", ci_level=0.8)
    with pytest.warns(FutureWarning):
        old = fit_muml(model, df, "class_id", level=0.8)
    pd.testing.assert_frame_equal(old.estimates, new.estimates)
    assert not new.estimates.equals(fit_muml(model, df, "class_id").estimates)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("error", FutureWarning)
        cmp = ms.compare_approaches(df, "class_id", y="math", x="ses", ci_level=0.8)
    assert cmp.ci_level == 0.8 and "80% CI" in cmp._repr_html_()
    with pytest.warns(FutureWarning):
        assert cmp.level == 0.8
    with pytest.warns(FutureWarning), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        old_cmp = ms.compare_approaches(df, "class_id", y="math", x="ses", level=0.8)
    pd.testing.assert_frame_equal(old_cmp.table, cmp.table)
