"""lavaan's default rules applied to the parameter table."""

import pickle

import numpy as np
import pandas as pd
import pytest

import msem_nb as ms
from msem_nb.model.partable import build_partable
from msem_nb.model.rows import COLUMNS
from msem_nb.syntax import parse


def table(model, **kw):
    return build_partable(parse(model), **kw).table


def row(t, lhs, op, rhs, level=None):
    sel = (t.lhs == lhs) & (t.op == op) & (t.rhs == rhs)
    if level is not None:
        sel &= t.level == level
    r = t[sel]
    assert len(r) == 1, (lhs, op, rhs, level)
    return r.iloc[0]


def test_marker_loading_fixed_at_one_and_na_frees_it():
    t = table("f =~ y1 + y2 + y3")
    assert row(t, "f", "=~", "y1").free == 0 and row(t, "f", "=~", "y1").ustart == 1
    assert row(t, "f", "=~", "y2").free > 0
    t = table("f =~ NA*y1 + y2 + y3\n f ~~ 1*f")
    assert row(t, "f", "=~", "y1").free > 0
    assert row(t, "f", "~~", "f").free == 0 and row(t, "f", "~~", "f").ustart == 1


def test_fixed_value_and_labels():
    t = table("f =~ y1 + 0.5*y2 + a*y3 + a*y4")
    assert row(t, "f", "=~", "y2").free == 0 and row(t, "f", "=~", "y2").ustart == 0.5
    assert row(t, "f", "=~", "y3").free == row(t, "f", "=~", "y4").free > 0


def test_single_indicator_residual_variance_is_zero():
    t = table("f =~ y1\n f ~ x1")
    r = row(t, "y1", "~~", "y1")
    assert r.free == 0 and r.ustart == 0


def test_exogenous_latents_covary_and_pure_outcomes_covary():
    t = table("f1 =~ y1 + y2 + y3\n f2 =~ y4 + y5 + y6\n z1 ~ f1\n z2 ~ f2")
    assert row(t, "f1", "~~", "f2").free > 0
    assert row(t, "z1", "~~", "z2").free > 0   # lavaan's auto.cov.y
    t = table("m ~ x\n y ~ m")
    assert not ((t.lhs == "m") & (t.op == "~~") & (t.rhs == "y")).any()


def test_fixed_x_rows_are_exogenous_and_fixed():
    t = table("y ~ x1 + x2")
    for lhs, rhs in [("x1", "x1"), ("x1", "x2"), ("x2", "x2")]:
        r = row(t, lhs, "~~", rhs)
        assert r.exo and r.free == 0
    assert row(t, "y", "~~", "y").free > 0


def test_covariate_given_a_variance_becomes_random():
    with pytest.warns(UserWarning, match="treated as random"):
        t = table("y ~ x1\n x1 ~~ x1")
    assert row(t, "x1", "~~", "x1").free > 0


def test_two_level_means_live_at_the_between_level():
    t = table("level: within\n f =~ y1 + y2 + y3\n f ~ x1\nlevel: between\n fb =~ y1 + y2 + y3\n fb ~ w1")
    for v in ("y1", "y2", "y3"):
        w = row(t, v, "~1", "", "within")
        assert w.free == 0 and w.ustart == 0
        assert row(t, v, "~1", "", "between").free > 0
    assert row(t, "x1", "~1", "", "within").exo      # within-only covariate: its mean, fixed
    assert row(t, "w1", "~1", "", "between").exo
    assert row(t, "fb", "~1", "", "between").free == 0


def test_single_level_meanstructure_default():
    assert not (table("f =~ y1 + y2 + y3").op == "~1").any()
    assert (table("f =~ y1 + y2 + y3", meanstructure=True).op == "~1").any()
    assert (table("f =~ y1 + y2 + y3\n y1 ~ 1").op == "~1").any()


def test_missing_level_block_is_an_error():
    with pytest.raises(ms.ModelSpecificationError, match="between"):
        table("level: within\n y1 ~ x1")


@pytest.mark.parametrize("model", [
    "level: 1\n fw =~ y1 + y2 + y3\nlevel: 3\n fb =~ y1 + y2 + y3",
    "level: 3\n y1 ~ x1",
    "level: school\n y1 ~ x1",
])
def test_level_labels_without_a_likelihood_fail_when_fitted(demo, model):
    # The parser accepts any level label; fitting needs within and between.
    assert ms.parse(model).levels
    with pytest.raises(ms.ModelSpecificationError, match="level"):
        ms.fit(model, demo, cluster="cluster")


def test_unknown_label_in_defined_parameter():
    with pytest.raises(ms.ModelSpecificationError, match="unknown label"):
        table("y ~ a*x\n ab := a*b")


def test_html_output_escapes_user_names(demo):
    bad = "<img src=x onerror=alert(1)>"
    df = demo.rename(columns={"cluster": bad})
    res = ms.fit("level: within\n y1 ~ x1\nlevel: between\n y1 ~ w1", df, cluster=bad)
    html = res._repr_html_()
    assert bad not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html


def test_columns_without_the_dataframe_are_the_dataframes_columns():
    # a fit reads ParTable.column (built from the records); the DataFrame, built
    # lazily, must hold the same values with the same dtypes
    model = ("level: 1\n f =~ y1 + a*y2 + a*y3\n f ~ x1\nlevel: 2\n fb =~ y1 + y2 + y3\n"
             " fb ~ w1\n d := a * 2")
    pt = build_partable(parse(model))
    assert "_frame" not in pt.__dict__ or pt.__dict__["_frame"] is None
    cols = {c: pt.column(c) for c in COLUMNS}
    assert pt.npar == int(cols["free"].max())
    lazy = pt.table
    for c in COLUMNS:
        got = lazy[c].to_numpy()
        assert cols[c].dtype == got.dtype or (cols[c].dtype == object and got.dtype == object), c
        same = (cols[c] == got) | (pd.isna(cols[c]) & pd.isna(got))
        assert np.all(same), c
    # a copy through pickle (power-study workers) still builds its table
    fresh = pickle.loads(pickle.dumps(build_partable(parse(model))))
    assert fresh.table.equals(lazy)
    with pytest.raises(ms.ModelSpecificationError, match=r"already the label of a parameter \(line 1\)"):
        build_partable(parse("f =~ y1 + a*y2 + y3\n a := 2"))
