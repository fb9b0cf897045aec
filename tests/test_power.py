"""ms.power: input checks, the analysis model, formulas, engines, cache, output, CLI.

The statistical behaviour with many replications (type I error, power over
J, bias of latent vs observed cluster means) is in test_power_stats.py.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import msem_nb as ms
from msem_nb.model.partable import build_partable
from msem_nb.planning.grid import make_designs
from msem_nb.planning.population import freed_model, scenario_values
from msem_nb.planning.population import resolve_vary as resolve
from msem_nb.planning.study import FAILED, NOT_CONVERGED, OK
from msem_nb.planning.summary import summarize
from msem_nb.syntax import parse
from msem_nb.teaching.simulate import (
    cluster_sizes,
    draw_data,
    population_table,
    population_values,
    table_moments,
)

POP = """
level: within
  y ~ 0.2*x
level: between
  y ~ 0.5*w
  y ~~ 0.2*y
"""
FAST = dict(progress=False)


def plan_small(**kw):
    args = dict(n_clusters=[10, 20], cluster_size=4, reps=6, seed=3, **FAST)
    args.update(kw)
    return ms.power(POP, **args)


# -- bad input: a library error before any replication runs ----------------------

CALLS: list[int] = []


def counting(df):
    CALLS.append(1)
    return df


@pytest.mark.parametrize("kw, words", [
    (dict(vary={"y ~ nosuch [between]": [0.2]}), ["not a parameter", "y ~ w [between]"]),
    (dict(vary={"y ~ w [between]": []}), ["empty"]),
    (dict(vary={"icc(y)": [1.5]}), ["ICC"]),
    (dict(vary={"icc(nosuch)": [0.2]}), ["not an observed variable"]),
    (dict(n_clusters=[]), ["n_clusters is empty"]),
    (dict(n_clusters=[0, 10]), ["n_clusters must be at least 1"]),
    (dict(n_clusters=[1]), ["at least 2 clusters"]),
    (dict(cluster_size=0), ["cluster_size must be at least 1"]),
    (dict(cluster_size=(5, 2)), ["maximum is below the minimum"]),
    (dict(cluster_size=[]), ["empty list"]),
    (dict(reps=0), ["reps must be at least 1"]),
    (dict(reps=2.5), ["whole number"]),
    (dict(seed=-1), ["non-negative"]),
    (dict(seed="abc"), ["seed must be"]),
    (dict(seed=1.5), ["seed must be"]),
    (dict(alpha=5), ["alpha"]),
    (dict(missing={"nosuch": 0.1}), ["not a variable"]),
    (dict(missing={"y": 1.2}), ["[0, 1)"]),
    (dict(n_jobs=0), ["n_jobs"]),
    (dict(backend="spark"), ["backend"]),
    (dict(analysis="level: within\n y ~ x + q\nlevel: between\n y ~ w"), ["q"]),
    (dict(cache="somewhere", seed=None), ["give a seed"]),
])
def test_bad_input_is_refused_before_any_work(kw, words):
    CALLS.clear()
    args = dict(n_clusters=[10, 20], cluster_size=4, reps=5, seed=1, transform=counting, **FAST)
    args.update(kw)
    if "analysis" in kw:
        args.pop("transform")  # the analysis check applies without a transform
    with pytest.raises(ms.ModelSpecificationError) as err:
        ms.power(POP, **args)
    for w in words:
        assert w in str(err.value)
    assert CALLS == []


def test_negative_definite_population_and_slopes_are_refused():
    with pytest.raises(ms.ModelSpecificationError, match="positive"):
        ms.power("level: within\n y ~~ -1*y\nlevel: between\n y ~~ 0.2*y", n_clusters=10,
                 reps=2, seed=1, **FAST)
    with pytest.raises(ms.ModelSpecificationError, match="random slopes"):
        ms.power("level: within\n s | y ~ x\nlevel: between\n y ~~ 0.2*y", n_clusters=10,
                 reps=2, seed=1, **FAST)


def test_required_and_figure_refuse_unknown_parameters():
    plan = plan_small()
    with pytest.raises(ms.ModelSpecificationError, match="not a parameter"):
        plan.required("y ~ nosuch [between]")
    with pytest.raises(ms.ModelSpecificationError, match="add the level"):
        plan.required("y ~~ y")
    with pytest.raises(ms.ModelSpecificationError, match="power must be between"):
        plan.required("y ~ w [between]", power=80)
    with pytest.raises(ms.ModelSpecificationError, match="cost_unit"):
        plan.required("y ~ w [between]", cost_unit=-1)
    with pytest.raises(ms.ModelSpecificationError, match="not a parameter"):
        plan.figure("nosuch ~ x")


# -- the analysis model and the population values ------------------------------------

def test_freed_model_keeps_scale_and_drops_covariate_moments():
    pop = """
level: within
  fw =~ 1*y1 + 0.8*y2 + 0.6*y3
  fw ~ 0.3*x
  x ~~ 2*x
level: between
  fb =~ NA*y1 + 0.9*y2 + 0.7*y3
  fb ~~ 1*fb
  fb ~ 0.4*w
  w ~~ 1*w
  w ~ 0.5*1
"""
    text = freed_model(parse(pop))
    pt = build_partable(parse(text))  # the table fit() would build
    tab = pt.table.set_index(["lhs", "op", "rhs", "level"])
    assert tab.loc[("fw", "=~", "y1", "within"), "free"] == 0     # first loading keeps 1
    assert tab.loc[("fw", "=~", "y2", "within"), "free"] > 0      # others freed
    assert tab.loc[("fw", "~", "x", "within"), "free"] > 0
    assert tab.loc[("fb", "~~", "fb", "between"), "free"] == 0    # NA* first loading: var kept
    assert tab.loc[("fb", "=~", "y1", "between"), "free"] > 0
    # covariates' moments are left to fixed_x: exogenous rows, not free
    assert tab.loc[("x", "~~", "x", "within"), "exo"]
    assert tab.loc[("w", "~~", "w", "between"), "exo"]
    assert "start(0.8)*y2" in text and "2*x" not in text


def test_vary_icc_reaches_the_icc_and_paths_move_with_labels():
    pt = population_table(POP)
    base = population_values(pt)
    keys = resolve(pt, {"icc(y)": [0.3], "y ~ w [between]": [0.4]})
    vals = scenario_values(pt, base, keys, [("icc(y)", 0.3), ("y ~ w [between]", 0.4)])
    mom = table_moments(pt, vals)
    assert mom["icc"]["y"] == pytest.approx(0.3, abs=1e-12)
    names, _, cov = mom["between"]
    assert cov[names.index("y"), names.index("w")] == pytest.approx(0.4)   # var(w) = 1
    with pytest.raises(ms.ModelSpecificationError, match="model explains already"):
        scenario_values(pt, base, keys, [("icc(y)", 0.01), ("y ~ w [between]", 2.0)])


# -- the formulas (Muthen & Muthen 2002) on hand-made replications -------------------

def test_summary_formulas():
    designs = make_designs([10], 5, None)
    rows = [{"lhs": "y", "op": "~", "rhs": "x", "level": "", "free": 1},
            {"lhs": "y", "op": "~1", "rhs": "", "level": "", "free": 2}]
    est = np.array([[0.1, 0.2], [0.3, -0.1], [0.5, 0.0], [9.0, 9.0], [0.2, 0.1]])
    se = np.array([[0.1, 0.1], [0.1, 0.1], [0.2, 0.05], [1.0, 1.0], [0.1, 0.1]])
    lower, upper = est - 1.96 * se, est + 1.96 * se
    p = np.array([[0.3, 0.04], [0.01, 0.2], [0.02, 0.5], [0.0, 0.0], [0.049, np.nan]])
    status = np.array([OK, OK, OK, FAILED, NOT_CONVERGED], dtype=np.int8)
    res = {0: {"est": est, "se": se, "pvalue": p, "lower": lower, "upper": upper,
               "status": status, "improper": np.array([0, 1, 0, 0, 0], bool)}}
    truth = [np.array([0.3, 0.0])]
    tab = summarize(designs, res, rows, [0, 1], truth, 0.05, [])
    a, b = tab.iloc[0], tab.iloc[1]
    used = est[:3, 0]
    assert a["mean_est"] == pytest.approx(used.mean())
    assert a["sd_est"] == pytest.approx(used.std(ddof=1))
    assert a["bias"] == pytest.approx(used.mean() - 0.3)
    assert a["rel_bias"] == pytest.approx((used.mean() - 0.3) / 0.3)
    assert a["mean_se"] == pytest.approx(np.mean([0.1, 0.1, 0.2]))
    assert a["se_sd_ratio"] == pytest.approx(np.mean([0.1, 0.1, 0.2]) / used.std(ddof=1))
    # intervals 0.1 +- .196 (holds .3? no: upper .296), .3 +- .196 yes, .5 +- .392 yes
    assert a["coverage"] == pytest.approx(2 / 3)
    assert a["power"] == pytest.approx(2 / 3)               # p = .01, .02 < .05
    assert np.isnan(b["rel_bias"]) and b["true"] == 0       # true value 0
    assert b["power"] == pytest.approx(1 / 3)
    assert (a["converged"], a["improper"], a["reps"], a["used"], a["failed"],
            a["not_converged"]) == (pytest.approx(0.6), pytest.approx(0.2), 5, 3, 1, 1)


# -- one replication is a real fit ---------------------------------------------------

def test_a_replication_is_the_fit_of_its_data_set():
    plan = ms.power(POP, n_clusters=15, cluster_size=(3, 6), reps=1, seed=11, **FAST)
    pt = population_table(POP)
    rng = np.random.default_rng(np.random.SeedSequence(11, spawn_key=(0, 0)))
    df = draw_data(rng, table_moments(pt), cluster_sizes(rng, 15, (3, 6)))
    ref = ms.fit(plan.analysis, df, cluster="cluster").estimates
    ref = ref[ref["free"]].assign(parameter=lambda d: [
        f"{a} {o} {b} [{lv}]" if o != "~1" else f"{a} ~1 [{lv}]"
        for a, o, b, lv in zip(d["lhs"], d["op"], d["rhs"], d["level"])])
    got = plan.table.set_index("parameter")
    for _, r in ref.iterrows():
        assert got.loc[r["parameter"], "mean_est"] == pytest.approx(r["est"], abs=2e-4)
        assert got.loc[r["parameter"], "mean_se"] == pytest.approx(r["se"], rel=2e-3)


def test_a_failing_replication_is_counted_not_fatal():
    def sometimes(df):
        if df["y"].iloc[0] > 0.5:
            raise ValueError("bad luck")
        return df
    plan = plan_small(reps=12, transform=sometimes)
    per = plan.table.drop_duplicates("design")
    assert per["failed"].sum() > 0
    assert (per["failed"] + per["used"] + per["not_converged"] == per["reps"]).all()
    assert any("ValueError: bad luck" in e for e in plan.errors)
    assert plan.table["mean_est"].notna().all()


# -- engines: the same table whatever runs it ------------------------------------------

def test_identical_tables_for_n_jobs_and_a_dask_local_cluster():
    distributed = pytest.importorskip("distributed")
    # missing values (FIML) too: the holes are drawn from each replication's own seed
    kw = dict(n_clusters=[8, 16], cluster_size=(3, 5), reps=8, seed=21, missing={"y": 0.1},
              **FAST)
    one = ms.power(POP, n_jobs=1, **kw)
    two = ms.power(POP, n_jobs=2, chunk_size=3, **kw)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster):
        dask = ms.power(POP, backend="dask", chunk_size=4, **kw)
    assert (two.workers, dask.engine, dask.workers) == (2, "dask", 2)
    pd.testing.assert_frame_equal(one.table, two.table, check_exact=True)
    pd.testing.assert_frame_equal(one.table, dask.table, check_exact=True)
    assert one.table["used"].min() > 0


def test_dask_without_a_client_says_how_to_start_one():
    pytest.importorskip("distributed")
    with pytest.raises(ms.ModelSpecificationError, match="LocalCluster"):
        plan_small(backend="dask")


# -- interrupted and resumed -----------------------------------------------------------

STOP_AFTER: list[int] = []


def stopping(df):
    STOP_AFTER.append(1)
    if len(STOP_AFTER) == 9:
        raise KeyboardInterrupt
    return df


def test_an_interrupted_study_resumes_from_its_cache(tmp_path, capsys):
    kw = dict(n_clusters=[10, 20], cluster_size=4, reps=8, seed=5, chunk_size=4, **FAST)
    STOP_AFTER.clear()
    with pytest.raises(KeyboardInterrupt):
        ms.power(POP, cache=str(tmp_path), transform=stopping, **kw)
    assert "stopped; 2 of 4 chunks are saved" in capsys.readouterr().err
    STOP_AFTER.clear()
    STOP_AFTER.extend([0] * 100)   # no further stop
    resumed = ms.power(POP, cache=str(tmp_path), transform=stopping, **kw)
    assert resumed.cached == 2
    assert len(STOP_AFTER) == 100 + 8   # only the two missing chunks ran
    fresh = ms.power(POP, transform=stopping, **kw)
    pd.testing.assert_frame_equal(resumed.table, fresh.table, check_exact=True)


# -- output ----------------------------------------------------------------------------

def test_required_picks_the_cheapest_design_under_the_cost_model():
    plan = ms.power(POP, n_clusters=[10, 40], cluster_size=[3, 12], reps=20, seed=2, **FAST)
    tab = plan.table[plan.table["parameter"] == "y ~ w [between]"]
    reach = tab[tab["power"] >= 0.6]
    for cc, cu in ((1.0, 0.0), (0.0, 1.0), (10.0, 1.0)):
        best = plan.required("y ~ w [between]", 0.6, cost_cluster=cc, cost_unit=cu)
        cost = cc * reach["n_clusters"] + cu * reach["n_units"]
        assert best["cost"] == pytest.approx(cost.min())
        assert best["power"] >= 0.6
    assert plan.required("y ~ w [between]", 0.999) is None or \
        plan.required("y ~ w [between]", 0.999)["power"] >= 0.999


def test_vary_scenarios_give_one_required_row_each():
    plan = plan_small(vary={"y ~ w [between]": [0.0, 0.8]}, reps=10)
    assert list(plan.table.columns[:5]) == ["design", "n_clusters", "cluster_size", "n_units",
                                           "y ~ w [between]"]
    req = plan.required("y ~ w [between]", 0.5)
    assert len(req) == 2 and np.isnan(req.loc[req["y ~ w [between]"] == 0.0, "power"]).all()
    one = plan.required("y ~ w [between]", 0.5, where={"y ~ w [between]": 0.8})
    assert one is None or one["y ~ w [between]"] == 0.8


def test_figure_report_html_and_code(tmp_path):
    pytest.importorskip("plotly")
    pop = POP.replace("y ~ 0.5*w", "y ~ 0.5*w\n  # <b>not bold</b>")
    plan = ms.power(pop, n_clusters=[10, 20], cluster_size=[4, 8], reps=6, seed=3, **FAST)
    fig = plan.figure()
    assert len(fig.data) == 4          # two paths x two cluster sizes
    assert list(fig.data[0].x) == [10, 20]
    html = plan._repr_html_()
    assert "y ~ w [between]" in html and "<table>" in html
    rep = plan.report("y ~ w [between]")
    page = rep.html()
    assert "&lt;b&gt;not bold&lt;/b&gt;" in page and "<b>not bold</b>" not in page
    assert "Muthen" in page and "plotly" in page
    md = rep.markdown()
    assert "## Required design" in md and "| parameter |" in md
    assert rep.save(tmp_path / "p.md").read_text() == md
    with pytest.raises(ms.ModelSpecificationError, match=".html or .md"):
        rep.save(tmp_path / "p.pdf")
    # the exported code runs the same study
    code = plan.code()
    ns: dict = {}
    exec(compile(code.replace("seed=3)", "seed=3, progress=False)"), "<code>", "exec"), ns)
    pd.testing.assert_frame_equal(ns["plan"].table, plan.table, check_exact=True)


def test_three_level_models_are_refused_before_any_replication():
    """A three-level population (or analysis) model is refused by name, not run as
    replications that all fail."""
    pop = ("level: 1\n y ~ 0.3*x\nlevel: 2\n y ~~ 0.2*y\nlevel: 3\n y ~~ 0.1*y\n")
    with pytest.raises(ms.ModelSpecificationError, match="has 3 levels"):
        ms.power(pop, n_clusters=10, cluster_size=5, reps=2, seed=1, progress=False)
    two = "level: within\n y ~ 0.3*x\nlevel: between\n y ~~ 0.2*y\n"
    with pytest.raises(ms.ModelSpecificationError, match="analysis model has three levels"):
        ms.power(two, analysis="level: 1\n y ~ x\nlevel: 2\n y ~~ y\nlevel: 3\n y ~~ y\n",
                 n_clusters=10, cluster_size=5, reps=2, seed=1, progress=False)
