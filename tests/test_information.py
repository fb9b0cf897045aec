"""Analytic information matrices (msem_nb.estimation.information).

Every piece is checked against finite differences: the moment Jacobian against
differences of the implied moments, the moment part of the observed
information against differences of the moment scores with the Jacobian held
fixed, the second-derivative-of-moments part against differences of the
Jacobian with the scores held fixed, the whole observed information against
central differences of the analytic gradient, and the expected information
against the Hessian at data whose moments equal the implied ones. Then the
standard errors: lavaan's two-level expected-information SEs, and z-values
that do not move when a variable is multiplied by 1000 or 1/1000.
"""

import dataclasses
import functools

import numpy as np
import pandas as pd
import pytest
from conftest import FIXTURES, estimate_row, load_reference

import msem_nb as ms
from msem_nb.data.complete import ClusterData, SingleData
from msem_nb.estimation.information import (
    analytic_available,
    expected_information,
    moment_curvature,
    moment_information,
    observed_information,
)
from msem_nb.estimation.moment_terms import moment_jacobian
from msem_nb.estimation.optimize import maximize, numeric_hessian
from msem_nb.likelihood.complete import loglik_single, loglik_twolevel
from msem_nb.likelihood.objective import Objective

HS_CFA = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9"
M1 = ("level: within\n fw =~ y1 + y2 + y3\n fw ~ x1 + x2 + x3\n"
      "level: between\n fb =~ y1 + y2 + y3\n fb ~ w1 + w2")

# name: (model, data set, cluster, options)
MODELS = {
    "cfa": (HS_CFA, "hs", None, {}),
    "cfa_means": (HS_CFA, "hs", None, {"meanstructure": True}),
    # equal loadings by label, a regression between latent variables (products
    # of parameters in the moments) and an intercept
    "sem_labels": ("visual =~ x1 + a*x2 + a*x3\ntextual =~ x4 + x5 + x6\n"
                   "textual ~ visual + x7\nx4 ~~ x1", "hs", None, {"meanstructure": True}),
    "twolevel_cfa": (M1, "demo", "cluster", {}),
    # between-only covariates, paths at both levels
    "twolevel_paths": ("level: within\n y1 ~ x1 + x2\n y2 ~ y1 + x1\n"
                       "level: between\n y1 ~ w1 + w2\n y2 ~ y1 + w1", "demo", "cluster", {}),
    # loadings equal across levels by label
    "twolevel_labels": ("level: within\n fw =~ y1 + a*y2 + b*y3\n"
                        "level: between\n fb =~ y1 + a*y2 + b*y3", "demo", "cluster", {}),
}


@functools.lru_cache(maxsize=None)
def _read(data):
    return pd.read_csv(FIXTURES / ("HolzingerSwineford1939.csv" if data == "hs"
                                   else "Demo.twolevel.csv"))


@functools.lru_cache(maxsize=None)
def _fitted(name):
    model, data, cluster, opts = MODELS[name]
    df = _read(data)
    return ms.fit(model, df, cluster=cluster, **opts)


def _objective_and_point(name, seed=0):
    """The model's objective and a point near (not at) the estimate."""
    est = _fitted(name).estimation
    theta = est.theta + np.random.default_rng(seed).normal(scale=0.02, size=len(est.theta))
    return est.objective, theta


def _scores(obj, theta):
    """dl/dm in the coordinates of moment_jacobian (G[a, b] for a >= b)."""
    _, mom = obj.moments(theta)
    if isinstance(obj.data, ClusterData):
        _, (g_mu, G_w, G_b) = loglik_twolevel(obj.data, *mom)
        pos = obj.between_pos
        G_bb = G_b[np.ix_(pos, pos)]
        return np.concatenate([g_mu, G_w[np.tril_indices(len(G_w))],
                               G_bb[np.tril_indices(len(G_bb))]])
    mu, sigma = mom
    _, (g_mu, G) = loglik_single(obj.data, mu, sigma)
    parts = ([g_mu] if mu is not None else []) + [G[np.tril_indices(len(G))]]
    return np.concatenate(parts)


def _moment_vector(obj, theta):
    """The moments in the coordinates of moment_jacobian: off-diagonal
    covariance entries counted twice (S_ab + S_ba)."""
    def vech2(S):
        r, c = np.tril_indices(len(S))
        return np.where(r == c, 1.0, 2.0) * S[r, c]
    _, mom = obj.moments(theta)
    if isinstance(obj.data, ClusterData):
        mu, sw, sb = mom
        pos = obj.between_pos
        return np.concatenate([mu, vech2(sw), vech2(sb[np.ix_(pos, pos)])])
    mu, sigma = mom
    return np.concatenate(([mu] if mu is not None else []) + [vech2(sigma)])


def _jacobian_fd(fun, theta, h=1e-6):
    cols = []
    for j in range(len(theta)):
        e = np.zeros_like(theta)
        e[j] = h * max(1.0, abs(theta[j]))
        cols.append((fun(theta + e) - fun(theta - e)) / (2 * e[j]))
    return np.column_stack(cols)


def _close(a, b, rel=1e-6):
    np.testing.assert_allclose(a, b, rtol=rel, atol=rel * np.abs(b).max())


# ---------------------------------------------------------------------------
# the pieces against finite differences
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(MODELS))
def test_analytic_information_applies(name):
    obj, _ = _objective_and_point(name)
    assert analytic_available(obj)


@pytest.mark.parametrize("name", list(MODELS))
def test_moment_jacobian_matches_finite_differences(name):
    obj, theta = _objective_and_point(name)
    J = moment_jacobian(obj, theta)
    _close(J, _jacobian_fd(lambda t: _moment_vector(obj, t), theta))
    # and it carries the gradient: dl/dtheta = scores @ J
    _, g = obj.loglik(theta, gradient=True)
    _close(_scores(obj, theta) @ J, g, rel=1e-10)


@pytest.mark.parametrize("name", list(MODELS))
def test_moment_part_matches_finite_differences(name):
    """Delta' (-d2l/dm dm') Delta: differences of the scores, Delta held fixed."""
    obj, theta = _objective_and_point(name)
    J0 = moment_jacobian(obj, theta)
    fd = -_jacobian_fd(lambda t: J0.T @ _scores(obj, t), theta)
    _close(moment_information(obj, theta, "observed"), 0.5 * (fd + fd.T))


@pytest.mark.parametrize("name", list(MODELS))
def test_second_derivative_of_moments_matches_finite_differences(name):
    """sum_k g_k d2m_k: differences of Delta, the scores held fixed."""
    obj, theta = _objective_and_point(name)
    s0 = _scores(obj, theta)
    fd = _jacobian_fd(lambda t: moment_jacobian(obj, t).T @ s0, theta)
    curv = moment_curvature(obj, theta)
    _close(curv, 0.5 * (fd + fd.T))
    # off the estimate the term matters (the models have products of parameters)
    assert np.abs(curv).max() > 1e-3 * np.abs(moment_information(obj, theta)).max()


@pytest.mark.parametrize("name", list(MODELS))
def test_observed_information_matches_differenced_hessian(name):
    obj, theta = _objective_and_point(name)
    fd = -numeric_hessian(lambda t: obj.loglik(t, gradient=True)[1], theta, rel_step=1e-5)
    _close(observed_information(obj, theta), fd)


def _pseudo_objective(obj, theta):
    """The objective on data whose sufficient statistics equal their expectations
    under the model at theta: the gradient vanishes there and the Hessian is
    minus the expected information (the likelihood is linear in the statistics)."""
    _, mom = obj.moments(theta)
    d = obj.data
    if isinstance(d, ClusterData):
        mu, sw, sb = mom
        g, pw = d.groups, d.p_within
        omega = np.repeat(sb[None], len(g.n), axis=0)
        omega[:, :pw, :pw] += sw / g.n[:, None, None]
        # W + c d d' has expectation c Omega; with d = 0 all of it sits in W
        groups = dataclasses.replace(g, mean=np.repeat(mu[None], len(g.n), axis=0),
                                     sscp=g.count[:, None, None] * omega)
        pseudo = dataclasses.replace(d, within_sscp=(d.nobs - d.nclusters) * sw,
                                     groups=groups)
    else:
        mu, sigma = mom
        pseudo = SingleData(d.names, d.nobs, d.mean if mu is None else mu, sigma)
    return Objective(obj.spec, pseudo, obj.meanstructure)


@pytest.mark.parametrize("name", list(MODELS))
def test_expected_information_matches_hessian_at_expected_data(name):
    obj, theta = _objective_and_point(name)
    pobj = _pseudo_objective(obj, theta)
    _, g = pobj.loglik(theta, gradient=True)
    assert np.abs(g).max() < 1e-8 * obj.data.nobs
    fd = -numeric_hessian(lambda t: pobj.loglik(t, gradient=True)[1], theta, rel_step=1e-5)
    info = expected_information(obj, theta)
    _close(info, fd)
    # the analytic observed information at such data is the expected one
    _close(observed_information(pobj, theta), info, rel=1e-9)
    assert np.linalg.eigvalsh(info).min() > 0


def test_observed_and_expected_information_differ_off_the_model():
    obj, theta = _objective_and_point("twolevel_cfa")
    obs, exp = observed_information(obj, theta), expected_information(obj, theta)
    assert np.abs(obs - exp).max() > 1e-2 * np.abs(exp).max()


def test_not_positive_definite_gives_none():
    obj, theta = _objective_and_point("cfa")
    bad = theta.copy()
    # a residual variance far below zero makes the implied covariance indefinite
    k = obj.spec.blocks[0].S_free[2][0]
    bad[k] = -100.0
    assert observed_information(obj, bad) is None
    assert expected_information(obj, bad) is None


def test_fiml_and_random_slopes_keep_the_differenced_hessian(demo):
    miss = pd.read_csv(FIXTURES / "Demo.twolevel.missing.csv")
    fiml = ms.fit(M1, miss, cluster="cluster", missing="fiml")
    assert not analytic_available(fiml.estimation.objective)
    slopes = ms.fit("level: within\n s | y1 ~ x1\nlevel: between\n y1 ~ w1\n s ~ w1",
                    demo, cluster="cluster")
    assert not analytic_available(slopes.estimation.objective)


# ---------------------------------------------------------------------------
# standard errors
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("name, information", [
    ("cfa", "expected"), ("cfa_means", "observed"), ("twolevel_cfa", "observed"),
    ("twolevel_paths", "expected"), ("twolevel_labels", "observed")])
def test_standard_errors_come_from_the_analytic_information(name, information):
    model, data, cluster, opts = MODELS[name]
    df = _read(data)
    est = ms.fit(model, df, cluster=cluster, information=information, **opts).estimation
    f = observed_information if information == "observed" else expected_information
    info = f(est.objective, est.theta)
    np.testing.assert_allclose(est.vcov, np.linalg.inv(info), rtol=1e-8,
                               atol=1e-10 * np.abs(est.vcov).max())
    # the Hessian the optimiser returns is the analytic one at the estimate
    np.testing.assert_allclose(-est.hessian, observed_information(est.objective, est.theta),
                               rtol=1e-10, atol=1e-10 * np.abs(est.hessian).max())


def test_twolevel_expected_information_agrees_with_lavaan(demo):
    """E8: M1 with information = "expected" (lavaan 0.6-14)."""
    ref = load_reference("E8_twolevel_expected")
    res = ms.fit(ref["model_syntax"], demo, cluster="cluster", information="expected")
    assert res.loglik == pytest.approx(ref["logl"], abs=1e-3)
    observed = ms.fit(ref["model_syntax"], demo, cluster="cluster")
    differs = 0
    for row in ref["parameter_table"]:
        m = estimate_row(res, row)
        assert abs(m["est"] - row["est"]) <= max(1e-3 * abs(row["est"]), 2e-3 * row["se"], 1e-9)
        if row["se"]:
            assert m["se"] == pytest.approx(row["se"], rel=1e-3), row
            differs += abs(m["se"] / estimate_row(observed, row)["se"] - 1) > 1e-3
    assert differs > 5          # expected and observed SEs are not the same here


# ---------------------------------------------------------------------------
# units: z-values do not depend on them
# ---------------------------------------------------------------------------

# (model, variable, options, whether the variable is a fixed covariate, which the
# likelihood conditions on). Not a variable with a labelled loading: rescaling it
# changes what the equality constraint says.
UNITS = [
    ("twolevel_cfa", "y1", {}, False),                # the between and within marker
    ("twolevel_cfa", "y2", {}, False),
    ("twolevel_cfa", "x1", {}, True),                 # a within covariate
    ("twolevel_cfa", "w1", {}, True),                 # a between-only covariate
    ("twolevel_cfa", "y3", {"information": "expected"}, False),
    ("twolevel_cfa", "y2", {"estimator": "MLR"}, False),
    ("twolevel_paths", "y1", {}, False),              # outcome and predictor
    ("twolevel_paths", "w1", {}, True),
    ("cfa", "x1", {}, False),                         # expected information
    ("cfa_means", "x5", {}, False),
    ("cfa", "x5", {"information": "observed"}, False),
    ("sem_labels", "x7", {}, True),
    ("sem_labels", "x1", {"estimator": "MLR"}, False),
    ("sem_labels", "x6", {}, False),
]


@functools.lru_cache(maxsize=None)
def _units_fit(name, var, factor, opts):
    model, data, cluster, base = MODELS[name]
    df = _read(data)
    if factor != 1.0:
        df = df.assign(**{var: df[var] * factor})
    return ms.fit(model, df, cluster=cluster, **base, **dict(opts))


@pytest.mark.parametrize("factor", [1e3, 1e-3])
@pytest.mark.parametrize("name, var, opts, fixed", UNITS)
def test_z_values_do_not_depend_on_units(name, var, opts, fixed, factor):
    key = tuple(sorted(opts.items()))
    base = _units_fit(name, var, 1.0, key)
    scaled = _units_fit(name, var, factor, key)
    assert base.converged and scaled.converged
    a, b = base.estimates, scaled.estimates
    free = a.se.to_numpy() > 0
    assert free.sum() >= 5 and (b.se.to_numpy() > 0).sum() == free.sum()
    np.testing.assert_allclose(b.z[free], a.z[free], rtol=1e-6)
    np.testing.assert_allclose(b.pvalue[free], a.pvalue[free], rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(b.std_all, a.std_all, rtol=1e-6, atol=1e-9)
    # the estimates themselves do change with the units (paths involving the variable)
    touches = ((a.lhs == var) | (a.rhs == var)) & free
    assert not np.allclose(b.est[touches], a.est[touches], rtol=1e-2)
    # the log-likelihood moves by the Jacobian of the change when the variable
    # is modelled, and not at all for a fixed covariate (it is conditioned on)
    expected_shift = 0.0 if fixed else -base.nobs * np.log(factor)
    assert scaled.loglik - base.loglik == pytest.approx(expected_shift, abs=1e-6 * base.nobs)


# ---------------------------------------------------------------------------
# the optimiser with an analytic Hessian
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("spread", [1.0, 1e6])
def test_newton_phase_is_exact_whatever_the_scale_of_the_parameters(spread):
    """A smooth concave function whose parameters live on scales 1/spread..spread:
    with its Hessian and a metric the maximum is found to rounding, and the
    returned Hessian is the analytic one."""
    rng = np.random.default_rng(3)
    n = 6
    s = np.geomspace(1.0 / spread, spread, n)
    A = rng.normal(size=(n, n))
    A = A @ A.T + n * np.eye(n)
    b = rng.normal(size=n)

    def fun_grad(x):
        z = x / s
        return -0.5 * z @ A @ z + b @ z - np.sum(z ** 4) / 12, (-(A @ z) + b - z ** 3 / 3) / s

    def hess(x):
        z = x / s
        return -(A + np.diag(z ** 2)) / np.outer(s, s)

    res = maximize(fun_grad, np.zeros(n), hess=hess, metric=A / np.outer(s, s))
    assert res.converged
    z = res.x / s
    np.testing.assert_allclose(A @ z + z ** 3 / 3, b, atol=1e-12)
    np.testing.assert_allclose(res.hessian, hess(res.x), rtol=1e-14)
