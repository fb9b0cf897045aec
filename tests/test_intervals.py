"""Monte Carlo and bootstrap intervals (msem_nb.inference.intervals) and the progress bar."""

import io
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import msem_nb as ms
from msem_nb.inference import intervals as iv
from msem_nb.inference.defined import defined_draws
from msem_nb.inference.progress import Progress, format_line
from msem_nb.inference.resample import Replicator

MODEL = """
level: within
  m ~ aw*x
  y ~ bw*m + x
level: between
  m ~ ab*x
  y ~ bb*m + x
indw := aw*bw
indb := ab*bb
"""
TRUE = {"aw": 0.4, "bw": 0.3, "ab": 0.5, "bb": 0.5}


def simulate(n_clusters=60, size=6, seed=0, aw=TRUE["aw"], bw=TRUE["bw"], ab=TRUE["ab"],
             bb=TRUE["bb"]):
    """1-1-1 mediation: x -> m -> y at both levels, x with parts at both levels."""
    rng = np.random.default_rng(seed)
    sizes = np.full(n_clusters, size) if np.isscalar(size) else \
        rng.integers(size[0], size[1] + 1, n_clusters)
    c = np.repeat(np.arange(n_clusters), sizes)
    n = len(c)
    xb = rng.normal(0, 0.7, n_clusters)
    xw = rng.normal(0, 1.0, n)
    mb = ab * xb + rng.normal(0, 0.6, n_clusters)
    mw = aw * xw + rng.normal(0, 1.0, n)
    yb = bb * mb + 0.1 * xb + rng.normal(0, 0.6, n_clusters)
    yw = bw * mw + 0.1 * xw + rng.normal(0, 1.0, n)
    return pd.DataFrame({"x": xb[c] + xw, "m": mb[c] + mw, "y": yb[c] + yw, "cl": c})


@pytest.fixture(scope="module")
def fit_small():
    return ms.fit(MODEL, simulate(40, 5, seed=11), cluster="cl")


# ---------------------------------------------------------------------------
# Monte Carlo
# ---------------------------------------------------------------------------

def test_monte_carlo_covers_within_indirect_at_nominal_rate():
    # 100 data sets; the MC interval for aw*bw should cover the true value
    # about 95% of the time and be about as wide as the delta-method interval
    # (the product is nearly normal at this sample size).
    truth = TRUE["aw"] * TRUE["bw"]
    hits, width_ratio = [], []
    for s in range(100):
        fit = ms.fit(MODEL, simulate(50, 8, seed=1000 + s), cluster="cl")
        mc = fit.monte_carlo(4000, seed=s)
        row = mc.intervals.set_index("lhs").loc["indw"]
        hits.append(row["ci_lower"] <= truth <= row["ci_upper"])
        wald = fit.estimates.set_index("lhs").loc["indw"]
        width_ratio.append((row["ci_upper"] - row["ci_lower"]) /
                           (wald["ci_upper"] - wald["ci_lower"]))
    coverage = np.mean(hits)
    assert 0.88 <= coverage <= 0.99, coverage
    assert 0.93 < np.mean(width_ratio) < 1.07


def test_monte_carlo_free_parameters_match_wald(fit_small):
    mc = fit_small.monte_carlo(20_000, seed=3)
    tab = mc.intervals[mc.intervals["op"] != ":="].reset_index(drop=True)
    wald = fit_small.estimates
    wald = wald[wald["free"] & (wald["op"] != ":=")].reset_index(drop=True)
    width = wald["ci_upper"] - wald["ci_lower"]
    assert np.all(np.abs(tab["ci_lower"] - wald["ci_lower"]) < 0.03 * width)
    assert np.all(np.abs(tab["ci_upper"] - wald["ci_upper"]) < 0.03 * width)
    assert np.allclose(tab["se"], wald["se"], rtol=0.03)


def test_monte_carlo_reproducible_fast_and_leaves_fit_alone(fit_small):
    before = fit_small.estimates.copy()
    a = fit_small.monte_carlo(seed=5)
    b = fit_small.monte_carlo(seed=5)
    c = fit_small.monte_carlo(seed=6)
    pd.testing.assert_frame_equal(a.draws, b.draws)
    assert not np.allclose(a.draws["indw"], c.draws["indw"])
    assert a.draws.shape == (20_000, fit_small.estimation.theta.size + 2)
    assert a.elapsed < 1.0, a.elapsed
    pd.testing.assert_frame_equal(fit_small.estimates, before)
    assert a.headline == ("Confidence intervals: Monte Carlo, percentile, 20000 draws from "
                          "N(theta_hat, ACOV) (0 failed), seed 5")
    est = a.estimates
    assert set(est.loc[est["free"], "interval_method"]) == {"monte_carlo"}
    assert set(est.loc[~est["free"], "interval_method"]) == {"fixed"}
    ind = est.set_index("lhs").loc["indw"]
    row = a.intervals.set_index("lhs").loc["indw"]
    assert ind["ci_lower"] == row["ci_lower"] and ind["ci_upper"] == row["ci_upper"]


def test_fit_estimates_say_wald(fit_small):
    est = fit_small.estimates
    assert list(est.columns)[-1] == "interval_method"
    assert set(est.loc[est["free"], "interval_method"]) == {"wald"}
    assert set(est.loc[~est["free"], "interval_method"]) == {"fixed"}


def test_vectorised_definitions_match_scalar_evaluation(hs):
    model = """
    x4 ~ a*x1
    x5 ~ b*x4 + x1
    ab := a*b
    r := exp(a) / sqrt(b^2 + 1) - -a
    g := log(ab) + abs(b)^0.5 + ab*2
    """
    fit = ms.fit(model, hs)
    pt = fit.partable
    rng = np.random.default_rng(0)
    thetas = fit.estimation.theta + rng.normal(0, 0.3, (200, fit.estimation.theta.size))
    vec = defined_draws(pt, thetas)
    for i in range(len(thetas)):
        env = {r["label"]: thetas[i, int(r["free"]) - 1] for r in pt.records if r["label"]}
        for j, d in enumerate(pt.defined):
            try:
                want = d.expr.evaluate(env)
            except (ValueError, ZeroDivisionError, OverflowError):
                want = np.nan
            env[d.lhs] = want
            if np.isnan(want):
                assert np.isnan(vec[i, j])
            else:
                assert vec[i, j] == pytest.approx(want, rel=1e-12, abs=1e-14)
    # log(ab) is undefined where ab < 0: those draws are NaN and counted as failed
    assert np.isnan(vec[:, 2]).any()


def test_monte_carlo_counts_undefined_draws(hs):
    fit = ms.fit("x4 ~ a*x1\nx5 ~ b*x4\nlg := log(a*b - 0.25)", hs)
    mc = fit.monte_carlo(5000, seed=1)
    row = mc.intervals.set_index("lhs").loc["lg"]
    bad = int(np.isnan(mc.draws["lg"]).sum())
    assert bad > 0 and row["n_failed"] == bad and row["n_ok"] == 5000 - bad
    assert mc.n_failed == bad


# ---------------------------------------------------------------------------
# Interval formulas
# ---------------------------------------------------------------------------

def test_bca_equals_percentile_without_bias_and_acceleration():
    z = np.random.default_rng(1).normal(size=999)
    boot = np.concatenate([z, -z])           # symmetric about the estimate 0
    jack = np.concatenate([z[:50], -z[:50]])  # symmetric: no skewness, a = 0
    a = iv.acceleration(jack)
    assert a == pytest.approx(0.0, abs=1e-15)
    lo, hi, z0 = iv.bca_interval(boot, 0.0, a, 0.9)
    assert z0 == 0.0
    assert (lo, hi) == pytest.approx(iv.percentile_interval(boot, 0.9), abs=1e-12)


def test_bca_moves_with_bias_and_acceleration():
    boot = np.random.default_rng(2).normal(size=4000)
    p_lo, p_hi = iv.percentile_interval(boot)
    lo, hi, z0 = iv.bca_interval(boot, 0.3, 0.0)   # most replicates below the estimate
    assert z0 > 0 and lo > p_lo and hi > p_hi
    lo2, hi2, _ = iv.bca_interval(boot, 0.0, 0.1)  # positive skew stretches the top
    lo0, hi0, _ = iv.bca_interval(boot, 0.0, 0.0)
    assert lo2 > lo0 and hi2 > hi0
    assert np.isnan(iv.bca_interval(boot, 10.0, 0.0)[0])   # every replicate below
    d = np.array([1.0, 2.0, 4.0, 9.0])
    dev = d.mean() - d
    assert iv.acceleration(d) == pytest.approx((dev ** 3).sum() / (6 * (dev ** 2).sum() ** 1.5))


# ---------------------------------------------------------------------------
# Bootstrap
# ---------------------------------------------------------------------------

def test_cluster_bootstrap_reproducible_and_independent_of_n_jobs(fit_small):
    a = fit_small.bootstrap(24, seed=1, n_jobs=1, progress=False, jackknife_groups=10)
    b = fit_small.bootstrap(24, seed=1, n_jobs=1, progress=False, jackknife_groups=10)
    c = fit_small.bootstrap(24, seed=2, n_jobs=1, progress=False, jackknife_groups=10)
    d = fit_small.bootstrap(24, seed=1, n_jobs=2, progress=False, jackknife_groups=10)
    pd.testing.assert_frame_equal(a.draws, b.draws)
    pd.testing.assert_frame_equal(a.draws, d.draws)
    pd.testing.assert_frame_equal(a.intervals, d.intervals)
    assert d.n_jobs == 2
    assert not np.allclose(a.draws["indw"], c.draws["indw"])
    assert a.method == "bootstrap-cluster-bca" and a.n_failed == 0
    assert a.headline == ("Confidence intervals: cluster bootstrap, BCa, 24 replicates "
                          "(0 failed), seed 1")
    assert "grouped: 10 random groups of about 4.0 clusters" in a.summary()


def test_bootstrap_intervals_contain_estimates_and_leave_fit_alone(fit_small):
    before = fit_small.estimates.copy()
    for kw in ({"type": "cluster", "ci": "percentile"},
               {"type": "parametric", "ci": "percentile"},
               {"type": "parametric", "ci": "bca", "jackknife_groups": 8}):
        res = fit_small.bootstrap(40, seed=4, n_jobs=1, progress=False, **kw)
        tab = res.intervals
        assert np.all(tab["ci_lower"] <= tab["est"]) and np.all(tab["est"] <= tab["ci_upper"])
        # a resample can give a negative between variance the core rejects:
        # such replicates are counted, not dropped silently
        assert np.all(tab["n_ok"] + tab["n_failed"] == 40) and res.n_failed <= 2
        assert np.all(tab["n_failed"] == res.n_failed) and len(res.failures) == res.n_failed
        method = f"bootstrap-{kw['type']}-{kw['ci']}"
        assert set(tab["method"]) == {method}
        est = res.estimates
        assert set(est.loc[est["free"], "interval_method"]) == {method}
        assert np.allclose(est["est"], before["est"])
    pd.testing.assert_frame_equal(fit_small.estimates, before)


def test_bca_and_percentile_share_replicates(fit_small):
    # replicate seeds do not depend on ci or n_boot
    pct = fit_small.bootstrap(30, seed=7, ci="percentile", n_jobs=1, progress=False)
    bca = fit_small.bootstrap(30, seed=7, ci="bca", n_jobs=1, progress=False,
                              jackknife_groups=40)
    short = fit_small.bootstrap(20, seed=7, ci="percentile", n_jobs=1, progress=False)
    pd.testing.assert_frame_equal(pct.draws, bca.draws)
    pd.testing.assert_frame_equal(pct.draws.iloc[:20], short.draws)
    assert "jackknife over 40 clusters" in bca.summary()
    assert {"z0", "acceleration"} <= set(bca.intervals.columns)
    # the within slope is close to symmetric: BCa and percentile nearly agree
    p = pct.intervals.set_index("label").loc["aw"]
    b = bca.intervals.set_index("label").loc["aw"]
    width = p["ci_upper"] - p["ci_lower"]
    assert abs(b["ci_lower"] - p["ci_lower"]) < 0.25 * width
    assert abs(b["ci_upper"] - p["ci_upper"]) < 0.25 * width


def test_failed_replicates_are_counted(fit_small, monkeypatch):
    real = Replicator.refit
    calls = {"n": 0}

    def flaky(self, df):
        calls["n"] += 1
        if calls["n"] % 4 == 0:
            raise RuntimeError("did not converge")
        return real(self, df)

    monkeypatch.setattr(Replicator, "refit", flaky)
    res = fit_small.bootstrap(20, seed=1, ci="percentile", n_jobs=1, progress=False)
    assert res.n_failed == 5 and len(res.draws) == 15 and len(res.failures) == 5
    assert set(res.failures) == {3, 7, 11, 15, 19}
    assert set(res.draws.index).isdisjoint(res.failures)
    assert np.all(res.intervals["n_ok"] == 15) and np.all(res.intervals["n_failed"] == 5)
    assert "20 replicates (5 failed)" in res.summary()
    assert "RuntimeError: did not converge (5)" in res.summary()

    def broken(self, df):
        raise RuntimeError("did not converge")

    monkeypatch.setattr(Replicator, "refit", broken)
    with pytest.raises(RuntimeError, match="every bootstrap replicate failed"):
        fit_small.bootstrap(5, seed=1, ci="percentile", n_jobs=1, progress=False)


def test_cluster_resample_draws_whole_clusters(fit_small):
    rep = Replicator.from_fit(fit_small)
    df = rep.resample(np.random.default_rng(0))
    orig = {tuple(map(tuple, g[["x", "m", "y"]].to_numpy().round(12)))
            for _, g in simulate(40, 5, seed=11).groupby("cl")}
    groups = list(df.groupby("cl"))
    assert len(groups) == 40 and len(df) == 200
    assert all(tuple(map(tuple, g[["x", "m", "y"]].to_numpy().round(12))) in orig
               for _, g in groups)
    assert df.groupby("cl").ngroups == 40


def test_parametric_draws_recover_the_model():
    # data drawn from a fitted model and refitted give back its estimates;
    # observed covariates are kept ("fixed") or redrawn ("random")
    df = simulate(1500, (2, 9), seed=21)
    fit = ms.fit(MODEL, df, cluster="cl")
    theta, se = fit.estimation.theta, np.sqrt(np.diag(fit.estimation.vcov))
    for covariates in ("fixed", "random"):
        rep = Replicator.from_fit(fit, covariates)
        sim = rep.simulate(np.random.default_rng(5))
        assert np.array_equal(sim.groupby("cl").size().to_numpy(),
                              df.groupby("cl").size().to_numpy())
        same_x = np.allclose(sim["x"].to_numpy(), df.sort_values("cl", kind="stable")["x"])
        assert same_x == (covariates == "fixed")
        refit = ms.fit(MODEL, sim, cluster="cl")
        z = (refit.estimation.theta - theta) / se
        assert np.all(np.abs(z) < 4.5), (covariates, z)


def test_single_level_bootstrap(hs):
    fit = ms.fit("x4 ~ a*x1\nx5 ~ b*x4 + x1\nab := a*b", hs)
    rows = fit.bootstrap(30, seed=2, n_jobs=1, progress=False, jackknife_groups=20)
    par = fit.bootstrap(30, seed=2, type="parametric", ci="percentile", n_jobs=1,
                        progress=False)
    assert rows.method == "bootstrap-rows-bca"
    assert "nonparametric (rows) bootstrap" in rows.headline
    assert "jackknife over 301 rows (grouped: 20 random groups" in rows.summary()
    for res in (rows, par):
        ab = res.intervals.set_index("lhs").loc["ab"]
        assert ab["ci_lower"] < ab["est"] < ab["ci_upper"]
        wald = fit.estimates.set_index("lhs").loc["ab"]
        assert 0.4 < ab["se"] / wald["se"] < 2.5


def test_bad_arguments(fit_small):
    with pytest.raises(ValueError, match="type must be"):
        fit_small.bootstrap(10, type="wild")
    with pytest.raises(ValueError, match="ci must be"):
        fit_small.bootstrap(10, ci="bc")
    with pytest.raises(ValueError, match="covariates must be"):
        fit_small.bootstrap(10, type="parametric", covariates="some")


# ---------------------------------------------------------------------------
# Arguments are checked before any draw or refit
# ---------------------------------------------------------------------------

@pytest.fixture
def no_work(monkeypatch):
    """Make any refit or draw fail loudly, so that errors must come before them."""
    def refuse(*args, **kwargs):
        raise AssertionError("no refit or draw may start before the arguments are checked")
    monkeypatch.setattr(iv.Replicator, "from_fit", refuse)
    monkeypatch.setattr(iv, "_run_tasks", refuse)
    monkeypatch.setattr(iv, "defined_draws", refuse)


@pytest.mark.parametrize("kwargs, words", [
    ({"ci_level": 95}, r"ci_level=95 is not a confidence level: did you mean ci_level=0\.95\?"),
    ({"ci_level": 1.0}, "strictly between 0 and 1"),
    ({"ci_level": 0}, "strictly between 0 and 1"),
    ({"ci_level": -0.9}, "strictly between 0 and 1"),
    ({"ci_level": "95%"}, "must be a number between 0 and 1 such as 0.95, not '95%'"),
    ({"ci_level": float("nan")}, "strictly between 0 and 1"),
    ({"seed": "abc"}, "seed must be a whole number >= 0 such as 1.*not 'abc'"),
    ({"seed": -1}, "seed must be a whole number"),
    ({"seed": 1.5}, "seed must be a whole number"),
])
def test_interval_arguments(fit_small, no_work, kwargs, words):
    with pytest.raises(ms.ModelSpecificationError, match=words):
        fit_small.monte_carlo(**kwargs)
    with pytest.raises(ms.ModelSpecificationError, match=words):
        fit_small.bootstrap(10, n_jobs=1, **kwargs)


def test_deprecated_level_is_checked_too(fit_small, no_work):
    with pytest.raises(ms.ModelSpecificationError, match=r"did you mean level=0\.95\?"):
        fit_small.monte_carlo(level=95)
    with pytest.raises(ms.ModelSpecificationError, match=r"did you mean level=0\.9\?"):
        fit_small.bootstrap(10, level=90)


@pytest.mark.parametrize("n", ["abc", 0, 1, 2.5, True, None, -5])
def test_counts_must_be_whole_numbers(fit_small, no_work, n):
    with pytest.raises(ms.ModelSpecificationError, match="n_draws must be a whole number, "
                                                         "at least 2"):
        fit_small.monte_carlo(n)
    with pytest.raises(ms.ModelSpecificationError, match="n_boot must be a whole number, "
                                                         "at least 2"):
        fit_small.bootstrap(n)


def test_other_bootstrap_arguments(fit_small, no_work):
    with pytest.raises(ms.ModelSpecificationError, match="jackknife_groups must be"):
        fit_small.bootstrap(10, jackknife_groups=0)
    with pytest.raises(ms.ModelSpecificationError, match="n_jobs must be a whole number"):
        fit_small.bootstrap(10, n_jobs="all")
    with pytest.raises(ms.ModelSpecificationError, match="covariates must be 'fixed' or "
                                                         "'random', not 'some'"):
        fit_small.bootstrap(10, covariates="some")


def test_accepted_seeds_and_counts(fit_small):
    a = fit_small.monte_carlo(np.int64(200), seed=np.int64(3))
    b = fit_small.monte_carlo(200.0, seed=3)
    pd.testing.assert_frame_equal(a.draws, b.draws)
    assert a.seed == 3 and a.n_requested == 200
    c = fit_small.monte_carlo(200, seed=[3, 4])
    assert not np.allclose(c.draws.to_numpy(), a.draws.to_numpy())


# ---------------------------------------------------------------------------
# Progress
# ---------------------------------------------------------------------------

def test_progress_text_on_a_stream():
    buf = io.StringIO()
    with Progress(5, "boot", enabled=True, delay=0.0, file=buf) as bar:
        for _ in range(5):
            bar.update()
            time.sleep(0.11)
    out = buf.getvalue()
    assert out.startswith("\rboot:") and out.endswith("\n")
    assert "100%|" in out and "5/5" in out

    quiet = io.StringIO()
    with Progress(5, "boot", enabled=True, delay=10.0, file=quiet) as bar:
        bar.update(5)
    assert quiet.getvalue() == ""   # finished before the delay
    off = io.StringIO()
    with Progress(5, enabled=None, delay=0.0, file=off) as bar:  # not a terminal
        bar.update(5)
    assert off.getvalue() == ""
    assert format_line("", 0, 0, 0.0).startswith("100%")


def test_bootstrap_progress_goes_to_stderr(fit_small, capsys, monkeypatch):
    monkeypatch.setattr(Progress, "interval", 0.0)
    monkeypatch.setattr(Progress, "delay_default", 0.0)
    fit_small.bootstrap(4, seed=1, ci="percentile", n_jobs=1, progress=True)
    err = capsys.readouterr().err
    assert "cluster bootstrap:" in err and "4/4" in err
    fit_small.bootstrap(4, seed=1, ci="percentile", n_jobs=1, progress=False)
    assert capsys.readouterr().err == ""


def test_refits_use_the_fit_options(demo):
    # missing-data mode, centring and estimator go to every refit (MLR's point
    # estimates are ML's, so replicates skip the sandwich)
    missing = pd.read_csv(Path(__file__).parent / "fixtures" / "Demo.twolevel.missing.csv")
    model = "level: within\n y1 ~ a*x1\nlevel: between\n y1 ~ w1"
    fiml = ms.fit(model, missing, cluster="cluster", missing="fiml")
    opts = Replicator.from_fit(fiml).fit_options
    assert opts.missing == fiml.missing != "listwise"
    with pytest.raises(NotImplementedError, match="complete data"):
        fiml.bootstrap(5, type="parametric")
    df = simulate(30, 4, seed=3)
    mlr = ms.fit(MODEL, df, cluster="cl", estimator="MLR", center={"x": "grand"})
    opts = Replicator.from_fit(mlr).fit_options
    assert opts.estimator == "ML" and opts.center_map == {"x": "grand"}
    slopes = ms.fit("level: within\n s | y1 ~ x1\nlevel: between\n y1 ~ w1", demo,
                    cluster="cluster")
    with pytest.raises(NotImplementedError, match="random slopes"):
        slopes.bootstrap(5, type="parametric")


def test_defined_parameters_are_evaluated_on_arrays_by_node_type():
    # every node type of the expression tree has a vectorised rule (no per-draw loop)
    from msem_nb.inference.defined import _tree, _walk
    from msem_nb.syntax import parse
    expr = parse("y ~ a*x + b*z\nd := -a*b + exp(b)/2 - 3^a").statements[-1].expr
    a, b = np.array([0.5, 1.0, 2.0]), np.array([1.0, -1.0, 0.25])
    got = _walk(_tree(expr), {"a": a, "b": b})
    np.testing.assert_allclose(got, -a * b + np.exp(b) / 2 - 3.0 ** a)
