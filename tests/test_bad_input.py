"""Bad input gets a clear error (or warning) that says what to do."""


import numpy as np
import pytest

import msem_nb as ms
from msem_nb.data.prepare import prepare_data
from msem_nb.errors import (
    ConvergenceWarning,
    DataError,
    DataWarning,
    ModelSpecificationError,
    NotIdentifiedError,
)
from msem_nb.estimation.estimate import estimate
from msem_nb.model.partable import build_partable
from msem_nb.syntax import parse

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


# --- too little data ----------------------------------------------------------

def test_too_few_rows_single_level(demo):
    with pytest.raises(DataError, match="2 rows for 2 model variables.*at least 3 here"):
        ms.fit("y1 ~ x1", demo.head(2))
    with pytest.raises(DataError, match="1 row for 1 model variable.*at least 2"):
        ms.fit("y1 ~~ y1", demo.head(1))
    df = demo.head(5).copy()
    df.loc[[0, 1, 2], "y1"] = np.nan
    with pytest.raises(DataError, match=r"2 rows \(3 were dropped for missing values\)"):
        ms.fit("y1 ~ x1", df, quiet=True)
    # one more row than variables is the least that can be fitted
    res = ms.fit("y1 ~ x1", demo.head(3), quiet=True)
    assert res.nobs == 3 and np.isfinite(res.loglik)


def test_too_few_rows_or_clusters_two_level(demo):
    one_each = demo.groupby("cluster").head(1)
    with pytest.raises(DataError, match="2 rows in 2 clusters leave 0 within-cluster degrees "
                                        "of freedom .* for 2 variables with a within part.*"
                                        "at least 4 rows"):
        ms.fit(TWO, one_each.head(2), cluster="cluster")
    with pytest.raises(DataError, match="has 1 cluster: a two-level model needs at least 2"):
        ms.fit(TWO, demo.head(2), cluster="cluster")
    two = demo[demo.cluster.isin([1, 2])]
    with pytest.raises(DataError, match="2 clusters for 2 between-only variables.*at least 3"):
        ms.fit("level: within\n y1 ~ x1\nlevel: between\n y1 ~ w1 + w2", two,
               cluster="cluster")


def test_no_rows(demo):
    with pytest.raises(DataError, match="the data have no rows"):
        ms.fit("y1 ~ x1", demo.head(0))


# --- duplicated column names ---------------------------------------------------

def test_duplicated_model_column(demo):
    df = demo.rename(columns={"y2": "y1"})
    with pytest.raises(DataError, match=r"more than one column named 'y1' \(2 times\).*"
                                        r"rename.*duplicated\(\)"):
        ms.fit("y1 ~ x1", df)
    with pytest.raises(DataError, match="column named 'y1'"):
        ms.fit(TWO, df, cluster="cluster")
    # a duplicated name the model does not use is left alone
    res = ms.fit("y3 ~ x1", df)
    assert res.converged


def test_duplicated_cluster_or_centred_column(demo):
    df = demo.rename(columns={"w2": "cluster"})
    with pytest.raises(DataError, match="more than one column named 'cluster'"):
        ms.fit(TWO, df, cluster="cluster")
    df = demo.rename(columns={"x2": "x1"})
    with pytest.raises(DataError, match="more than one column named 'x1'"):
        ms.fit(TWO, df, cluster="cluster", center={"x1": "cluster"})


# --- the model argument ----------------------------------------------------------

@pytest.mark.parametrize("model", [None, b"y1 ~ x1", 3, ["y1 ~ x1"]])
def test_model_that_is_not_text(demo, model):
    with pytest.raises(ModelSpecificationError, match="a model is lavaan-style text"):
        ms.fit(model, demo)


def test_byte_order_mark_is_accepted(demo):
    plain = ms.fit("y1 ~ x1", demo)
    bom = ms.fit("\ufeffy1 ~ x1", demo)
    assert bom.model == "y1 ~ x1"
    np.testing.assert_array_equal(bom.estimates["est"], plain.estimates["est"])


# --- control={"start": ...} -------------------------------------------------------

def test_start_vector_of_the_wrong_length(demo):
    # y1 ~ x1 (single level): the slope and the residual variance
    with pytest.raises(ModelSpecificationError, match=r"has 3 values but needs one per free "
                                                      r"parameter: the model has 2 free "
                                                      r"parameters.*1: y1 ~ x1; 2: y1 ~~ y1"):
        ms.fit("y1 ~ x1", demo, control={"start": [0.1, 1.0, 2.0]})
    with pytest.raises(ModelSpecificationError, match=r"shape \(1, 2\).*fit.estimation.theta"):
        ms.fit("y1 ~ x1", demo, control={"start": [[0.1, 1.0]]})
    with pytest.raises(ModelSpecificationError, match="must be numbers.*'abc'"):
        ms.fit("y1 ~ x1", demo, control={"start": "abc"})
    with pytest.raises(ModelSpecificationError, match=r"non-finite value \(nan\) at position 2 "
                                                      r"\(y1 ~~ y1\)"):
        ms.fit("y1 ~ x1", demo, control={"start": [0.1, np.nan]})
    with pytest.raises(ModelSpecificationError, match=r"5 free parameters.*y1 ~ w1 \[between\]"):
        ms.fit(TWO, demo, cluster="cluster", control={"start": [0.1, 1.0]})
    # a start vector of the right length is used
    res = ms.fit("y1 ~ x1", demo)
    again = ms.fit("y1 ~ x1", demo, control={"start": list(res.estimation.theta)})
    np.testing.assert_allclose(again.estimation.theta, res.estimation.theta, rtol=1e-6)


def test_ci_level_as_a_percentage(demo):
    with pytest.raises(ModelSpecificationError, match=r"did you mean ci_level=0\.95\?"):
        ms.fit("y1 ~ x1", demo, ci_level=95)
    with pytest.raises(ModelSpecificationError, match="strictly between 0 and 1"):
        ms.fit("y1 ~ x1", demo, ci_level=1.0)
    with pytest.raises(ModelSpecificationError, match=r"did you mean level=0\.9\?"):
        ms.fit("y1 ~ x1", demo, level=90)


# --- cluster ids of mixed types -----------------------------------------------------

def test_mixed_cluster_id_types_warn_and_stay_apart(demo):
    df = demo.copy()
    df["cluster"] = df["cluster"].astype(object)
    rows = np.flatnonzero(df["cluster"].to_numpy() == 1)[:2]
    df.loc[rows, "cluster"] = "1"
    with pytest.warns(DataWarning, match=r"cluster column 'cluster' has ids that look alike.*"
                                         r"'1' \(str\) and 1 \(int\).*different clusters.*"
                                         r"pandas.to_numeric"):
        res = ms.fit(TWO, df, cluster="cluster")
    assert res.nclusters == demo["cluster"].nunique() + 1
    assert any("look alike" in m for m in res.messages)
    # a column of one type does not warn
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ms.fit(TWO, demo.assign(cluster=demo["cluster"].astype(str)), cluster="cluster")


# --- column names that need backticks --------------------------------------------------

def test_backtick_names_fit_like_plain_ones(demo):
    df = demo.rename(columns={"y1": "math score", "x1": "2nd x", "w1": "w-1"})
    res = ms.fit("level: within\n `math score` ~ `2nd x`\nlevel: between\n `math score` ~ `w-1`",
                 df, cluster="cluster")
    ref = ms.fit(TWO, demo, cluster="cluster")
    np.testing.assert_allclose(res.estimates["est"], ref.estimates["est"], rtol=1e-10)
    assert "math score" in set(res.estimates["lhs"])


def test_not_found_suggests_backticks(demo):
    df = demo.rename(columns={"y1": "y1 score"})
    with pytest.raises(DataError, match=r"'y1' not found.*Did you mean `y1 score`\? .*"
                                        "backticks"):
        ms.fit("y1 ~ x1", df)
    with pytest.raises(DataError, match=r"Did you mean Y1\? \(names are case-sensitive\)"):
        ms.fit("y1 ~ x1", demo.rename(columns={"y1": "Y1"}))


def test_column_without_values(demo):
    # an all-missing column read as text (e.g. an empty column of a CSV file)
    with pytest.raises(DataError, match="column 'y1' has no values"):
        ms.fit("y1 ~ x1", demo.assign(y1=None))


@pytest.mark.parametrize("model", [TWO, "level: within\n s1 | y1 ~ x1\nlevel: between\n y1 ~~ y1"])
def test_two_level_table_on_single_level_data(model, demo):
    """The estimation layer called directly (fit refuses this pair earlier, check_cluster):
    a two-level table on single-level data is a model error, not a TypeError."""
    pt = build_partable(parse(model))
    within, between_only, _ = pt.roles()
    data = prepare_data(demo, within + between_only)
    with pytest.raises(ModelSpecificationError, match="cluster='...'"):
        estimate(pt, data, information="observed")
