"""Answers that do not depend on the units of the variables (issue 12, point 1).

A variable shifted by a constant or multiplied by one is the same data in other
units: the estimates must follow the change exactly (loadings, paths,
(co)variances and intercepts by the powers of the scales; under a shift only
the intercepts move, and the implied means by the shift), the standard errors
likewise, z-values and p-values not at all, and the log-likelihood by the
Jacobian of the change (``-n log c`` for ``n`` observed values of a modelled
variable; nothing for a fixed covariate, which is conditioned on). Each case
is compared with the untransformed fit to 1e-6 relative: covariates and
outcomes, within and between, one and two levels, FIML and MLR. Then the
issue's reproductions, the intercepts under a shift (a nonlinear map: delta
method) and the map of :mod:`msem_nb.estimation.units` itself.
"""

import functools
import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import FIXTURES

import msem_nb as ms
from msem_nb.errors import DataError, DataWarning
from msem_nb.estimation.constraints import linear_constraints
from msem_nb.estimation.units import choose_units
from msem_nb.model.partable import build_partable
from msem_nb.model.spec import build_spec
from msem_nb.syntax import parse

M1 = ("level: within\n fw =~ y1 + y2 + y3\n fw ~ x1 + x2 + x3\n"
      "level: between\n fb =~ y1 + y2 + y3\n fb ~ w1 + w2")
PATHS = "level: within\n math ~ ses\nlevel: between\n math ~ tx\n"
SINGLE_CFA = "f =~ y1 + y2 + y3\nf ~ x1 + x2"

# name: (model, data set, cluster, options, {latent: its marker indicator})
CASES = {
    "single": ("y1 ~ x1 + x2 + y2", "demo", None, {}, {}),
    "single_means": (SINGLE_CFA, "demo", None, {"meanstructure": True}, {"f": "y1"}),
    "single_mlr": (SINGLE_CFA, "demo", None, {"meanstructure": True, "estimator": "MLR"},
                   {"f": "y1"}),
    "twolevel": (M1, "demo", "cluster", {}, {"fw": "y1", "fb": "y1"}),
    "twolevel_paths": (PATHS, "classrooms", "class_id", {}, {}),
    "twolevel_mlr": (M1, "demo", "cluster", {"estimator": "MLR"}, {"fw": "y1", "fb": "y1"}),
    "twolevel_fiml": ("level: within\n y1 ~ x1 + x2\nlevel: between\n y1 ~ w1", "missing",
                      "cluster", {"missing": "fiml"}, {}),
}
# which variables of each case are transformed: outcomes and covariates, within and between
VARIABLES = {
    "single": ["y1", "x1"],
    "single_means": ["y2", "x1"],
    "single_mlr": ["y1", "x2"],
    "twolevel": ["y1", "x1", "w1"],
    "twolevel_paths": ["math", "tx"],
    "twolevel_mlr": ["y2", "w1"],
    "twolevel_fiml": ["y1", "x1", "w1"],
}
CHANGES = [("shift", 1e3), ("shift", 1e6), ("scale", 1e-6), ("scale", 1e6), ("scale", 1e3)]


@functools.lru_cache(maxsize=None)
def _data(name):
    if name == "demo":
        return pd.read_csv(FIXTURES / "Demo.twolevel.csv")
    if name == "missing":
        return pd.read_csv(FIXTURES / "Demo.twolevel.missing.csv")
    df = ms.load_example("classrooms")
    return df.assign(tx=df.teacher_exp)


def _moved(df, var, kind, c):
    return df.assign(**{var: df[var] + c if kind == "shift" else df[var] * c})


@functools.lru_cache(maxsize=None)
def _fit(case, var=None, kind=None, c=None):
    model, data, cluster, opts, _ = CASES[case]
    df = _data(data)
    if var is not None:
        df = _moved(df, var, kind, c)
    return ms.fit(model, df, cluster=cluster, **opts)


def _values(df, var, cluster):
    """Observed values of `var`: rows, or clusters for a between-only variable."""
    if cluster is not None and (df.groupby(cluster)[var].nunique(dropna=True) <= 1).all():
        return int(df.groupby(cluster)[var].first().notna().sum())
    return int(df[var].notna().sum())


def _loglik_change(case, var, c):
    """What the log-likelihood gains when `var` is multiplied by c: -n log c for its n
    observed values, less what the fixed covariates' term loses (every row or cluster)."""
    model, data, cluster, opts, _ = CASES[case]
    base = _fit(case)
    df = _data(data)
    n = _values(df, var, cluster)
    pt = base.partable
    both = pt.roles()[2]
    if var in pt.exogenous and var not in both:
        n -= len(df) if cluster is None or var in pt.roles()[0] else df[cluster].nunique()
    return -n * np.log(c)


def _implied_mean(fit):
    return pd.concat([m for _, m in fit.implied.values()]).groupby(level=0).sum()


@pytest.mark.parametrize("kind, c", CHANGES)
@pytest.mark.parametrize("case, var", [(k, v) for k, vs in VARIABLES.items() for v in vs])
def test_answers_do_not_depend_on_units(case, var, kind, c):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        base, moved = _fit(case), _fit(case, var, kind, c)
    assert base.converged and moved.converged
    a, b = base.estimates, moved.estimates
    assert len(a) == len(b)
    free = a.free.to_numpy() & (a.se.to_numpy() > 0)
    assert free.sum() >= 4 and np.all(b.se.to_numpy()[free] > 0)
    lhs, op, rhs = a.lhs.to_numpy(), a.op.to_numpy(), a.rhs.to_numpy()
    if kind == "scale":
        markers = CASES[case][4]

        def s(v):
            return c if v == var or markers.get(v) == var else 1.0

        factor = np.array([s(r) / s(lh) if o == "=~" else s(lh) / s(r) if o == "~" else
                           s(lh) * s(r) if o == "~~" else s(lh) if o == "~1" else np.nan
                           for lh, o, r in zip(lhs, op, rhs)])
        known = np.isfinite(factor)
        np.testing.assert_allclose(b.est[known], a.est[known] * factor[known], rtol=1e-6,
                                   atol=1e-9 * np.abs(a.est * factor).max())
        np.testing.assert_allclose(b.se[known], a.se[known] * factor[known], rtol=1e-6)
        # the paths touching the variable did change (the test can fail)
        touched = known & free & (factor != 1.0)
        assert touched.any() and not np.allclose(b.est[touched], a.est[touched], rtol=1e-2)
        z_rows = free
        expected_ll = base.loglik + _loglik_change(case, var, c)
    else:
        slopes = op != "~1"
        np.testing.assert_allclose(b.est[slopes], a.est[slopes], rtol=1e-6, atol=1e-12)
        np.testing.assert_allclose(b.se[slopes], a.se[slopes], rtol=1e-6)
        z_rows = free & slopes
        # the intercepts absorb the shift: the implied means (summed over the levels)
        # move by it, nothing else does
        if base.partable.meanstructure:
            mean_a, mean_b = _implied_mean(base), _implied_mean(moved)
            shift = np.where(mean_a.index == var, c, 0.0)
            np.testing.assert_allclose(mean_b.to_numpy(), mean_a.to_numpy() + shift,
                                       rtol=1e-9, atol=1e-6 * mean_a.abs().max())
        expected_ll = base.loglik
    np.testing.assert_allclose(b.z[z_rows], a.z[z_rows], rtol=1e-6)
    np.testing.assert_allclose(b.pvalue[z_rows], a.pvalue[z_rows], rtol=1e-6, atol=1e-15)
    assert moved.loglik == pytest.approx(expected_ll, rel=1e-6 / 10, abs=1e-6)


def test_loglik_is_the_objective_at_the_estimates():
    """The log-likelihood mapped back by the Jacobian is the one evaluated in the data's
    units (FIML: per observed value; fixed covariates conditioned on)."""
    for case in ("twolevel", "twolevel_fiml", "single_means"):
        fit = _fit(case, "y1", "scale", 1e3)
        est = fit.estimation
        assert est.objective.loglik(est.theta) == pytest.approx(est.loglik_joint, rel=1e-12)
        _, g = est.objective.loglik(est.theta, gradient=True)
        # the gradient in the data's units is zero at the estimates (per unit of its SE)
        se = np.sqrt(np.diag(est.vcov))
        assert np.abs(g * se).max() < 1e-6


# ---------------------------------------------------------------------------
# the reproductions
# ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def classrooms():
    return ms.load_example("classrooms")


@pytest.mark.parametrize("shift", [0, 1000, 5000])
def test_between_covariate_shift_gives_the_same_slope(classrooms, shift):
    fit = ms.fit(PATHS, classrooms.assign(tx=classrooms.teacher_exp + shift),
                 cluster="class_id")
    est = fit.estimates.set_index(["lhs", "op", "rhs", "level"])
    assert fit.converged
    assert est.loc[("math", "~", "tx", "between"), "est"] == pytest.approx(0.141086, abs=1e-6)
    assert est.loc[("math", "~", "tx", "between"), "z"] == pytest.approx(4.450856, abs=1e-5)


def test_single_level_covariate_shift_with_means(classrooms):
    base = ms.fit("math ~ tx", classrooms.assign(tx=classrooms.ses), meanstructure=True)
    moved = ms.fit("math ~ tx", classrooms.assign(tx=classrooms.ses + 1e4),
                   meanstructure=True)
    a = base.estimates.set_index(["lhs", "op", "rhs"])
    b = moved.estimates.set_index(["lhs", "op", "rhs"])
    assert moved.converged
    assert b.loc[("math", "~", "tx"), "est"] == pytest.approx(0.186563, abs=1e-6)
    assert b.loc[("math", "~", "tx"), "est"] == pytest.approx(a.loc[("math", "~", "tx"), "est"],
                                                              rel=1e-9)
    # the intercept is the mean of math at tx = 0, 1e4 units away
    slope, icpt = a.loc[("math", "~", "tx"), "est"], a.loc[("math", "~1", ""), "est"]
    assert b.loc[("math", "~1", ""), "est"] == pytest.approx(icpt - 1e4 * slope, rel=1e-9)


def test_tiny_units_are_named_not_called_constant(classrooms):
    with pytest.raises(DataError, match=r"'math' varies on a scale of about 1e-199.*Rescale"):
        ms.fit(PATHS, classrooms.assign(tx=classrooms.teacher_exp,
                                        math=classrooms.math * 1e-200), cluster="class_id")
    with pytest.raises(DataError, match=r"'math' varies on a scale of about 1e201"):
        ms.fit(PATHS, classrooms.assign(tx=classrooms.teacher_exp,
                                        math=classrooms.math * 1e200), cluster="class_id")


def test_huge_shift_keeps_standard_errors_and_says_what_is_lost(classrooms):
    df = classrooms.assign(tx=classrooms.teacher_exp)
    base = ms.fit(PATHS, df, cluster="class_id")
    with pytest.warns(DataWarning, match=r"'math' has values near 1e\+12.*about 4 significant"):
        moved = ms.fit(PATHS, df.assign(math=df.math + 1e12), cluster="class_id")
    assert moved.converged
    free = base.estimates.se > 0
    assert np.all(moved.estimates.se[free] > 0)
    # the data keep about 4 digits of math's variation, and so do the z-values
    np.testing.assert_allclose(moved.estimates.z[free & (base.estimates.op != "~1")],
                               base.estimates.z[free & (base.estimates.op != "~1")], rtol=1e-3)


# ---------------------------------------------------------------------------
# intercepts under a shift: a nonlinear map, by the delta method
# ---------------------------------------------------------------------------

def _row(fit, lhs, op, rhs, level=""):
    e = fit.estimates
    sel = (e.lhs == lhs) & (e.op == op) & (e.rhs == rhs) & (e.level == level)
    assert sel.sum() == 1
    return int(np.flatnonzero(sel.to_numpy())[0])


def _free_index(fit, row):
    return int(fit.partable.table["free"].iloc[row]) - 1


@pytest.mark.parametrize("h", [1e3, 1e6])
def test_between_intercept_under_a_covariate_shift(h):
    """math's between intercept is its mean at tx = 0: nu - b h, with variance
    var(nu) + h^2 var(b) - 2 h cov(nu, b) from the unshifted fit."""
    base, moved = _fit("twolevel_paths"), _fit("twolevel_paths", "tx", "shift", h)
    i = _row(base, "math", "~1", "", "between")
    j = _row(base, "math", "~", "tx", "between")
    ki, kj = _free_index(base, i), _free_index(base, j)
    V = base.estimation.vcov
    nu, b = base.estimation.theta[ki], base.estimation.theta[kj]
    var = V[ki, ki] + h * h * V[kj, kj] - 2 * h * V[ki, kj]
    assert moved.estimates.est[i] == pytest.approx(nu - b * h, rel=1e-6)
    assert moved.estimates.se[i] == pytest.approx(np.sqrt(var), rel=1e-6)


@pytest.mark.parametrize("h", [1e3, 1e6])
def test_indicator_intercepts_under_a_shift_of_the_factors_covariate(h):
    """With f ~ x1 and x1 shifted by h, the factor's mean moves by b h and every
    indicator's intercept by -lambda b h (a product of parameters)."""
    base, moved = _fit("single_means"), _fit("single_means", "x1", "shift", h)
    V = base.estimation.vcov
    theta = base.estimation.theta
    kb = _free_index(base, _row(base, "f", "~", "x1"))
    for y in ("y1", "y2", "y3"):
        i = _row(base, y, "~1", "")
        ki = _free_index(base, i)
        kl = _free_index(base, _row(base, "f", "=~", y))
        lam = 1.0 if kl < 0 else theta[kl]
        g = np.zeros(len(theta))
        g[ki], g[kb] = 1.0, -lam * h
        if kl >= 0:
            g[kl] = -theta[kb] * h
        assert moved.estimates.est[i] == pytest.approx(theta[ki] - lam * theta[kb] * h,
                                                       rel=1e-6)
        assert moved.estimates.se[i] == pytest.approx(np.sqrt(g @ V @ g), rel=1e-6)


# ---------------------------------------------------------------------------
# labels, constraints and start values in other units
# ---------------------------------------------------------------------------

LABELS = ("level: within\n fw =~ y1 + a*y2 + b*y3\n fw ~ x1\n"
          "level: between\n fb =~ y1 + a*y2 + b*y3\n fb ~ w1")
CONSTRAINED = "y1 ~ a*x1 + b*x2\ny2 ~ y1 + x1\na == 2*b + 0.1"


@pytest.mark.parametrize("model, cluster, var, kind, c", [
    (LABELS, "cluster", "y2", "scale", 1e3),      # equal loadings across levels
    (LABELS, "cluster", "y1", "shift", 1e6),
    (LABELS, "cluster", "w1", "shift", 1e6),
    (CONSTRAINED, None, "y2", "scale", 1e-6),     # a linear constraint (not touching y2)
    (CONSTRAINED, None, "y2", "shift", 1e6),
    (CONSTRAINED, None, "x2", "shift", 1e6),
])
def test_labels_and_constraints_keep_working(model, cluster, var, kind, c):
    df = _data("demo")
    base = ms.fit(model, df, cluster=cluster, meanstructure=True)
    moved = ms.fit(model, _moved(df, var, kind, c), cluster=cluster, meanstructure=True)
    assert base.converged and moved.converged
    a, b = base.estimates, moved.estimates
    free = a.se.to_numpy() > 0
    keep = free & (a.op != "~1").to_numpy()
    if kind == "scale":
        keep &= ((a.lhs != var) & (a.rhs != var)).to_numpy()
        keep &= ~a.lhs.isin(["a", "b"]).to_numpy()
    np.testing.assert_allclose(b.z[keep], a.z[keep], rtol=1e-6)
    np.testing.assert_allclose(b.est[keep], a.est[keep], rtol=1e-6)
    touches = free & ((a.lhs == var) | (a.rhs == var)).to_numpy() & (a.op != "~1").to_numpy()
    np.testing.assert_allclose(b.z[touches], a.z[touches], rtol=1e-6)
    if "==" in model:
        th = moved.estimation.theta
        env = dict(zip(moved.estimates.label, moved.estimates.est))
        assert env["a"] == pytest.approx(2 * env["b"] + 0.1, abs=1e-12)
        assert len(th) == moved.estimation.spec.npar


def test_start_values_written_in_the_model_are_in_the_data_units():
    df = _data("demo")
    model = "y1 ~ start(0.4)*x1 + x2\ny1 ~~ start(2)*y1"
    base = ms.fit(model, df)
    moved = ms.fit(model, df.assign(y1=df.y1 * 1e6))
    assert moved.converged
    np.testing.assert_allclose(moved.estimates.z[base.estimates.se > 0],
                               base.estimates.z[base.estimates.se > 0], rtol=1e-6)


# ---------------------------------------------------------------------------
# the map itself
# ---------------------------------------------------------------------------

def _units(model, df, cluster, meanstructure=None):
    pt = build_partable(parse(model), meanstructure=meanstructure)
    spec0 = build_spec(pt)
    data, _ = ms.estimation.pipeline.prepare(pt, df, cluster, ms.estimation.options.FitOptions(
        meanstructure=meanstructure))
    return pt, spec0, data, choose_units(pt, spec0, data, linear_constraints(pt, pt.npar))


@pytest.mark.parametrize("model, cluster, ms_", [(M1, "cluster", None),
                                                 (SINGLE_CFA, None, True),
                                                 (LABELS, "cluster", None)])
def test_map_inverse_and_jacobian(model, cluster, ms_):
    df = _data("demo").assign(x1=lambda d: d.x1 + 50, w1=lambda d: d.w1 * 30 - 7)
    pt, spec0, data, units = _units(model, df, cluster, ms_)
    assert units.located
    spec_t = units.transform_spec(spec0, {})
    xi = np.random.default_rng(0).normal(size=pt.npar)
    theta = units.to_theta(spec_t, xi)
    np.testing.assert_allclose(units.to_xi(spec_t, theta), xi, rtol=1e-12, atol=1e-12)
    J = units.jacobian(spec_t, xi)
    h = 1e-6
    num = np.column_stack([(units.to_theta(spec_t, xi + h * e) - units.to_theta(spec_t, xi - h * e))
                           / (2 * h) for e in np.eye(len(xi))])
    np.testing.assert_allclose(J, num, rtol=1e-6, atol=1e-6 * np.abs(J).max())
    # the intercepts do depend on paths (the map is not diagonal)
    assert np.count_nonzero(J - np.diag(np.diag(J))) > 0


def test_scales_are_powers_of_two_and_locations_the_means():
    df = _data("demo").assign(y2=lambda d: d.y2 * 1000 + 5)
    pt, spec0, data, units = _units(M1, df, "cluster")
    assert np.all(np.log2(units.scale) == np.round(np.log2(units.scale)))
    j = data.names.index("y2")
    assert 512 <= units.scale[j] / df.y2.std() * 1000 <= 2048 * 1000
    assert units.loc[j] == pytest.approx(df.y2.mean(), rel=1e-12)


def test_intercepts_shared_by_a_label_leave_the_data_unshifted():
    model = "y1 ~ x1\ny2 ~ x1\ny1 ~ i*1\ny2 ~ i*1"
    pt, spec0, data, units = _units(model, _data("demo"), None, True)
    assert not units.located and np.all(units.loc == 0)
    # the fit still works, in the same units as before
    fit = ms.fit(model, _data("demo"))
    assert fit.converged


@pytest.mark.parametrize("model, data, opts", [
    ("level: within\n y1 ~ y2 + x1\nlevel: between\n y1 ~ y2 + w1", "demo", {}),
    ("level: within\n y1 ~ x1 + x2\nlevel: between\n y1 ~ w1", "missing", {"missing": "fiml"}),
])
def test_refits_on_the_same_data_reuse_the_scaled_data(model, data, opts):
    # the scaled data (and the covariates' saturated model cached with them) are kept
    # with the prepared data, as the fit measures' saturated model is: a refit in the
    # same units does not fit it again; other data get their own
    pt = build_partable(parse(model))
    options = ms.estimation.options.FitOptions(**opts)
    prepared, _ = ms.estimation.pipeline.prepare(pt, _data(data), "cluster", options)
    first = ms.estimation.pipeline.fit_prepared(pt, prepared, options)
    again = ms.estimation.pipeline.fit_prepared(pt, prepared, options)
    assert first.internal is not None and again.internal is not None
    assert again.internal.objective.data is first.internal.objective.data
    assert again.h1 is not None and again.loglik == first.loglik
    other, _ = ms.estimation.pipeline.prepare(pt, _data(data), "cluster", options)
    fresh = ms.estimation.pipeline.fit_prepared(pt, other, options)
    assert fresh.internal is not None
    assert fresh.internal.objective.data is not first.internal.objective.data
    np.testing.assert_allclose(fresh.theta, first.theta, rtol=1e-10)
