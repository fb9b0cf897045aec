"""Several groups and sampling weights go through the units map too (issue 12 with 15).

A two-group two-level model (Demo.twolevel split by cluster parity) with a
variable shifted by 1e4, or multiplied by 1e3, is the same data in other
units: loadings and paths follow the change exactly (by the powers of the
scale), z-values do not change, and the log-likelihood moves by ``-n log c``,
to 1e-6 relative as tests/test_units.py asks of one group. Before the map
covered groups, the shifted fit stopped on a singular information matrix; so
did weighted fits (one and two levels) with a shifted covariate, checked last.
"""

import functools

import numpy as np
import pandas as pd
import pytest
from conftest import FIXTURES

import msem_nb as ms
from msem_nb.data.groups import MultiGroupData
from msem_nb.estimation.constraints import linear_constraints
from msem_nb.estimation.groups import prepare_groups
from msem_nb.estimation.options import FitOptions
from msem_nb.estimation.units import choose_units
from msem_nb.model.spec import build_spec

M1 = ("level: within\n fw =~ y1 + y2 + y3\n fw ~ x1 + x2 + x3\n"
      "level: between\n fb =~ y1 + y2 + y3\n fb ~ w1 + w2")


@functools.lru_cache(maxsize=None)
def _data():
    df = pd.read_csv(FIXTURES / "Demo.twolevel.csv")
    return df.assign(g=np.where(df["cluster"] % 2 == 0, "even", "odd"))


@functools.lru_cache(maxsize=None)
def _fit(var=None, kind=None, c=None, estimator="ML"):
    df = _data()
    if var is not None:
        df = df.assign(**{var: df[var] + c if kind == "shift" else df[var] * c})
    return ms.fit(M1, df, cluster="cluster", group="g", estimator=estimator)


def _power(row, var):
    """The power of the scale a free loading or path carries: +1 per outcome, -1 per
    predictor that is the changed variable."""
    return (row.lhs == var) * (row.op == "~") - (row.rhs == var) * (row.op == "~") \
        + (row.rhs == var) * (row.op == "=~")


@pytest.mark.parametrize("var,kind,c", [("x1", "shift", 1e4), ("y1", "shift", 1e4),
                                        ("w1", "shift", 1e4), ("y2", "scale", 1e3),
                                        ("x2", "scale", 1e3)])
@pytest.mark.parametrize("estimator", ["ML", "MLR"])
def test_two_group_estimates_follow_a_change_of_units(var, kind, c, estimator):
    base, moved = _fit(estimator=estimator), _fit(var, kind, c, estimator)
    assert base.converged and moved.converged
    e0, e1 = base.estimates, moved.estimates
    sel = (e0.op.isin(["~", "=~"]) & e0.free).to_numpy()
    assert sel.sum() == 18              # 9 loadings and paths per group, at both levels
    t0 = e0[sel]
    factor = np.array([c ** _power(r, var) if kind == "scale" else 1.0
                       for r in t0.itertuples()])
    if kind == "scale":
        assert (factor != 1.0).any()
    np.testing.assert_allclose(e1.est.to_numpy()[sel], t0.est.to_numpy() * factor,
                               rtol=1e-6)
    np.testing.assert_allclose(e1.se.to_numpy()[sel], t0.se.to_numpy() * factor, rtol=1e-6)
    np.testing.assert_allclose(e1.z.to_numpy()[sel], t0.z.to_numpy(), rtol=1e-6)
    # log-likelihood: -n log c for the n values of a modelled (not fixed) variable
    n = 0 if kind == "shift" or var in ("x1", "x2", "x3", "w1", "w2") else base.nobs
    assert moved.loglik == pytest.approx(base.loglik - n * np.log(c), rel=1e-6)


def test_the_map_of_two_groups_locates_every_group():
    """One location per variable, solved in every group's blocks (the system has an
    equation per variable and group), so shifts go into each group's intercepts."""
    pt = _fit().partable
    data, _ = prepare_groups(pt, _data(), "cluster", "g", FitOptions())
    assert isinstance(data, MultiGroupData) and data.ngroups == 2
    spec0 = build_spec(pt)
    units = choose_units(pt, spec0, data, linear_constraints(pt, pt.npar))
    assert units.located
    pooled = np.concatenate([d.value_counts()[None, :] for d in data.parts]).sum(axis=0)
    np.testing.assert_array_equal(data.value_counts(), pooled)


@functools.lru_cache(maxsize=None)
def _weighted(levels, var=None):
    df = pd.read_csv(FIXTURES / "Demo.twolevel.csv")
    rng = np.random.default_rng(1)
    df["wt"] = rng.uniform(0.5, 2.0, len(df))
    cw = pd.Series(rng.uniform(0.5, 2.0, df.cluster.nunique()), index=df.cluster.unique())
    df["cw"] = df.cluster.map(cw)
    if var is not None:
        df = df.assign(**{var: df[var] + 1e4})
    if levels == 2:
        return ms.fit(M1, df, cluster="cluster", weights="wt", cluster_weights="cw")
    return ms.fit("f =~ y1 + y2 + y3\nf ~ x1 + x2", df, weights="wt", meanstructure=True)


@pytest.mark.parametrize("levels", [1, 2])
@pytest.mark.parametrize("var", ["x1", "y1"])
def test_weighted_estimates_do_not_move_with_a_shift(levels, var):
    base, moved = _weighted(levels), _weighted(levels, var)
    assert base.converged and moved.converged
    e0, e1 = base.estimates, moved.estimates
    sel = (e0.op.isin(["~", "=~"]) & e0.free).to_numpy()
    assert sel.sum() >= 4
    np.testing.assert_allclose(e1.est.to_numpy()[sel], e0.est.to_numpy()[sel], rtol=1e-6)
    np.testing.assert_allclose(e1.se.to_numpy()[sel], e0.se.to_numpy()[sel], rtol=1e-6)
    assert moved.loglik == pytest.approx(base.loglik, rel=1e-9)
