"""Level-specific fit (Ryu & West 2009) against lavaan 0.6-14 fits of the partially
saturated models of the tutorial model M1 (tests/fixtures/levelfit/make_levelfit_fixtures.R:
the lavaan models, each level saturated by free variances and covariances of all its
observed variables)."""

import json
import math

import pandas as pd
import pytest
from conftest import FIXTURES

import msem_nb as ms
from msem_nb.inference.levelfit import AUTO_MAX_PARAMETERS, level_fit_size
from msem_nb.model.partable import build_partable
from msem_nb.model.saturate import saturate_levels, saturated_npar
from msem_nb.syntax import parse
from msem_nb.teaching.examples import simulate_factor_data

REF = json.loads((FIXTURES / "levelfit" / "M1_levelfit.json").read_text())
M1 = REF["models"]["full"]


@pytest.fixture(scope="module", params=["ML", "MLR"])
def case(request, demo):
    fit = ms.fit(M1, demo, cluster="cluster", estimator=request.param)
    return request.param, fit.fit_measures


@pytest.mark.parametrize("level", ["within", "between"])
def test_level_chisq_and_df_match_lavaans_partially_saturated_fits(case, level):
    est, fm = case
    ref = REF[est][f"level_{level}"]
    assert fm[f"df_{level}"] == ref["df"]
    assert fm[f"baseline_df_{level}"] == ref["baseline_df"]
    # lavaan's saturated fit stops a little short of the maximum (see test_lavaan_agreement)
    assert fm[f"chisq_{level}"] == pytest.approx(ref["chisq"], rel=1e-3, abs=1e-3)
    assert fm[f"baseline_chisq_{level}"] == pytest.approx(ref["baseline_chisq"], rel=1e-3)
    assert fm[f"pvalue_{level}"] == pytest.approx(
        REF[est][f"ps_{level}"]["pvalue"], rel=1e-3, abs=1e-3)


@pytest.mark.parametrize("level", ["within", "between"])
def test_level_cfi_tli_rmsea(case, level):
    est, fm = case
    ref = REF[est][f"level_{level}"]
    assert fm[f"cfi_{level}"] == pytest.approx(ref["cfi"], rel=1e-3, abs=1e-4)
    assert fm[f"tli_{level}"] == pytest.approx(ref["tli"], rel=1e-3, abs=1e-4)
    # N rows within, J clusters between (lavaan divides by N at both levels)
    assert fm[f"rmsea_n_{level}"] == ref["n"]
    assert fm[f"rmsea_{level}"] == pytest.approx(ref["rmsea"], rel=2e-3, abs=1e-4)


def test_between_rmsea_is_lavaans_times_sqrt_n_over_j(demo):
    fm = ms.fit(M1, demo, cluster="cluster").fit_measures
    lav = REF["ML"]["ps_between"]["rmsea"]
    assert lav > 0.01    # a case where the two differ
    assert fm["rmsea_between"] == pytest.approx(lav * math.sqrt(REF["nobs"] / REF["nclusters"]),
                                                rel=2e-3)
    assert fm["rmsea_within"] == pytest.approx(REF["ML"]["ps_within"]["rmsea"], abs=1e-4)


@pytest.mark.parametrize("level", ["within", "between"])
def test_scaled_level_tests_under_mlr(demo, level):
    fm = ms.fit(M1, demo, cluster="cluster", estimator="MLR").fit_measures
    ref = REF["MLR"][f"level_{level}"]
    assert fm[f"chisq_scaling_factor_{level}"] == pytest.approx(ref["chisq_scaling_factor"],
                                                                rel=2e-3)
    assert fm[f"chisq_scaled_{level}"] == pytest.approx(ref["chisq_scaled"], rel=2e-3,
                                                        abs=1e-3)
    assert fm[f"pvalue_scaled_{level}"] == pytest.approx(
        REF["MLR"][f"ps_{level}"]["pvalue.scaled"], rel=2e-3, abs=1e-3)
    assert fm[f"cfi_scaled_{level}"] == pytest.approx(ref["cfi_scaled"], rel=1e-3, abs=1e-4)
    assert fm[f"rmsea_scaled_{level}"] == pytest.approx(ref["rmsea_scaled"], rel=3e-3, abs=1e-4)


def test_ml_has_no_scaled_level_measures(case):
    est, fm = case
    assert ("chisq_scaled_within" in fm) == (est == "MLR")


def test_saturated_level_has_free_covariances_and_no_latent_variables():
    pt = build_partable(parse(M1))
    ps = saturate_levels(pt, {2})
    tab = ps.table
    between = tab[tab.level == "between"]
    assert not (between.op.isin(["=~", "~"])).any()
    assert ps.blocks[1].lv == ()
    names = ["y1", "y2", "y3", "w1", "w2"]
    free = {tuple(sorted((r.lhs, r.rhs))) for r in between.itertuples()
            if r.op == "~~" and r.free > 0}
    # every pair is free except the fixed covariates' own moments (fixed.x)
    expected = {tuple(sorted((a, c))) for i, a in enumerate(names) for c in names[i:]}
    expected -= {("w1", "w1"), ("w1", "w2"), ("w2", "w2")}
    assert free == expected
    # the within block is the model's, row for row
    def rows(t):
        return sorted((r.lhs, r.op, r.rhs, r.free > 0, r.exo) for r in
                      t[t.level == "within"].itertuples())
    assert rows(tab) == rows(pt.table)


def test_a_saturated_model_has_zero_level_chisq(demo):
    sat = ("level: within\n y1 ~~ y2 + y3\n y2 ~~ y3\n"
           "level: between\n y1 ~~ y2 + y3\n y2 ~~ y3\n")
    fm = ms.fit(sat, demo, cluster="cluster").fit_measures
    for level in ("within", "between"):
        assert fm[f"df_{level}"] == 0
        assert fm[f"chisq_{level}"] == pytest.approx(0.0, abs=1e-6)


def test_single_level_and_random_slope_fits_have_no_level_measures(demo, hs):
    fm = ms.fit("visual =~ x1 + x2 + x3", hs).fit_measures
    assert "chisq_within" not in fm
    slope = ms.fit("level: within\n s | y1 ~ x1\nlevel: between\n y1 ~ w1", demo,
                   cluster="cluster").fit_measures
    assert "chisq_within" not in slope


def test_summary_html_and_report_show_the_level_specific_fit(demo):
    fit = ms.fit(M1, demo, cluster="cluster", estimator="MLR")
    text = fit.summary()
    assert "Level-specific fit (Ryu & West 2009)" in text
    line = next(ln for ln in text.splitlines() if ln.strip().startswith("Test statistic")
                and "Standard" not in ln and text.index(ln) > text.index("Level-specific"))
    assert line.split()[-2:] == [f"{fit.fit_measures['chisq_within']:.3f}",
                                 f"{fit.fit_measures['chisq_between']:.3f}"]
    assert "RMSEA divides by n =" in text
    assert "msem-levelfit" in fit._repr_html_()
    md = fit.report().to_markdown()
    assert "CFI (between, level-specific)" in md
    assert "Scaled test statistic (MLR) (within, level-specific)" in md


def test_level_fit_false_leaves_the_level_measures_out(demo):
    with_it = ms.fit(M1, demo, cluster="cluster").fit_measures
    without = ms.fit(M1, demo, cluster="cluster", level_fit=False).fit_measures
    assert "chisq_within" in with_it and "chisq_within" not in without
    assert {k: v for k, v in with_it.items() if k in without} == without


def test_auto_computes_the_level_fit_of_a_small_model(demo):
    """M1's partially saturated models are small: "auto" (the default) computes them,
    with nothing said, the same as level_fit=True."""
    fit = ms.fit(M1, demo, cluster="cluster")
    assert level_fit_size(fit.partable) <= AUTO_MAX_PARAMETERS
    assert fit.level_fit is True
    assert not any("level-specific" in m for m in fit.messages)
    assert fit.fit_measures["chisq_within"] == pytest.approx(
        ms.fit(M1, demo, cluster="cluster", level_fit=True).fit_measures["chisq_within"],
        rel=1e-12)


def test_auto_leaves_out_the_level_fit_of_a_wide_model_and_says_so():
    """An 18-indicator two-level CFA: a saturated level alone has 18 * 21 / 2 = 189 free
    parameters, with the other level's model over the limit, so "auto" leaves the level
    fit out with a message naming level_fit=True; level_fit=True computes it."""
    df = simulate_factor_data(200, (5, 25), n_indicators=18, seed=1).drop(columns=["x1", "x2"])
    ys = " + ".join(f"y{i}" for i in range(1, 19))
    model = f"level: within\n fw =~ {ys}\nlevel: between\n fb =~ {ys}\n"
    auto = ms.fit(model, df, cluster="cluster")
    size = level_fit_size(auto.partable)
    assert size > AUTO_MAX_PARAMETERS and size >= 189 + 18
    assert auto.level_fit is False
    (note,) = [m for m in auto.messages if "level-specific fit" in m]
    assert "level_fit=True" in note and str(size) in note
    assert "chisq_within" not in auto.fit_measures and "chisq" in auto.fit_measures
    forced = ms.fit(model, df, cluster="cluster", level_fit=True)
    assert not any("level-specific fit" in m for m in forced.messages)
    assert math.isfinite(forced.fit_measures["chisq_within"])


@pytest.mark.parametrize("bad", ["yes", None, 2])
def test_level_fit_takes_true_false_or_auto(demo, bad):
    with pytest.raises(ms.MsemError, match="level_fit must be True, False or 'auto'"):
        ms.fit(M1, demo, cluster="cluster", level_fit=bad)


def test_level_fit_is_checked_before_the_data_and_the_fit(demo):
    """A bad level_fit is reported before any work: with data that would be refused
    too, the message is level_fit's (it used to come after the estimation)."""
    with pytest.raises(ms.MsemError, match="level_fit must be True, False or 'auto'"):
        ms.fit(M1, demo.iloc[:2], cluster="cluster", level_fit="yes")


@pytest.mark.parametrize("model, groups", [
    (M1, False),
    ("level: within\n fw =~ y1 + y2 + y3\n fw ~ x1 + x2\n y1 ~~ y2\n"
     "level: between\n fb =~ y1 + y2 + y3\n fb ~ w1\n y1 ~ x1\n", False),
    ("level: within\n y1 ~ a*x1 + x2\n y2 ~ a*x1\nlevel: between\n y1 ~ w1 + w2\n y2 ~ w1\n",
     False),
    (M1, True),
])
def test_the_cheap_size_of_a_partially_saturated_model_is_its_table_s(model, groups):
    # level_fit="auto" sizes the level-specific fit on every fit without building tables
    df = pd.read_csv(FIXTURES / "groups" / "Demo.twolevel.groups.csv")
    fit = ms.fit(model, df, cluster="cluster", group="g" if groups else None, level_fit=False)
    pt = fit.partable
    for levels in ({1}, {2}):
        assert saturated_npar(pt, levels) == saturate_levels(pt, levels).npar
