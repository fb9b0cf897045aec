"""Three-level answers that do not depend on the units of the variables (issues 12 and 17).

Three-level fits go through the units map of :mod:`msem_nb.estimation.units` as one-
and two-level ones do (``ThreeLevelData.affine``). As in tests/test_units.py, a
variable shifted by a constant or multiplied by one is the same data in other units:
estimates and standard errors follow by the powers of the scales (under a shift only
the intercepts move, and the implied means summed over the three levels by the shift),
z-values, p-values and the chi-square not at all, and the log-likelihood by ``-n log c``
for the ``n`` values of the variable (rows, classes or schools; nothing for a fixed
covariate, which is conditioned on). Compared with the untransformed fit to 1e-6
relative, on the lme4 and OpenMx reference data of tests/test_threelevel.py.
"""

import functools
import json

import numpy as np
import pandas as pd
import pytest
from conftest import FIXTURES

import msem_nb as ms
from msem_nb.data.threelevel import threelevel_data
from msem_nb.errors import DataError, DataWarning
from msem_nb.estimation.saturated_threelevel import fit_saturated_threelevel

REF = FIXTURES / "threelevel"

# name: (reference, options, {latent: its marker indicator})
CASES = {
    "univariate": ("T1_univariate", {}, {}),
    "cfa": ("T2_cfa", {}, {"fw": "y1", "fc": "y1", "fs": "y1"}),
    "sem": ("T3_sem", {}, {"fw": "y1", "fc": "y1", "fs": "y1"}),
    "sem_mlr": ("T3_sem", {"estimator": "MLR"}, {"fw": "y1", "fc": "y1", "fs": "y1"}),
}
# outcomes and covariates with parts at level 1, at level 2 only and at level 3 only
VARIABLES = {
    "univariate": ["y", "x1", "x2", "x3"],
    "cfa": ["y1", "y3"],
    "sem": ["y1", "y2", "x", "w", "z"],
    "sem_mlr": ["y2", "w", "z"],
}
CHANGES = [("shift", 1e3), ("shift", 1e6), ("scale", 1e-6), ("scale", 1e6), ("scale", 1e3)]


@functools.lru_cache(maxsize=None)
def _ref(name):
    ref = json.loads((REF / f"{name}.json").read_text())
    return ref, pd.read_csv(REF / ref["data_file"])


@functools.lru_cache(maxsize=None)
def _fit(case, var=None, kind=None, c=None):
    name, opts, _ = CASES[case]
    ref, df = _ref(name)
    if var is not None:
        df = df.assign(**{var: df[var] + c if kind == "shift" else df[var] * c})
    return ms.fit(ref["model_syntax"], df, cluster=ref["cluster"], **opts)


def _values(df, var):
    """Values of `var`: rows, or classes or schools where it is constant in them."""
    for col in ("school", "class"):
        if (df.groupby(col)[var].nunique() <= 1).all():
            return df[col].nunique()
    return len(df)


def _implied_mean(fit):
    return pd.concat([m for _, m in fit.implied.values()]).groupby(level=0).sum()


@pytest.mark.parametrize("kind, c", CHANGES)
@pytest.mark.parametrize("case, var", [(k, v) for k, vs in VARIABLES.items() for v in vs])
def test_three_level_answers_do_not_depend_on_units(case, var, kind, c):
    base, moved = _fit(case), _fit(case, var, kind, c)
    assert base.converged and moved.converged
    a, b = base.estimates, moved.estimates
    assert len(a) == len(b)
    free = a.free.to_numpy() & (a.se.to_numpy() > 0)
    assert free.sum() >= 4 and np.all(b.se.to_numpy()[free] > 0)
    lhs, op, rhs = a.lhs.to_numpy(), a.op.to_numpy(), a.rhs.to_numpy()
    exo = var in base.partable.exogenous
    if kind == "scale":
        markers = CASES[case][2]

        def s(v):
            return c if v == var or markers.get(v) == var else 1.0

        factor = np.array([s(r) / s(lh) if o == "=~" else s(lh) / s(r) if o == "~" else
                           s(lh) * s(r) if o == "~~" else s(lh) if o == "~1" else np.nan
                           for lh, o, r in zip(lhs, op, rhs)])
        known = np.isfinite(factor)
        np.testing.assert_allclose(b.est[known], a.est[known] * factor[known], rtol=1e-6,
                                   atol=1e-9 * np.abs(a.est * factor).max())
        np.testing.assert_allclose(b.se[known], a.se[known] * factor[known], rtol=1e-6)
        # the parameters touching the variable did change (the test can fail)
        touched = known & free & (factor != 1.0)
        assert touched.any() and not np.allclose(b.est[touched], a.est[touched], rtol=1e-2)
        z_rows = free
        # every covariate here has parts at one level: its own term is conditioned on
        n = 0 if exo else _values(_ref(CASES[case][0])[1], var)
        expected_ll = base.loglik - n * np.log(c)
    else:
        slopes = op != "~1"
        np.testing.assert_allclose(b.est[slopes], a.est[slopes], rtol=1e-6, atol=1e-12)
        np.testing.assert_allclose(b.se[slopes], a.se[slopes], rtol=1e-6)
        z_rows = free & slopes
        mean_a, mean_b = _implied_mean(base), _implied_mean(moved)
        shift = np.where(mean_a.index == var, c, 0.0)
        np.testing.assert_allclose(mean_b.to_numpy(), mean_a.to_numpy() + shift,
                                   rtol=1e-9, atol=1e-6 * mean_a.abs().max())
        expected_ll = base.loglik
    np.testing.assert_allclose(b.z[z_rows], a.z[z_rows], rtol=1e-6)
    np.testing.assert_allclose(b.pvalue[z_rows], a.pvalue[z_rows], rtol=1e-6, atol=1e-15)
    assert moved.loglik == pytest.approx(expected_ll, rel=1e-7, abs=1e-6)
    fa, fb = base.fit_measures, moved.fit_measures
    assert fb["chisq"] == pytest.approx(fa["chisq"], rel=1e-6, abs=1e-6)
    if "chisq_scaled" in fa:
        assert fb["chisq_scaled"] == pytest.approx(fa["chisq_scaled"], rel=1e-6)


def test_three_level_loglik_is_the_objective_at_the_estimates():
    """Mapped back, the log-likelihood, the covariates' fixed moments and the gradient
    are those of the model in the data's units."""
    for case, var in (("sem", "y1"), ("sem", "w"), ("univariate", "x3")):
        fit = _fit(case, var, "scale", 1e3)
        est = fit.estimation
        assert est.internal is not None
        ll, g = est.objective.loglik(est.theta, gradient=True)
        assert ll == pytest.approx(est.loglik_joint, rel=1e-12)
        se = np.sqrt(np.diag(est.vcov))
        assert np.abs(g * se).max() < 1e-6


def test_a_large_shift_of_a_school_variable_keeps_the_lme4_answer():
    """The issue's failure mode at three levels: a school-level covariate near 1e6
    (a year, an income) against the same covariate centred."""
    base = _fit("univariate")
    moved = _fit("univariate", "x3", "shift", 1e6)
    a = base.estimates.set_index(["lhs", "op", "rhs", "level"])
    b = moved.estimates.set_index(["lhs", "op", "rhs", "level"])
    row = ("y", "~", "x3", "3")
    assert b.loc[row, "est"] == pytest.approx(a.loc[row, "est"], rel=1e-9)
    assert b.loc[row, "z"] == pytest.approx(a.loc[row, "z"], rel=1e-7)
    icpt = ("y", "~1", "", "3")
    assert b.loc[icpt, "est"] == pytest.approx(a.loc[icpt, "est"] - 1e6 * a.loc[row, "est"],
                                               rel=1e-9)


@pytest.mark.parametrize("c", [1e-6, 1e3, 1e6])
def test_saturated_model_follows_the_units(c):
    """The saturated model (the chi-square's reference, the decomposition) of a variable
    in other units is the same model in those units: fitted on centred and scaled data
    and mapped back. In the data's own units BFGS stopped far short (chi-square 475
    instead of 2.65 for the CFA with y1 in units 1000 times smaller)."""
    _, df = _ref("T2_cfa")
    ys = ["y1", "y2", "y3", "y4"]
    a = fit_saturated_threelevel(threelevel_data(df, [ys] * 3, ["class", "school"]))
    b = fit_saturated_threelevel(threelevel_data(df.assign(y2=df.y2 * c), [ys] * 3,
                                                 ["class", "school"]))
    assert a.converged and b.converged
    d = np.array([1.0, c, 1.0, 1.0])
    np.testing.assert_allclose(b.mu, a.mu * d, rtol=1e-7, atol=1e-9 * c)
    for level in (1, 2, 3):
        A, B = a.level_cov(level), b.level_cov(level)
        np.testing.assert_allclose(B, A * np.outer(d, d), rtol=1e-6,
                                   atol=1e-7 * np.abs(A * np.outer(d, d)).max())
    assert b.loglik == pytest.approx(a.loglik - len(df) * np.log(c), rel=1e-10, abs=1e-6)


def test_tiny_units_are_named_at_three_levels():
    """As for two levels (tests/test_units.py): a scale double precision cannot square
    twice is refused with the variable and the fix, not called constant."""
    ref, df = _ref("T3_sem")
    with pytest.raises(DataError, match=r"'w' varies on a scale of about 1e-200.*Rescale"):
        ms.fit(ref["model_syntax"], df.assign(w=df.w * 1e-200), cluster=ref["cluster"])
    with pytest.raises(DataError, match=r"'y1' varies on a scale of about 1e201"):
        ms.fit(ref["model_syntax"], df.assign(y1=df.y1 * 1e200), cluster=ref["cluster"])


def test_huge_shift_at_three_levels_says_what_is_lost():
    ref, df = _ref("T3_sem")
    base = _fit("sem")
    with pytest.warns(DataWarning, match=r"'y2' has values near 1e\+12.*about 4 significant"):
        moved = ms.fit(ref["model_syntax"], df.assign(y2=df.y2 + 1e12), cluster=ref["cluster"])
    assert moved.converged
    free = (base.estimates.se > 0) & (base.estimates.op != "~1")
    # the data keep about 4 digits of y2's variation, and so do the z-values
    np.testing.assert_allclose(moved.estimates.z[free], base.estimates.z[free], rtol=1e-3)
