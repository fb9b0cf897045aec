"""Bad input gets a clear error (or warning) that says what to do."""


import numpy as np
import pytest

import msem_nb as ms
from msem_nb.errors import (
    ConvergenceWarning,
    DataError,
    DataWarning,
    ModelSpecificationError,
    NotIdentifiedError)

TWO = "level: within\n y1 ~ x1\nlevel: between\n y1 ~ w1"


def test_unknown_variable_lists_columns(demo):
    with pytest.raises(DataError) as e:
        ms.fit("f =~ y1 + y2 + nope", demo)
    msg = str(e.value)
    assert "'nope'" in msg and "not found" in msg
    for col in demo.columns:
        assert col in msg


def test_unknown_cluster_column_lists_columns(demo):
    with pytest.raises(DataError, match="cluster column 'school' not found.*y1"):
        ms.fit(TWO, demo, cluster="school")


def test_non_numeric_column(demo):
    df = demo.copy()
    df["x1"] = df["x1"].astype(str)
    df.loc[3, "x1"] = "abc"
    with pytest.raises(DataError, match="column 'x1' is not numeric.*'abc'.*to_numeric"):
        ms.fit(TWO, df, cluster="cluster")


def test_listwise_deletion_reports_rows(demo):
    df = demo.copy()
    df.loc[[0, 5, 17], "y1"] = np.nan
    df.loc[9, "y5"] = np.nan  # not in the model: must not drop the row
    with pytest.warns(DataWarning, match="3 of 2500 rows"):
        res = ms.fit(TWO, df, cluster="cluster")
    assert res.n_dropped == 3
    assert res.nobs == 2497
    assert "Rows dropped (missing values)" in res.summary()
    assert "3 rows with missing values dropped" in res._repr_html_()


def test_missing_cluster_ids(demo):
    df = demo.copy()
    df["cluster"] = df["cluster"].astype(float)
    df.loc[[4, 8], "cluster"] = np.nan
    with pytest.raises(DataError, match="cluster column 'cluster' has 2 missing ids.*rows 4, 8"):
        ms.fit(TWO, df, cluster="cluster")


def test_infinite_values(demo):
    df = demo.copy()
    df.loc[7, "y1"] = np.inf
    with pytest.raises(DataError, match="column 'y1' has infinite values.*rows 7"):
        ms.fit(TWO, df, cluster="cluster")


def test_between_only_variable_that_varies_within(demo):
    model = "level: within\n y1 ~ x1\nlevel: between\n y1 ~ w1 + x2"
    with pytest.raises(DataError, match="'x2' is used only at the between level but varies within"):
        ms.fit(model, demo, cluster="cluster")


def test_constant_variable(demo):
    df = demo.copy()
    df["c"] = 3.0
    with pytest.raises(DataError, match="variable 'c' is constant"):
        ms.fit("y1 ~ x1 + c", df)


def test_within_variable_without_within_variance(demo):
    with pytest.raises(DataError, match="'w1' does not vary within clusters.*between block"):
        ms.fit("level: within\n y1 ~ w1\nlevel: between\n y1 ~ w2", demo, cluster="cluster")


def test_clusters_of_size_one_are_allowed(demo):
    df = demo.copy()
    # give 30 rows a cluster of their own
    df.loc[:29, "cluster"] = np.arange(1000, 1030)
    res = ms.fit(TWO, df, cluster="cluster")
    assert res.converged
    assert res.nclusters == df["cluster"].nunique()
    assert 1.0 in res.data.groups.n


def test_unidentified_model_negative_df(demo):
    model = "f =~ y1 + y2\n y1 ~~ y2"
    with pytest.raises(NotIdentifiedError, match="free parameters.*sample moments"):
        ms.fit(model, demo)


def test_unidentified_model_singular_information(demo):
    # the marker is freed and the variance too: df = 1 but no scale
    with pytest.raises(NotIdentifiedError, match="not identified.*f ~~ f"):
        ms.fit("f =~ NA*y1 + y2 + y3 + y4", demo)


def test_non_convergence_warns_and_flags(demo):
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        res = ms.fit(TWO, demo, cluster="cluster", control={"maxiter": 2})
    assert res.converged is False
    assert "did NOT end normally" in res.summary()


def test_syntax_error_points_at_line_and_column(demo):
    with pytest.raises(ms.ModelSyntaxError) as e:
        ms.fit("f =~ y1 + y2\n y3 ~ @x1", demo)
    assert e.value.line == 2
    assert "^" in str(e.value)


def test_levels_without_cluster(demo):
    with pytest.raises(ModelSpecificationError, match="cluster="):
        ms.fit(TWO, demo)


def test_cluster_without_levels(demo):
    with pytest.raises(ModelSpecificationError, match="level"):
        ms.fit("y1 ~ x1", demo, cluster="cluster")


def test_latent_name_clashes_with_column(demo):
    with pytest.raises(ModelSpecificationError, match="y4"):
        ms.fit("y4 =~ y1 + y2 + y3", demo)


def test_not_a_dataframe():
    with pytest.raises(DataError, match="DataFrame"):
        ms.fit("y1 ~ x1", {"y1": [1, 2]})


def test_unknown_estimator(demo):
    with pytest.raises(ModelSpecificationError, match="estimator 'WLS'"):
        ms.fit("y1 ~ x1", demo, estimator="WLS")


def test_messages_are_recorded_on_the_result_and_quiet_is_silent(demo):
    df = demo.copy()
    df.loc[[0, 5], "y1"] = np.nan
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")          # quiet=True must not issue anything
        res = ms.fit(TWO, df, cluster="cluster", quiet=True)
    assert any("2 of 2500 rows" in m for m in res.messages)
    with pytest.warns(ConvergenceWarning):
        loud = ms.fit(TWO, demo, cluster="cluster", control={"maxiter": 2})
    assert any("did not converge" in m for m in loud.messages)


def test_messages_are_per_thread(demo):
    """Two fits in two threads each keep their own messages."""
    from concurrent.futures import ThreadPoolExecutor
    df = demo.copy()
    df.loc[[0, 1, 2], "y1"] = np.nan
    with ThreadPoolExecutor(2) as ex:
        a = ex.submit(ms.fit, TWO, df, cluster="cluster", quiet=True)
        b = ex.submit(ms.fit, TWO, demo, cluster="cluster", quiet=True)
        ra, rb = a.result(), b.result()
    assert any("3 of 2500 rows" in m for m in ra.messages)
    assert not any("rows" in m for m in rb.messages)
