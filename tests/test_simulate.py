"""ms.simulate: population moments, defaults, seeds, cluster sizes, errors."""

import numpy as np
import pytest

import msem_nb as ms
from msem_nb.teaching.simulate import population_moments

MODEL = """
level: within
  m ~ 0.4*x
  y ~ 0.3*m + 0.1*x
  x ~~ 1*x
  y ~~ 0.8*y
level: between
  m ~ 0.7*x
  y ~ 0.5*m
  x ~~ 0.2*x
  m ~~ 0.15*m
  y ~~ 0.1*y
  y ~ 2*1
  z ~~ 0.5*z
  y ~ 0.3*z
"""


def test_population_moments_follow_the_paths():
    mom = population_moments(MODEL)
    names, _, cov = mom["within"]
    w = dict(zip(names, range(len(names))))
    assert cov[w["x"], w["x"]] == pytest.approx(1.0)
    assert cov[w["m"], w["x"]] == pytest.approx(0.4)
    assert cov[w["m"], w["m"]] == pytest.approx(0.16 + 1.0)   # default residual variance 1
    names_b, mean_b, cov_b = mom["between"]
    b = dict(zip(names_b, range(len(names_b))))
    assert mean_b[b["y"]] == pytest.approx(2.0)
    assert cov_b[b["m"], b["x"]] == pytest.approx(0.14)
    assert cov_b[b["y"], b["z"]] == pytest.approx(0.15)
    assert mom["icc"]["z"] == 1.0
    assert mom["icc"]["x"] == pytest.approx(0.2 / 1.2)


def test_large_sample_reproduces_within_and_between_moments():
    df = ms.simulate(MODEL, n_clusters=1500, cluster_size=(8, 12), seed=11)
    dec = ms.decompose(df, "cluster", ["x", "m", "y"])
    mom = population_moments(MODEL)
    names, _, sw = mom["within"]
    idx = [names.index(v) for v in ("x", "m", "y")]
    np.testing.assert_allclose(dec.pooled_within_cov.to_numpy(), sw[np.ix_(idx, idx)], atol=0.04)
    names_b, _, sb = mom["between"]
    idx = [names_b.index(v) for v in ("x", "m", "y")]
    np.testing.assert_allclose(dec.sigma_between.to_numpy(), sb[np.ix_(idx, idx)], atol=0.04)
    assert df["y"].mean() == pytest.approx(2.0, abs=0.05)
    # between-only variables are constant within clusters
    assert (df.groupby("cluster")["z"].nunique() == 1).all()


def test_seed_sizes_and_columns():
    a = ms.simulate(MODEL, 20, (3, 7), seed=5)
    b = ms.simulate(MODEL, 20, (3, 7), seed=5)
    c = ms.simulate(MODEL, 20, (3, 7), seed=6)
    assert a.equals(b)
    assert not a.equals(c)
    sizes = a.groupby("cluster").size()
    assert len(sizes) == 20 and sizes.between(3, 7).all()
    assert list(a.columns) == ["m", "y", "x", "z", "cluster"]
    d = ms.simulate(MODEL, 10, 4, seed=1, cluster="school")
    assert len(d) == 40 and "school" in d.columns


def test_single_level_and_errors():
    df = ms.simulate("y ~ 0.5*x", 50, 2, seed=1)
    assert len(df) == 100 and set(df.columns) == {"y", "x", "cluster"}
    with pytest.raises(ms.ModelSpecificationError, match="random slopes"):
        ms.simulate("level: within\n s | y ~ x\nlevel: between\n y ~~ 0.2*y", 10, 5, seed=1)
    with pytest.raises(ms.ModelSpecificationError, match="positive"):
        ms.simulate("level: within\n y ~~ -1*y\nlevel: between\n y ~~ 0.2*y", 10, 5, seed=1)
    with pytest.raises(ValueError):
        ms.simulate("y ~ 0.5*x", 10, (5, 2), seed=1)
