"""Two-level sampling weights (pseudo-ML, Asparouhov 2006; Mplus's scalings). No peer here
gives reference numbers, so correctness is shown by simulation: informative sampling at
both levels biases the unweighted estimates, and the weights correct them (fixed seeds,
tolerances stated); equal weights give the unweighted fit exactly."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import msem_nb as ms
from msem_nb.data.weights import WeightedClusterData
from msem_nb.errors import DataError
from msem_nb.estimation.exogenous import _exo_subset, _separate_levels
from msem_nb.estimation.saturated import fit_saturated

RI = "level: 1\n y ~~ y\nlevel: 2\n y ~~ y"
M1 = ("level: 1\n fw =~ y1 + y2 + y3\n fw ~ x1 + x2 + x3\n"
      "level: 2\n fb =~ y1 + y2 + y3\n fb ~ w1 + w2")


def informative_sample(seed, J=1500, n=20, tau=1.0, sigma=1.0):
    """A random-intercept population (mean 0, between and within variance 1) sampled
    informatively: clusters with u_j > 0 with probability .8, others .2; within a
    sampled cluster, units with e_ij > 0 with probability .8, others .3. Weights are the
    inverse selection probabilities (w: within, v: cluster)."""
    rng = np.random.default_rng(seed)
    u = rng.normal(0, tau, J)
    pj = np.where(u > 0, 0.8, 0.2)
    rows = []
    for j in np.flatnonzero(rng.random(J) < pj):
        e = rng.normal(0, sigma, n)
        pi = np.where(e > 0, 0.8, 0.3)
        keep = np.flatnonzero(rng.random(n) < pi)
        if len(keep) >= 2:
            rows += [(j, u[j] + e[k], 1 / pi[k], 1 / pj[j]) for k in keep]
    return pd.DataFrame(rows, columns=["cl", "y", "w", "v"])


def _par(fit, op, level):
    e = fit.estimates
    return e[(e.op == op) & (e.level == level)].iloc[0]


@pytest.fixture(scope="module")
def sample():
    return informative_sample(1)


def test_weights_correct_informative_sampling(sample):
    plain = ms.fit(RI, sample, cluster="cl")
    weighted = ms.fit(RI, sample, cluster="cl", weights="w", cluster_weights="v")
    assert weighted.estimator == "MLR"
    mean_p, mean_w = _par(plain, "~1", "between"), _par(weighted, "~1", "between")
    # the unweighted mean is far off (truth 0); the weighted one within 3 standard errors
    assert mean_p["est"] > 0.5
    assert abs(mean_w["est"]) < 3 * mean_w["se"]
    # variances (truth 1): unweighted too small, weighted within 3 SE
    for level in ("within", "between"):
        vp, vw = _par(plain, "~~", level), _par(weighted, "~~", level)
        assert vp["est"] < 0.9
        assert abs(vw["est"] - 1.0) < 3 * vw["se"], level


@pytest.mark.parametrize("scaling", ["ecluster", "none"])
def test_other_scalings_also_correct_the_mean(sample, scaling):
    f = ms.fit(RI, sample, cluster="cl", weights="w", cluster_weights="v",
               weight_scaling=scaling)
    m = _par(f, "~1", "between")
    assert abs(m["est"]) < 3 * m["se"]


def test_sandwich_standard_error_matches_the_spread_over_samples():
    """20 samples (seeds 100-119, 300 population clusters each): the mean of the robust
    standard errors of the weighted mean is within 0.7-1.4 of the standard deviation of the
    estimates (about two standard errors of a standard deviation from 20 draws)."""
    est, se = [], []
    for seed in range(100, 120):
        f = ms.fit(RI, informative_sample(seed, J=300), cluster="cl", weights="w",
                   cluster_weights="v", quiet=True, control={"se": True})
        m = _par(f, "~1", "between")
        est.append(m["est"])
        se.append(m["se"])
    ratio = np.mean(se) / np.std(est, ddof=1)
    assert 0.7 < ratio < 1.4, ratio


def test_equal_weights_give_the_unweighted_fit(demo):
    plain = ms.fit(M1, demo, cluster="cluster", estimator="MLR")
    weighted = ms.fit(M1, demo.assign(wt=3.0, cw=2.0), cluster="cluster", weights="wt",
                      cluster_weights="cw")
    assert weighted.loglik == pytest.approx(plain.loglik, abs=1e-8)
    np.testing.assert_allclose(weighted.estimates["est"], plain.estimates["est"], atol=1e-8)
    np.testing.assert_allclose(weighted.estimates["se"], plain.estimates["se"], rtol=1e-6)
    fp, fw = plain.fit_measures, weighted.fit_measures
    for key in ("chisq", "chisq_scaled", "cfi", "rmsea", "chisq_within", "chisq_between"):
        assert fw[key] == pytest.approx(fp[key], rel=1e-6, abs=1e-8), key
    assert weighted.nobs == plain.nobs and weighted.nclusters == plain.nclusters


def test_cluster_weights_must_be_constant_in_a_cluster(demo):
    with pytest.raises(DataError, match="varies within cluster"):
        ms.fit(M1, demo.assign(cw=np.arange(len(demo), dtype=float) + 1), cluster="cluster",
               cluster_weights="cw")
    with pytest.raises(DataError, match="weight_scaling"):
        ms.fit(M1, demo.assign(wt=1.0), cluster="cluster", weights="wt",
               weight_scaling="sample")


def test_counts_are_rows_and_clusters(sample):
    f = ms.fit(RI, sample, cluster="cl", weights="w", cluster_weights="v")
    assert f.nobs == len(sample) and f.nclusters == sample["cl"].nunique()
    assert "Number of clusters [cl]" in f.summary()
    assert "Sampling weights (two levels)" in f.summary()


def test_weighted_covariates_closed_form_matches_the_fitted_saturated_model():
    """The fixed covariates' closed-form saturated model (one part each) counts cluster j
    v_j times, as the weighted Fisher-scoring fit of their subset does (unequal weights:
    an unweighted closed form would miss both the moments and the log-likelihood)."""
    demo = pd.read_csv(Path(__file__).parent / "fixtures" / "Demo.twolevel.csv")
    rng = np.random.default_rng(1)
    cw = pd.Series(rng.uniform(0.5, 2.0, demo.cluster.nunique()), index=demo.cluster.unique())
    df = demo.assign(wt=rng.uniform(0.5, 2.0, len(demo)), cw=demo.cluster.map(cw))
    f = ms.fit(M1, df, cluster="cluster", weights="wt", cluster_weights="cw")
    data, pt = f.estimation.objective.data, f.partable
    assert isinstance(data, WeightedClusterData) and np.ptp(data.cluster_weights) > 0.5
    exo = pt.exogenous
    slow = fit_saturated(_exo_subset(pt, data, exo))
    fast = _separate_levels(data, [v for v in data.within if v in exo],
                            [v for v in data.between_only if v in exo])
    assert fast.names == slow.names and len(fast.names) >= 3
    assert fast.loglik == pytest.approx(slow.loglik, rel=1e-12)
    np.testing.assert_allclose(fast.mu, slow.mu, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(fast.sigma_w, slow.sigma_w, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(fast.sigma_b, slow.sigma_b, rtol=1e-10, atol=1e-12)
