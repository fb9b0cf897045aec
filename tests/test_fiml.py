"""Full information ML with missing values (msem_nb.data.missing) against lavaan 0.6-14 and
against brute-force densities."""

import dataclasses
import math
import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import FIXTURES, estimate_row, load_reference
from scipy.stats import multivariate_normal

import msem_nb as ms
from msem_nb.data.missing import MissingClusterData, MissingSingleData, as_missing
from msem_nb.data.prepare import prepare_data
from msem_nb.likelihood.complete import loglik_single, loglik_twolevel
from msem_nb.likelihood.missing import (
    casewise_single,
    clusterwise_twolevel,
    loglik_single_missing,
    loglik_twolevel_missing,
)

FIT_KEYS = ["chisq", "df", "cfi", "tli", "rmsea", "srmr", "srmr_within", "srmr_between",
            "aic", "bic"]


def _fit(name, **kw):
    ref = load_reference(name)
    df = pd.read_csv(FIXTURES / ref["data_file"])
    opts = ref["lavaan_call_options"]
    kw.setdefault("missing", opts["missing"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ms.DataWarning)
        res = ms.fit(ref["model_syntax"], df, cluster=opts.get("cluster"), **kw)
    return ref, res


@pytest.fixture(scope="module", params=["E5_twolevel_fiml", "E5x_twolevel_fiml_x",
                                        "E6_single_fiml_x"])
def case(request):
    return _fit(request.param)


def test_loglik_and_counts(case):
    ref, res = case
    assert res.converged
    assert res.loglik == pytest.approx(ref["logl"], abs=1e-3)
    assert res.npar == ref["npar"]
    assert res.nobs == ref["nobs"]


def test_estimates_and_standard_errors(case):
    ref, res = case
    for row in ref["parameter_table"]:
        m = estimate_row(res, row)
        if row["se"]:
            tol = max(1e-3 * abs(row["est"]), 2e-3 * row["se"])
            assert abs(m["est"] - row["est"]) <= tol, (row, m["est"])
            assert m["se"] == pytest.approx(row["se"], rel=1e-2), row
        else:
            # fixed values: covariate moments come from the saturated FIML model,
            # which lavaan fits by EM to a loose tolerance (its unrestricted
            # log-likelihood is below ours), so they agree to 1e-3 only
            assert abs(m["est"] - row["est"]) <= 1e-3, (row, m["est"])


def test_fit_measures(case):
    ref, res = case
    fm = res.fit_measures
    for key in FIT_KEYS:
        expected = ref["fit_measures"].get(key)
        if expected is None:
            continue
        assert fm[key] == pytest.approx(expected, rel=1e-3, abs=1e-3), key
    # chi-square is twice the gap to the saturated model, which is a proper maximum
    assert fm["chisq"] == pytest.approx(2 * (fm["unrestricted_loglik"] - fm["loglik"]))


def test_covariate_moments_are_the_saturated_fiml_estimates(case):
    _, res = case
    h1 = res.estimation.h1
    names = h1.names
    est = res.estimates
    for _, r in est[est.exo].iterrows():
        a = names.index(r["lhs"])
        if r["op"] == "~1":
            assert r["est"] == pytest.approx(h1.mu[a], abs=1e-12)
        elif r["level"] == "between":
            assert r["est"] == pytest.approx(h1.sigma_b[a, names.index(r["rhs"])], abs=1e-12)
        else:
            assert r["est"] == pytest.approx(h1.sigma_w[a, names.index(r["rhs"])], abs=1e-12)


def test_saturated_model_is_at_least_lavaans():
    for name in ["E5_twolevel_fiml", "E5x_twolevel_fiml_x"]:
        ref, res = _fit(name)
        ours = res.fit_measures["unrestricted_loglik"]
        assert ours >= ref["fit_measures"]["unrestricted.logl"] - 1e-6


def test_twolevel_ml_and_fiml_modes():
    """'ml' drops the 698 rows with a missing covariate (as lavaan 0.6-14);
    'fiml' is lavaan's 'ml.x' and keeps them."""
    ref = load_reference("E5_twolevel_fiml")
    df = pd.read_csv(FIXTURES / ref["data_file"])
    with pytest.warns(ms.DataWarning, match="698 of 2500 rows"):
        r_ml = ms.fit(ref["model_syntax"], df, cluster="cluster", missing="ml")
    assert r_ml.n_dropped == 698 and r_ml.nobs == 1802
    r_fiml = ms.fit(ref["model_syntax"], df, cluster="cluster", missing="fiml")
    r_mlx = ms.fit(ref["model_syntax"], df, cluster="cluster", missing="ml.x")
    assert r_fiml.nobs == 2500 and r_fiml.n_dropped == 0
    assert r_fiml.loglik == pytest.approx(r_mlx.loglik, abs=1e-9)
    assert isinstance(r_fiml.data, MissingClusterData)
    assert "Missing patterns (FIML)" in r_fiml.summary()


def test_single_level_unrestricted_loglik_convention():
    """lavaan's single-level unrestricted.logl subtracts the covariates' term at
    their pairwise (not FIML) covariance, unlike its logl; ours uses the same
    term for both, so that chisq = 2 (unrestricted - logl). The two differ by
    exactly the difference of those terms."""
    ref, res = _fit("E6_single_fiml_x")
    fm = res.fit_measures
    df = pd.read_csv(FIXTURES / ref["data_file"])
    x = ["x1", "x2", "x3"]
    n = len(df)
    S_pair = df[x].cov().to_numpy() * (n - 1) / n
    h1 = res.estimation.h1
    idx = [h1.names.index(v) for v in x]
    S_h1 = h1.sigma_w[np.ix_(idx, idx)]

    def term(S):
        return -0.5 * n * (3 * np.log(2 * np.pi) + np.linalg.slogdet(S)[1] + 3)

    lavaan_style = fm["unrestricted_loglik"] + term(S_h1) - term(S_pair)
    assert lavaan_style == pytest.approx(ref["fit_measures"]["unrestricted.logl"], abs=1e-3)
    # lavaan's single-level FIML baseline also fixes the covariates at pairwise
    # moments; ours keeps the saturated FIML ones (nested in h1), a 0.2% change
    assert fm["baseline_chisq"] == pytest.approx(ref["fit_measures"]["baseline.chisq"],
                                                 rel=2e-3)


def test_fiml_on_complete_data_equals_ml(demo):
    model = ("level: within\n fw =~ y1 + y2 + y3\n fw ~ x1\n"
             "level: between\n fb =~ y1 + y2 + y3\n fb ~ w1")
    a = ms.fit(model, demo, cluster="cluster")
    b = ms.fit(model, demo, cluster="cluster", missing="fiml")
    assert b.loglik == pytest.approx(a.loglik, abs=1e-8)
    np.testing.assert_allclose(b.estimates["se"], a.estimates["se"], rtol=1e-4)


# -- the likelihood itself -------------------------------------------------

@pytest.fixture(scope="module")
def holey(demo):
    """Demo data with missing values everywhere, between-only ones included
    (missing for whole clusters and for some rows of others)."""
    rng = np.random.default_rng(3)
    dm = demo.copy()
    for v in ["y1", "y2", "x1"]:
        dm.loc[rng.random(len(dm)) < 0.2, v] = np.nan
    cl = dm.cluster.unique()
    for c in cl[:15]:
        dm.loc[dm.cluster == c, "w1"] = np.nan
    for c in cl[15:30]:
        dm.loc[(dm.cluster == c) & (rng.random(len(dm)) < 0.5), "w2"] = np.nan
    for c in cl[30:35]:
        dm.loc[dm.cluster == c, ["w1", "w2"]] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ms.DataWarning)
        return prepare_data(dm, ("y1", "y2", "x1"), "cluster", ("w1", "w2"), ("y1", "y2"),
                            missing="fiml")


def _moments(seed=0):
    rng = np.random.default_rng(seed)
    p, pw = 5, 3
    A = rng.normal(size=(pw, pw))
    sw = A @ A.T / 3 + np.eye(pw)
    B = rng.normal(size=(p, p))
    sb = B @ B.T / 4 + 0.2 * np.eye(p)
    sb[2, :] = sb[:, 2] = 0.0    # x1 is within-only
    return rng.normal(size=p) * 0.1, sw, sb


def test_complete_data_agree_with_the_closed_form(demo):
    d = prepare_data(demo, ("y1", "y2", "x1"), "cluster", ("w1", "w2"), ("y1", "y2"))
    mu, sw, sb = _moments()
    ll0, (g0, Gw0, Gb0) = loglik_twolevel(d, mu, sw, sb)
    ll1, (g1, Gw1, Gb1) = loglik_twolevel_missing(as_missing(d), mu, sw, sb)
    assert ll1 == pytest.approx(ll0, abs=1e-8)
    np.testing.assert_allclose(g1, g0, atol=1e-9)
    np.testing.assert_allclose(Gw1, Gw0, atol=1e-9)
    keep = [0, 1, 3, 4]          # the rows of variables with a between part
    np.testing.assert_allclose(Gb1[np.ix_(keep, keep)], Gb0[np.ix_(keep, keep)], atol=1e-9)


def test_cluster_density_by_brute_force(holey):
    """Each cluster's value is the log-density of all its observed values under
    the full (n_j p + p_z)-variate normal."""
    mu, sw, sb = _moments()
    llj, _ = clusterwise_twolevel(holey, mu, sw, sb)
    pw = 3
    for j in [0, 3, 20, 31, 199]:
        rows = holey.values[holey.offsets[j]:holey.offsets[j] + holey.cluster_sizes[j]]
        n = len(rows)
        S = np.zeros((n * pw + 2, n * pw + 2))
        m = np.zeros(n * pw + 2)
        for i in range(n):
            m[i * pw:(i + 1) * pw] = mu[:pw]
            for k in range(n):
                S[i * pw:(i + 1) * pw, k * pw:(k + 1) * pw] = sb[:pw, :pw] + (sw if i == k else 0)
            S[i * pw:(i + 1) * pw, n * pw:] = sb[:pw, 3:]
            S[n * pw:, i * pw:(i + 1) * pw] = sb[3:, :pw]
        S[n * pw:, n * pw:] = sb[3:, 3:]
        m[n * pw:] = mu[3:]
        z = np.where(holey.z_obs[j] > 0, holey.z_fill[j], np.nan)
        vec = np.concatenate([rows[:, :pw].ravel(), z])
        o = ~np.isnan(vec)
        assert llj[j] == pytest.approx(multivariate_normal(m[o], S[np.ix_(o, o)]).logpdf(vec[o]),
                                       abs=1e-9)


def test_complete_data_likelihood_refuses_incomplete_data(holey):
    """The two-level FIML container has no statistics by cluster size: the complete-data
    likelihood says so instead of failing on a missing attribute."""
    assert isinstance(holey, MissingClusterData) and holey.groups is None
    mu, sw, sb = _moments()
    with pytest.raises(ValueError, match="loglik_twolevel_missing"):
        loglik_twolevel(holey, mu, sw, sb)


def test_as_missing_needs_the_rows(demo):
    d = prepare_data(demo, ("y1", "y2", "x1"), "cluster", ("w1", "w2"), ("y1", "y2"))
    bare = dataclasses.replace(d, rows=None)
    with pytest.raises(ValueError, match="no rows"):
        as_missing(bare)
    s = prepare_data(demo, ("y1", "y2"))
    with pytest.raises(ValueError, match="no rows"):
        as_missing(dataclasses.replace(s, rows=None))


def test_missing_containers_need_their_pattern_fields(demo):
    """The pattern statistics are required (keyword-only) fields, not None by default."""
    s = prepare_data(demo, ("y1", "y2"))
    with pytest.raises(TypeError, match="masks"):
        MissingSingleData(s.names, s.nobs, s.mean, s.cov, 0, s.rows)


def test_twolevel_gradient_matches_finite_differences(holey):
    assert holey.npatterns > 1 and len(holey.z_masks) > 1
    mu, sw, sb = _moments(1)
    ll, (gm, Gw, Gb) = loglik_twolevel_missing(holey, mu, sw, sb)
    h = 1e-6

    def f(m, w, b):
        return loglik_twolevel_missing(holey, m, w, b, gradient=False)[0]

    fd = np.array([(f(mu + h * e, sw, sb) - f(mu - h * e, sw, sb)) / (2 * h) for e in np.eye(5)])
    np.testing.assert_allclose(gm, fd, atol=1e-5 * np.abs(gm).max())
    for which, G, n in (("w", Gw, 3), ("b", Gb, 5)):
        for a in range(n):
            for b in range(a + 1):
                if which == "b" and 2 in (a, b):
                    continue
                E = np.zeros((n, n))
                E[a, b] += h / 2
                E[b, a] += h / 2
                if which == "w":
                    num = (f(mu, sw + E, sb) - f(mu, sw - E, sb)) / (2 * h)
                else:
                    num = (f(mu, sw, sb + E) - f(mu, sw, sb - E)) / (2 * h)
                assert G[a, b] == pytest.approx(num, abs=1e-5 * np.abs(G).max()), (which, a, b)
    # per-cluster pieces add up to the totals
    llj, (gmj, Gwj, Gbj) = clusterwise_twolevel(holey, mu, sw, sb)
    assert llj.sum() == pytest.approx(ll, abs=1e-8)
    np.testing.assert_allclose(gmj.sum(0), gm, atol=1e-8)
    np.testing.assert_allclose(Gwj.sum(0), Gw, atol=1e-8)
    np.testing.assert_allclose(Gbj.sum(0), Gb, atol=1e-8)


def test_per_cluster_derivatives_match_finite_differences(holey):
    """Each cluster's own derivative (the MLR score pieces), not only their sum."""
    mu, sw, sb = _moments(2)
    _, (gmj, Gwj, Gbj) = clusterwise_twolevel(holey, mu, sw, sb)
    h = 1e-6
    js = [0, 17, 31, 120]

    def llj(m, w, b):
        return clusterwise_twolevel(holey, m, w, b)[0][js]

    for a in range(5):
        e = np.zeros(5)
        e[a] = h
        np.testing.assert_allclose(gmj[js, a], (llj(mu + e, sw, sb) - llj(mu - e, sw, sb)) / (2 * h),
                                   atol=1e-6)
    for which, G, n in (("w", Gwj, 3), ("b", Gbj, 5)):
        for a in range(n):
            for b in range(a + 1):
                if which == "b" and 2 in (a, b):
                    continue
                E = np.zeros((n, n))
                E[a, b] += h / 2
                E[b, a] += h / 2
                if which == "w":
                    num = (llj(mu, sw + E, sb) - llj(mu, sw - E, sb)) / (2 * h)
                else:
                    num = (llj(mu, sw, sb + E) - llj(mu, sw, sb - E)) / (2 * h)
                np.testing.assert_allclose(G[js, a, b], num, atol=1e-6)


def test_single_level_gradient_and_cases():
    hm = pd.read_csv(FIXTURES / "HolzingerSwineford1939.missing.csv")
    d = prepare_data(hm, ("x1", "x2", "x3", "x4", "x5", "x6"), missing="fiml")
    assert isinstance(d, MissingSingleData) and d.npatterns > 5
    rng = np.random.default_rng(0)
    A = rng.normal(size=(6, 6))
    S = A @ A.T / 6 + np.eye(6)
    mu = np.nanmean(d.rows, axis=0) + 0.1
    ll, (gm, G) = loglik_single_missing(d, mu, S)
    h = 1e-6
    f = lambda m, s: loglik_single_missing(d, m, s, False)[0]  # noqa: E731
    fd = np.array([(f(mu + h * e, S) - f(mu - h * e, S)) / (2 * h) for e in np.eye(6)])
    np.testing.assert_allclose(gm, fd, atol=1e-5)
    for a in range(6):
        for b in range(a + 1):
            E = np.zeros((6, 6))
            E[a, b] += h / 2
            E[b, a] += h / 2
            assert G[a, b] == pytest.approx((f(mu, S + E) - f(mu, S - E)) / (2 * h), abs=1e-5)
    lli, gi, Gi = casewise_single(d, mu, S)
    assert lli.sum() == pytest.approx(ll, abs=1e-8)
    np.testing.assert_allclose(gi.sum(0), gm, atol=1e-8)
    np.testing.assert_allclose(Gi.sum(0), G, atol=1e-8)
    # complete data: the pattern code reduces to the ordinary likelihood
    hs = pd.read_csv(FIXTURES / "HolzingerSwineford1939.csv")
    dc = prepare_data(hs, ("x1", "x2", "x3", "x4", "x5", "x6"))
    assert loglik_single_missing(as_missing(dc), mu, S)[0] == \
        pytest.approx(loglik_single(dc, mu, S)[0], abs=1e-8)


def test_model_gradient_with_missing_values(holey):
    """The chain rule to the parameters works unchanged on incomplete data."""
    from msem_nb.estimation.exogenous import exogenous_values
    from msem_nb.estimation.start import start_values
    from msem_nb.likelihood.objective import Objective
    from msem_nb.model.partable import build_partable
    from msem_nb.model.spec import build_spec
    pt = build_partable(ms.parse("level: within\n y2 ~ y1 + x1\nlevel: between\n"
                                 " y2 ~ y1 + w1\n w2 ~ y2"))
    spec = build_spec(pt, exogenous_values(pt, holey)[0])
    obj = Objective(spec, holey, True)
    theta = start_values(pt, spec, holey) + 0.02
    ll, g = obj.loglik(theta, gradient=True)
    h = 1e-6
    fd = np.array([(obj.loglik(theta + h * e) - obj.loglik(theta - h * e)) / (2 * h)
                   for e in np.eye(len(theta))])
    np.testing.assert_allclose(g, fd, rtol=1e-5, atol=1e-5 * np.abs(fd).max())


# -- input handling --------------------------------------------------------

def test_bad_inputs(demo):
    model = "level: within\n y1 ~ x1\nlevel: between\n y1 ~ w1"
    with pytest.raises(ms.DataError, match="not known"):
        ms.fit(model, demo, cluster="cluster", missing="pairwise")
    d = demo.copy()
    d["x1"] = np.nan
    with pytest.raises(ms.DataError, match="no observed values"):
        ms.fit(model, d, cluster="cluster", missing="fiml")
    d = demo.copy()
    d.loc[0, "y1"] = np.nan
    d.loc[1, "w1"] = d.loc[1, "w1"] + 1.0
    with pytest.raises(ms.DataError, match="varies"):
        ms.fit(model, d, cluster="cluster", missing="fiml")
    with pytest.raises(ms.ModelSpecificationError, match="mean structure"):
        ms.fit("y1 ~ x1", demo, missing="fiml", meanstructure=False)
    d = demo.copy()
    d.loc[:5, "y1"] = np.nan
    with pytest.raises(ms.ModelSpecificationError, match="expected"):
        ms.fit("y1 ~ x1", d, missing="fiml", information="expected")


def test_empty_rows_are_dropped_and_counted(demo):
    d = demo.copy()
    d.loc[:2, ["y1", "x1"]] = np.nan
    d.loc[3, "y1"] = np.nan
    with pytest.warns(ms.DataWarning, match="3 of 2500 rows"):
        res = ms.fit("y1 ~ x1", d, missing="fiml")
    assert res.nobs == 2497 and res.n_dropped == 3
    assert math.isfinite(res.loglik)


def test_pair_never_observed_together_is_a_data_error(demo, monkeypatch):
    """Zero coverage (lavaan's lavInspect(fit, "coverage")): named, before any optimisation."""
    from msem_nb.estimation import pipeline

    def no_estimation(*args, **kwargs):
        raise AssertionError("estimation must not start")

    monkeypatch.setattr(pipeline, "estimate", no_estimation)
    d = demo.copy()
    d.loc[:1249, "y1"] = np.nan
    d.loc[1250:, "x1"] = np.nan
    msg = r"variables 'y1' and 'x1' are never observed together: their coverage \(the share " \
          r"of rows with both observed.*\) is 0"
    with pytest.raises(ms.DataError, match=msg):
        ms.fit("y1 ~ x1 + x2", d, missing="fiml")
    with pytest.raises(ms.DataError, match=msg):
        ms.fit("level: within\n y1 ~ x1\nlevel: between\n y1 ~ w1", d, cluster="cluster",
               missing="fiml")
    # two-level: a between-only variable never observed in a cluster where y1 is
    d = demo.copy()
    d.loc[d.cluster <= 100, "y1"] = np.nan
    d.loc[d.cluster > 100, "w1"] = np.nan
    with pytest.raises(ms.DataError, match=r"'y1' and 'w1' are never observed together: their "
                                           r"coverage \(the share of clusters"):
        ms.fit("level: within\n y1 ~ x1\nlevel: between\n y1 ~ w1", d, cluster="cluster",
               missing="fiml")


def test_some_coverage_is_enough(demo):
    d = demo.copy()
    d.loc[:1239, "y1"] = np.nan
    d.loc[1250:, "x1"] = np.nan   # 10 rows with both
    res = ms.fit("y1 ~ x1", d, missing="fiml")
    assert res.converged
