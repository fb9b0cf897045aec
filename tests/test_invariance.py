"""Measurement invariance against lavaan 0.6-14's fits and lavTestLRT
(tests/fixtures/groups/make_group_fixtures.R, invariance.json): Holzinger-Swineford by
school (configural, metric, scalar, strict; ML and MLR) and M1 across levels."""

import json

import pytest
from conftest import FIXTURES

import msem_nb as ms
from msem_nb.errors import ModelSpecificationError

REF = json.loads((FIXTURES / "groups" / "invariance.json").read_text())
HS = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9"
M1 = ("level: 1\n fw =~ y1 + y2 + y3\n fw ~ x1 + x2 + x3\n"
      "level: 2\n fb =~ y1 + y2 + y3\n fb ~ w1 + w2")


@pytest.fixture(scope="module", params=["ML", "MLR"])
def groups(request, hs):
    return request.param, ms.invariance(HS, hs, group="school", estimator=request.param)


def test_steps_and_fit_match_lavaan(groups):
    est, res = groups
    assert list(res.table.index) == ["configural", "metric", "scalar", "strict"]
    for ref in REF[est]:
        row = res.table.loc[ref["model"]]
        assert row["df"] == ref["df"]
        for key in ("chisq", "cfi", "rmsea") + (("chisq_scaled", "cfi_robust", "rmsea_robust")
                                                if est == "MLR" else ()):
            assert row[key] == pytest.approx(ref[key], rel=1e-3, abs=1e-4), (ref["model"], key)


def test_differences_match_lavtestlrt(groups):
    """ML: chi-square differences; MLR: lavaan's default scaled difference (2001)."""
    est, res = groups
    for prev, ref in zip(REF[est], REF[est][1:]):
        row = res.table.loc[ref["model"]]
        assert row["compared_with"] == prev["model"]
        assert row["delta_df"] == ref["delta_df"]
        assert row["delta_chisq"] == pytest.approx(ref["delta_chisq"], rel=1e-3), ref["model"]
        assert row["delta_pvalue"] == pytest.approx(ref["pvalue"], rel=2e-3, abs=1e-6)
        key = "cfi_robust" if est == "MLR" else "cfi"
        assert row["delta_cfi"] == pytest.approx(ref[key] - prev[key], abs=1e-4)
    assert "Satorra-Bentler 2001" in res.method if est == "MLR" else "difference" in res.method


@pytest.mark.parametrize("est", ["ML", "MLR"])
def test_cross_level_invariance_of_m1(demo, est):
    res = ms.invariance(M1, demo, cluster="cluster", estimator=est)
    ref = REF[f"M1_cross_level_{est}"]["cross_level"]
    row = res.table.loc["cross-level"]
    assert row["compared_with"] == "configural"
    assert row["df"] == ref["df"] and row["delta_df"] == ref["delta_df"]
    assert row["chisq"] == pytest.approx(ref["chisq"], rel=1e-3)
    assert row["delta_chisq"] == pytest.approx(ref["delta_chisq"], rel=1e-3)
    assert row["delta_pvalue"] == pytest.approx(ref["pvalue"], rel=2e-3)
    # the within and between loadings of each indicator are one parameter now
    est_tab = res.fits["cross-level"].estimates
    loads = est_tab[est_tab.op == "=~"].set_index(["level", "rhs"])["est"]
    for y in ("y2", "y3"):
        assert loads[("within", y)] == pytest.approx(loads[("between", y)], rel=1e-12)


def test_two_level_groups_add_cross_level_on_metric():
    import pandas as pd
    data = pd.read_csv(FIXTURES / "groups" / "Demo.twolevel.groups.csv")
    model = "level: 1\n fw =~ y1 + y2 + y3\nlevel: 2\n fb =~ y1 + y2 + y3"
    res = ms.invariance(model, data, group="g", cluster="cluster", strict=False, quiet=True)
    assert list(res.table.index) == ["configural", "metric", "scalar", "cross-level"]
    assert res.table.loc["cross-level", "compared_with"] == "metric"
    # equal across groups at both levels, and across levels: one free loading per indicator
    est = res.fits["cross-level"].estimates
    loads = est[(est.op == "=~") & (est.rhs == "y2")]["est"].to_numpy()
    assert len(loads) == 4 and loads.max() - loads.min() < 1e-10
    assert "<table" in res._repr_html_() and "cross-level" in str(res)


def test_loadings_figure_has_a_series_per_group(hs):
    res = ms.invariance(HS, hs, group="school", strict=False)
    fig = res.figure()
    assert [t.name for t in fig.data] == ["Pasteur", "Grant-White"]
    ticks = list(fig.layout.xaxis.ticktext)
    assert ticks[:3] == ["visual =~ x1", "visual =~ x2", "visual =~ x3"]
    conf = res.fits["configural"].estimates
    x2 = conf[(conf.rhs == "x2") & (conf.op == "=~") & (conf.group == "Grant-White")]
    assert fig.data[1].y[1] == pytest.approx(x2["est"].iloc[0])
    # the interval of a free loading, none for the marker
    assert fig.data[1].error_y.array[1] == pytest.approx(x2["ci_upper"].iloc[0] - x2["est"].iloc[0])
    assert fig.data[1].error_y.array[0] == 0


def test_invariance_needs_groups_or_levels(hs):
    with pytest.raises(ModelSpecificationError, match="group="):
        ms.invariance(HS, hs)
    with pytest.raises(ModelSpecificationError, match="two-level"):
        ms.invariance(HS, hs, group="school", across_levels=True)


def test_compare_of_two_steps_agrees_with_the_table(hs):
    res = ms.invariance(HS, hs, group="school", strict=False)
    cmp = ms.compare(res.fits["configural"], res.fits["metric"], names=["configural", "metric"])
    row = cmp.table.loc["metric"]
    assert row["chisq_diff"] == pytest.approx(res.table.loc["metric", "delta_chisq"], rel=1e-10)
    assert row["df_diff"] == res.table.loc["metric", "delta_df"]
    other = ms.fit(HS, hs.assign(school=hs["school"].iloc[::-1].to_numpy()), group="school")
    with pytest.raises(Exception, match="different data"):
        ms.compare(res.fits["configural"], other)


def test_grand_mean_centring_uses_the_whole_sample(hs):
    fit = ms.fit("x4 ~ x1", hs, group="school", center={"x1": "grand"})
    data = fit.data
    total = sum(d.nobs * d.mean[d.names.index("x1")] for d in data.parts) / data.nobs
    assert total == pytest.approx(0.0, abs=1e-12)
    assert abs(data.parts[0].mean[data.parts[0].names.index("x1")]) > 1e-3
