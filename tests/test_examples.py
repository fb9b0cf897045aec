"""Tests for the example simulators and the bundled classroom data."""


import numpy as np
import pandas as pd
import pytest

from msem_nb.teaching.examples import (
    EXAMPLE_MODELS,
    load_example,
    simulate_classrooms,
    simulate_factor_data,
)

INDICATORS = ["mot1", "mot2", "mot3", "mot4"]
CLASS_LEVEL = ["teacher_exp", "class_climate"]


def anova_icc(y, groups):
    """One-way ANOVA ICC(1) with the unbalanced-design n0 correction.

    Written independently of the package so the tests do not check the
    package against itself.
    """
    y = np.asarray(y, dtype=float)
    _, g = np.unique(np.asarray(groups), return_inverse=True)
    n_j = np.bincount(g).astype(float)
    means = np.bincount(g, weights=y) / n_j
    n, n_groups = y.size, n_j.size
    msb = np.sum(n_j * (means - y.mean()) ** 2) / (n_groups - 1)
    msw = np.sum((y - means[g]) ** 2) / (n - n_groups)
    n0 = (n - np.sum(n_j**2) / n) / (n_groups - 1)
    return (msb - msw) / (msb + (n0 - 1) * msw)


@pytest.fixture(scope="module")
def classrooms():
    return simulate_classrooms()


def test_bundled_file_matches_generator(classrooms):
    loaded = load_example("classrooms")
    assert list(loaded.columns) == list(classrooms.columns)
    assert loaded.shape == classrooms.shape
    assert (loaded["class_id"].to_numpy() == classrooms["class_id"].to_numpy()).all()
    # Six significant digits in the file bound the relative error by 5e-6.
    pd.testing.assert_frame_equal(
        loaded, classrooms, check_dtype=False, check_exact=False, rtol=1e-5, atol=1e-12
    )


def test_default_loader_name(classrooms):
    assert load_example().shape == classrooms.shape


def test_same_seed_same_data_different_seed_differs(classrooms):
    pd.testing.assert_frame_equal(simulate_classrooms(seed=2026), classrooms)
    other = simulate_classrooms(seed=7)
    assert not np.allclose(
        other["mot1"].to_numpy()[:100], classrooms["mot1"].to_numpy()[:100]
    )
    a = simulate_factor_data(50, 5, seed=1)
    pd.testing.assert_frame_equal(a, simulate_factor_data(50, 5, seed=1))
    assert not np.allclose(a["y1"], simulate_factor_data(50, 5, seed=2)["y1"])


def test_classroom_structure(classrooms):
    expected = ["class_id", *INDICATORS, "math", "ses", "hours", *CLASS_LEVEL]
    assert list(classrooms.columns) == expected
    sizes = classrooms.groupby("class_id").size()
    assert list(sizes.index) == list(range(1, 161))
    assert sizes.between(12, 30).all()
    assert sizes.nunique() > 1  # unbalanced
    assert classrooms.notna().all().all()
    # teacher_exp is stored in decades, not years.
    assert classrooms["teacher_exp"].between(0.1, 3.5).all()


def test_cluster_level_columns_constant_within_class(classrooms):
    spread = classrooms.groupby("class_id")[CLASS_LEVEL].nunique()
    assert (spread == 1).all().all()
    climate = classrooms.groupby("class_id")["class_climate"].first()
    assert abs(climate.mean()) < 1e-8
    assert climate.std() == pytest.approx(1.0)


def test_hours_is_within_only(classrooms):
    assert anova_icc(classrooms["hours"], classrooms["class_id"]) < 0.02


@pytest.mark.parametrize("column", [*INDICATORS, "math", "ses"])
def test_icc_in_range(classrooms, column):
    assert 0.02 <= anova_icc(classrooms[column], classrooms["class_id"]) <= 0.2


def test_example_model_uses_existing_columns(classrooms):
    model = EXAMPLE_MODELS["classrooms"]
    assert "level: within" in model and "level: between" in model
    for col in [*INDICATORS, "math", "ses", "hours", *CLASS_LEVEL]:
        assert col in model


def test_unknown_example_names_available():
    with pytest.raises(ValueError, match="classrooms"):
        load_example("no_such_data")


def test_factor_data_million_rows():
    # its speed is measured in bench/bench_core.py, not here
    df = simulate_factor_data(50_000, 20)
    assert df.shape == (1_000_000, 9)
    assert df["cluster"].nunique() == 50_000


def test_factor_data_layout_and_icc():
    df = simulate_factor_data(2_000, (5, 15), n_indicators=4, seed=3)
    assert list(df.columns) == ["y1", "y2", "y3", "y4", "x1", "x2", "cluster"]
    sizes = df.groupby("cluster").size()
    assert sizes.between(5, 15).all() and len(sizes) == 2_000
    for col in ["y1", "y2", "y3", "y4"]:
        assert 0.1 <= anova_icc(df[col], df["cluster"]) <= 0.22
    for col in ["x1", "x2"]:
        assert anova_icc(df[col], df["cluster"]) < 0.03


def test_factor_data_rejects_bad_sizes():
    with pytest.raises(ValueError):
        simulate_factor_data(10, 0)
    with pytest.raises(ValueError):
        simulate_factor_data(10, (8, 4))
