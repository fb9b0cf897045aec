"""ms.power reproduces what Monte Carlo theory says: type I error, power over J, bias.

The fast subset (a few hundred replications, seconds) runs in CI; the
``slow`` tests repeat the checks with thousands of replications and tighter
bounds: ``python -m pytest -m slow tests/test_power_stats.py``.

The observed-cluster-mean check is the known bias of manifest aggregation
(Luedtke et al., 2008): with x = x_b + x_w, var(x_b) = tau2, var(x_w) = sigma2
and clusters of n, the between slope of y on the observed mean of x has
expectation lambda * b_between + (1 - lambda) * b_within, with the
reliability of the cluster mean lambda = tau2 / (tau2 + sigma2 / n); the
latent decomposition (x at both levels) is unbiased.
"""

from __future__ import annotations

import pandas as pd
import pytest
from scipy import stats

import msem_nb as ms

RI = """
level: within
  y ~ {bw}*x
level: between
  y ~ {bb}*w
  y ~~ 0.2*y
"""

CONTEXT = """
level: within
  y ~ 0.2*x
  x ~~ 1*x
level: between
  y ~ 0.6*x
  x ~~ 0.5*x
  y ~~ 0.2*y
"""
MANIFEST = """
level: within
  y ~ x
level: between
  y ~ xm
"""


def add_cluster_means(df):
    return df.assign(xm=df.groupby("cluster")["x"].transform("mean"))


def rate(plan, name):
    return plan.table.set_index(["n_clusters", "parameter"])["power"].xs(name, level=1)


def check_type_one_error(reps, lo, hi):
    plan = ms.power(RI.format(bw=0.0, bb=0.5), n_clusters=40, cluster_size=5, reps=reps,
                    seed=101, progress=False)
    row = plan.table.set_index("parameter").loc["y ~ x [within]"]
    assert row["true"] == 0 and row["used"] == reps
    assert lo <= row["power"] <= hi, row["power"]
    assert 0.9 <= row["se_sd_ratio"] <= 1.1


def check_power_rises(js, reps, tol):
    plan = ms.power(RI.format(bw=0.1, bb=0.3), n_clusters=js, cluster_size=5, reps=reps,
                    seed=102, progress=False, n_jobs=1)
    p = rate(plan, "y ~ w [between]").sort_index()
    step = p.diff().dropna()
    # rising by a clear step until it saturates near 1
    assert ((step > 0.05) | ((p.iloc[1:] > 0.97) & (step >= 0))).all(), p
    assert p.iloc[0] < 0.5 < p.iloc[-1]
    # and close to the power of a Wald test with the mean standard error,
    # Phi(b / se - z) + Phi(-b / se - z), once J is not tiny (at J = 10 ML's
    # standard errors are too small, SE/SD about .8, and the test is liberal)
    tab = plan.table.set_index(["n_clusters", "parameter"]).xs("y ~ w [between]", level=1)
    z = stats.norm.ppf(0.975)
    ratio = 0.3 / tab["mean_se"]
    approx = stats.norm.cdf(ratio - z) + stats.norm.cdf(-ratio - z)
    big = p.index >= 20
    assert (p - approx)[big].abs().max() < tol, pd.DataFrame({"power": p, "wald": approx})


def check_latent_vs_manifest(reps, tol):
    kw = dict(n_clusters=100, cluster_size=5, reps=reps, seed=103, progress=False)
    latent = ms.power(CONTEXT, **kw).table.set_index("parameter")
    manifest = ms.power(CONTEXT, analysis=MANIFEST, transform=add_cluster_means,
                        center={"x": "cluster"}, truth={"y ~ xm [between]": 0.6},
                        **kw).table.set_index("parameter")
    lam = 0.5 / (0.5 + 1.0 / 5)
    expected = lam * 0.6 + (1 - lam) * 0.2
    assert latent.loc["y ~ x [between]", "bias"] == pytest.approx(0.0, abs=tol)
    assert latent.loc["y ~ x [within]", "bias"] == pytest.approx(0.0, abs=tol)
    assert manifest.loc["y ~ xm [between]", "mean_est"] == pytest.approx(expected, abs=tol)
    assert manifest.loc["y ~ xm [between]", "bias"] == pytest.approx(expected - 0.6, abs=tol)
    # the within slope of cluster-centred x is unbiased in both
    assert manifest.loc["y ~ x [within]", "bias"] == pytest.approx(0.0, abs=tol)
    # coverage collapses for the biased estimator, not for the latent one
    assert latent.loc["y ~ x [between]", "coverage"] > 0.88
    assert manifest.loc["y ~ xm [between]", "coverage"] < latent.loc["y ~ x [between]",
                                                                       "coverage"]


def test_type_one_error_near_alpha():
    check_type_one_error(300, 0.02, 0.09)


def test_power_rises_with_the_number_of_clusters():
    check_power_rises([10, 30, 90], 80, 0.12)


def test_latent_decomposition_unbiased_observed_means_biased():
    check_latent_vs_manifest(60, 0.05)


@pytest.mark.slow
def test_type_one_error_near_alpha_many_replications():
    check_type_one_error(3000, 0.04, 0.062)


@pytest.mark.slow
def test_power_rises_with_the_number_of_clusters_many_replications():
    check_power_rises([10, 20, 40, 80, 160], 500, 0.05)


@pytest.mark.slow
def test_latent_vs_manifest_many_replications():
    check_latent_vs_manifest(1000, 0.015)


@pytest.mark.slow
def test_coverage_and_standard_errors_of_every_parameter():
    plan = ms.power(CONTEXT, n_clusters=150, cluster_size=8, reps=1000, seed=104,
                    progress=False, n_jobs=2)
    tab = plan.table
    assert tab["coverage"].between(0.925, 0.97).all(), tab[["parameter", "coverage"]]
    assert tab["se_sd_ratio"].between(0.9, 1.1).all(), tab[["parameter", "se_sd_ratio"]]
    assert (tab["rel_bias"].abs().fillna(0) < 0.05).all()
    assert tab["converged"].min() == 1.0
