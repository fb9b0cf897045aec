"""The two-level saturated (h1) model: Fisher scoring in canonical coordinates
(msem_nb.estimation.saturated_twolevel), its agreement with the quasi-Newton fit
and lavaan, the optimality conditions on hard cases, memory, and the cache that
lets fit measures and the panel fit it once per prepared data set."""

import gc
import json
import tracemalloc
import weakref
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import msem_nb as ms
from msem_nb.data.prepare import prepare_data
from msem_nb.estimation import saturated
from msem_nb.estimation.options import FitOptions
from msem_nb.estimation.saturated import fit_saturated, moment_starts
from msem_nb.estimation.saturated_twolevel import fit_twolevel_h1
from msem_nb.inference import fitmeasures
from msem_nb.inference.decompose import decompose
from msem_nb.likelihood.complete import loglik_twolevel
from msem_nb.likelihood.missing import loglik_twolevel_missing
from msem_nb.syntax.parser import parse
from msem_nb.teaching.examples import simulate_factor_data
from msem_nb.widget.refit import Refitter

FIX = Path(__file__).parent / "fixtures"
Y4 = ("y1", "y2", "y3", "y4")


@pytest.fixture(scope="module")
def demo():
    return pd.read_csv(FIX / "Demo.twolevel.csv")


# Demo.twolevel layouts: both-level only; with within-only and between-only
# variables; and x1 with a both parts (its between variance is 0.002, where EM crawls).
LAYOUTS = {
    "both": (Y4, (), Y4),
    "within_between_only": (Y4 + ("x1", "x2"), ("w1", "w2"), Y4),
    "small_between_variance": (("x1", "y1", "x2", "y2", "y3", "y4"), ("w2", "w1"),
                               ("y3", "y1", "y2", "y4", "x1")),
}


def prepared(demo, layout):
    within, between_only, both = LAYOUTS[layout]
    return prepare_data(demo, within, "cluster", between_only=between_only, both=both)


def optimality(data, h1):
    """Units-free first-order conditions of the constrained maximum.

    Returns the largest scaled gradient of the mean and within covariance,
    the largest between gradient on the range of S_B, and the largest
    eigenvalue of the between gradient on its null space (all should be <= 0
    up to rounding). The between part is whitened by S_B + S_W / nbar.
    """
    mu, sw, sb = h1.mu, h1.sigma_w, h1.sigma_b
    ll, (g_mu, G_w, G_b) = loglik_twolevel(data, mu, sw, sb)
    N, J, pw = data.nobs, data.nclusters, data.p_within
    both = set(data.both)
    bc = np.array([i for i, v in enumerate(data.names) if i >= pw or v in both])
    sd_w = np.sqrt(np.diag(sw))
    omega = sb.copy()
    omega[:pw, :pw] += sw * data.nclusters / data.nobs
    sd_o = np.sqrt(np.diag(omega))
    mean_w = max(np.max(np.abs(g_mu) * sd_o), np.max(np.abs(G_w) * np.outer(sd_w, sd_w))) / N
    C = np.linalg.cholesky(omega[np.ix_(bc, bc)])
    Ci = np.linalg.inv(C)
    S = Ci @ sb[np.ix_(bc, bc)] @ Ci.T
    G = C.T @ G_b[np.ix_(bc, bc)] @ C / J
    lam, U = np.linalg.eigh(S)
    Gu = U.T @ G @ U
    rng_ = lam > 1e-7
    on_range = np.max(np.abs(Gu[:, rng_])) if rng_.any() else 0.0
    null = ~rng_
    on_null = np.linalg.eigvalsh(Gu[np.ix_(null, null)]).max() if null.any() else -np.inf
    return mean_w, on_range, on_null, int(null.sum())


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_matches_the_quasi_newton_fit(demo, layout):
    data = prepared(demo, layout)
    h1 = fit_saturated(data)
    ref = saturated._fit_twolevel_bfgs(data, loglik_twolevel)
    assert h1.converged and ref.converged
    assert h1.iterations <= 12
    assert h1.loglik == pytest.approx(ref.loglik, rel=1e-11)
    assert h1.loglik >= ref.loglik - 1e-9 * abs(ref.loglik)
    for a, b in [(h1.mu, ref.mu), (h1.sigma_w, ref.sigma_w), (h1.sigma_b, ref.sigma_b)]:
        np.testing.assert_allclose(a, b, atol=1e-6)
    # the log-likelihood it reports is the package's likelihood at its estimates
    ll, _ = loglik_twolevel(data, h1.mu, h1.sigma_w, h1.sigma_b, gradient=False)
    assert h1.loglik == pytest.approx(ll, rel=1e-12)
    grad, on_range, on_null, _ = optimality(data, h1)
    assert grad < 1e-7 and on_range < 1e-7 and on_null < 1e-7


def test_within_only_rows_of_the_between_matrix_are_zero(demo):
    data = prepared(demo, "within_between_only")
    h1 = fit_saturated(data)
    wo = [data.names.index(v) for v in ("x1", "x2")]
    assert np.all(h1.sigma_b[wo, :] == 0) and np.all(h1.sigma_b[:, wo] == 0)
    assert np.linalg.eigvalsh(h1.sigma_b).min() > -1e-12


def test_m2_agrees_with_lavaans_saturated_model(demo):
    ref = json.loads((FIX / "M2_saturated.json").read_text())
    data = prepared(demo, "both")
    h1 = fit_saturated(data)
    lav = ref["fit_measures_all"]
    # lavaan's EM stops on a log-likelihood change of 1e-4: a little below the maximum
    assert h1.loglik >= lav["unrestricted.logl"]
    assert h1.loglik - lav["unrestricted.logl"] < 1e-3
    np.testing.assert_allclose(h1.sigma_w, np.array(ref["Sigma_within"]["values"]), atol=1e-3)
    np.testing.assert_allclose(h1.sigma_b, np.array(ref["Sigma_between"]["values"]), atol=1e-3)


@pytest.mark.parametrize("sizes", [15, (5, 25), (2, 40)])
def test_forty_indicators_with_a_singular_between_matrix(sizes):
    # Small between unique variances (0.05) and 40 indicators: the moment
    # estimate of S_B is indefinite, the ML estimate singular. EM crawls to
    # this boundary; projected scoring reaches it in a few dozen steps.
    J = 50 if sizes == (2, 40) else 200
    df = simulate_factor_data(J, sizes, n_indicators=40, seed=1)
    ys = tuple(f"y{k}" for k in range(1, 41))
    data = prepare_data(df, ys, "cluster", both=ys)
    h1 = fit_saturated(data)
    assert h1.converged
    assert h1.iterations <= (60 if sizes == (2, 40) else 25)
    grad, on_range, on_null, rank_deficit = optimality(data, h1)
    assert rank_deficit >= 1
    assert grad < 1e-7 and on_range < 1e-7 and on_null < 1e-7
    # no feasible direction nearby improves: random moves of every part,
    # S_B kept positive semi-definite through its square root
    rng = np.random.default_rng(3)
    lam, V = np.linalg.eigh(h1.sigma_b)
    root = V * np.sqrt(np.clip(lam, 0, None))
    for _ in range(5):
        E = rng.standard_normal(root.shape) * 1e-3
        A = rng.standard_normal(h1.sigma_w.shape) * 1e-3
        sb = (root + E) @ (root + E).T
        sw = h1.sigma_w + (A + A.T) / 2
        mu = h1.mu + rng.standard_normal(len(h1.mu)) * 1e-3
        ll, _ = loglik_twolevel(data, mu, sw, sb, gradient=False)
        assert ll <= h1.loglik


def test_equivariant_under_changes_of_units(demo):
    data = prepared(demo, "small_between_variance")
    scale = {"x1": 1000.0, "y2": 1e-3, "w1": 250.0}
    shift = {"x1": 5000.0, "y2": -3.0, "w1": 1e4}
    moved = demo.assign(**{v: demo[v] * scale[v] + shift[v] for v in scale})
    data2 = prepared(moved, "small_between_variance")
    h1, h2 = fit_saturated(data), fit_saturated(data2)
    names = data.names
    a = np.array([scale.get(v, 1.0) for v in names])
    b = np.array([shift.get(v, 0.0) for v in names])
    pw = data.p_within
    jac = data.nobs * np.log(a[:pw]).sum() + data.nclusters * np.log(a[pw:]).sum()
    assert h2.loglik + jac == pytest.approx(h1.loglik, rel=1e-11)
    np.testing.assert_allclose(h2.mu, a * h1.mu + b, rtol=1e-7)
    np.testing.assert_allclose(h2.sigma_w, h1.sigma_w * np.outer(a[:pw], a[:pw]), rtol=1e-6,
                               atol=1e-12)
    np.testing.assert_allclose(h2.sigma_b, h1.sigma_b * np.outer(a, a), rtol=1e-6,
                               atol=1e-12)
    assert abs(h1.iterations - h2.iterations) <= 1


def test_memory_is_of_order_p_squared():
    # 100 variables: a dense matrix over the ~10,000 covariance parameters
    # (the quasi-Newton fit's) would take 800 MB; the scoring fit needs a few
    # p x p and cluster-by-p arrays.
    p = 100
    df = simulate_factor_data(300, (5, 15), n_indicators=p, seed=2)
    ys = tuple(f"y{k}" for k in range(1, p + 1))
    data = prepare_data(df, ys, "cluster", both=ys)
    start = moment_starts(data)
    tracemalloc.start()
    try:
        h1 = fit_twolevel_h1(data, start)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert h1 is not None and h1.converged
    assert peak < 60 * p * p * 8          # sixty p x p matrices: 4.8 MB


def test_fiml_keeps_the_quasi_newton_fit():
    df = pd.read_csv(FIX / "Demo.twolevel.missing.csv")
    res = ms.fit("level: within\n y1 ~~ y2\nlevel: between\n y1 ~~ y2\n", df,
                 cluster="cluster", missing="fiml", quiet=True)
    h1 = fit_saturated(res.data)
    ll, _ = loglik_twolevel_missing(res.data, h1.mu, h1.sigma_w, h1.sigma_b, gradient=False)
    assert h1.converged and h1.loglik == pytest.approx(ll, rel=1e-12)


# --- the cache --------------------------------------------------------------

def test_fitted_once_per_prepared_data(demo, monkeypatch):
    calls = []
    real = saturated.fit_twolevel_h1
    monkeypatch.setattr(saturated, "fit_twolevel_h1",
                        lambda *a, **k: calls.append(1) or real(*a, **k))
    data = prepared(demo, "both")
    first = fit_saturated(data)
    assert fit_saturated(data) is first
    assert len(calls) == 1
    # a new container (another prepared data set) is fitted again
    fit_saturated(prepared(demo, "both"))
    assert len(calls) == 2


def test_cache_lives_and_dies_with_the_data(demo):
    data = prepared(demo, "both")
    fit_saturated(data)
    model = "level: within\n f =~ y1 + y2 + y3 + y4\nlevel: between\n fb =~ y1 + y2 + y3 + y4\n"
    fitmeasures.baseline_fit(ms.fit(model, demo, cluster="cluster").partable, data)
    ref = weakref.ref(data)
    del data
    gc.collect()
    assert ref() is None


def test_refits_on_the_same_prepared_data_reuse_h1_and_baseline(demo, monkeypatch):
    h1_calls, base_calls = [], []
    real_h1, real_est = saturated.fit_twolevel_h1, fitmeasures.estimate
    monkeypatch.setattr(saturated, "fit_twolevel_h1",
                        lambda *a, **k: h1_calls.append(1) or real_h1(*a, **k))
    monkeypatch.setattr(fitmeasures, "estimate",
                        lambda *a, **k: base_calls.append(1) or real_est(*a, **k))
    cfa = "level: within\n f =~ y1 + y2 + y3 + y4\nlevel: between\n fb =~ y1 + y2 + y3 + y4\n"
    models = [cfa, cfa.replace("y4\nlevel", "y4\n y1 ~~ y2\nlevel")]
    refit = Refitter(demo)
    fms = [refit.fit(parse(m), "cluster", FitOptions(), model=m).fit_measures for m in models]
    assert refit.reused == 1
    assert len(h1_calls) == 1 and len(base_calls) == 1
    # the same numbers as fitting each model on its own
    for m, fm in zip(models, fms):
        alone = ms.fit(m, demo, cluster="cluster").fit_measures
        for k in ("chisq", "df", "baseline_chisq", "cfi", "tli", "rmsea", "srmr"):
            assert fm[k] == pytest.approx(alone[k], rel=1e-9, abs=1e-12)
    assert fms[0]["chisq"] != pytest.approx(fms[1]["chisq"])


def test_decompose_with_fewer_clusters_than_variables():
    # 40 indicators and 2 covariates in 30 clusters: the between covariance has
    # rank at most 29, so its ML estimate lies on the boundary
    df = simulate_factor_data(30, (5, 15), n_indicators=40, seed=4)
    dec = decompose(df, "cluster")
    assert not any("did not fully converge" in n for n in dec.notes)
    sb = dec.sigma_between.to_numpy()
    lam = np.linalg.eigvalsh(sb)
    assert lam.min() > -1e-10 * lam.max()
    assert np.sum(lam > 1e-8 * lam.max()) <= 29
    assert dec.icc.between(0, 1).all()
