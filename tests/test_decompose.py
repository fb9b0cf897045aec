"""Tests for msem_nb.inference.decompose (variance decomposition) and msem_nb.present.plots."""

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from msem_nb.errors import DataError, DataWarning
from msem_nb.inference.decompose import Decomposition, decompose

FIX = Path(__file__).parent / "fixtures"
Y4 = ["y1", "y2", "y3", "y4"]
EVIL = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def demo():
    return pd.read_csv(FIX / "Demo.twolevel.csv")


@pytest.fixture(scope="module")
def m2():
    return json.loads((FIX / "M2_saturated.json").read_text())


@pytest.fixture(scope="module")
def dec4(demo):
    return decompose(demo, "cluster", Y4)


@pytest.fixture(scope="module")
def dec_all(demo):
    return decompose(demo, "cluster")


def tiny():
    """Three clusters of sizes 3, 2, 4 (worked by hand in test_icc_anova_by_hand)."""
    return pd.DataFrame({"y": [1, 2, 3, 4, 6, 5, 7, 8, 8],
                         "g": ["a", "a", "a", "b", "b", "c", "c", "c", "c"]})


# --- agreement with lavaan -------------------------------------------------

def test_icc_matches_lavaan(dec4, m2):
    expected = {"y1": 0.3210, "y2": 0.2558, "y3": 0.2234, "y4": 0.4955}
    for v, icc in expected.items():
        assert dec4.icc[v] == pytest.approx(icc, abs=1e-3)
        assert dec4.icc[v] == pytest.approx(m2["ICC"][v], abs=1e-3)


def test_sigmas_match_lavaan(dec4, m2):
    sw = np.array(m2["Sigma_within"]["values"])
    sb = np.array(m2["Sigma_between"]["values"])
    assert list(dec4.sigma_within.index) == Y4 == list(dec4.sigma_within.columns)
    np.testing.assert_allclose(dec4.sigma_within.to_numpy(), sw, atol=1e-3)
    np.testing.assert_allclose(dec4.sigma_between.to_numpy(), sb, atol=1e-3)


def test_sigmas_match_lavaan_parameter_table(dec4, m2):
    for row in m2["parameter_table"]:
        if row["op"] != "~~" or row["block"] not in (1, 2):
            continue
        mat = dec4.sigma_within if row["block"] == 1 else dec4.sigma_between
        assert mat.loc[row["lhs"], row["rhs"]] == pytest.approx(row["est"], abs=1e-3)


# --- ANOVA moments ---------------------------------------------------------

def test_icc_anova_by_hand():
    # Cluster means 2, 5, 7; grand mean 44/9; N = 9, J = 3.
    # SSW = (1+0+1) + (1+1) + (4+0+1+1) = 10          -> MSW = 10/6 = 5/3
    # SSB = 3(26/9)^2 + 2(1/9)^2 + 4(19/9)^2 = 386/9  -> MSB = 193/9
    # n0 = (9 - (9+4+16)/9) / 2 = 26/9
    # ICC(1) = (193/9 - 5/3) / (193/9 + (17/9)(5/3)) = 534/664
    dec = decompose(tiny(), "g", ["y"])
    assert dec.icc_anova["y"] == pytest.approx(534 / 664, rel=1e-12)
    assert dec.pooled_within_cov.loc["y", "y"] == pytest.approx(5 / 3, rel=1e-12)
    assert dec.between_cov.loc["y", "y"] == pytest.approx(193 / 9, rel=1e-12)
    assert dec.cluster_sizes == {"J": 3, "N": 9, "min": 2, "median": 3.0, "mean": 3.0, "max": 4}


def test_negative_icc1_kept_and_noted():
    # Within-cluster deviations only: every cluster mean is identical, so
    # MSB = 0 and ICC(1) = -1 / (n0 - 1) exactly.
    rng = np.random.default_rng(11)
    J, n = 400, 5
    e = rng.standard_normal((J, n))
    z = (e - e.mean(axis=1, keepdims=True)).ravel()
    df = pd.DataFrame({"z": z, "g": np.repeat(np.arange(J), n)})
    dec = decompose(df, "g")
    assert dec.icc_anova["z"] == pytest.approx(-1 / (n - 1), rel=1e-6)
    assert any("'z': ICC(1) is negative" in s for s in dec.notes)


# --- correlations ----------------------------------------------------------

def test_scaled_parts_add_up_to_total(dec_all):
    total = dec_all.total_corr.to_numpy()
    parts = dec_all.scaled_within_corr.to_numpy() + dec_all.scaled_between_corr.to_numpy()
    np.testing.assert_allclose(parts, total, atol=1e-10, rtol=0)


def test_scaled_parts_follow_eta_formula(dec4):
    eta = np.sqrt(dec4.icc.to_numpy())
    rb = dec4.between_corr.to_numpy()
    rw = dec4.within_corr.to_numpy()
    np.testing.assert_allclose(dec4.scaled_between_corr.to_numpy(),
                               np.outer(eta, eta) * rb, atol=1e-12)
    w = np.sqrt(1 - eta**2)
    np.testing.assert_allclose(dec4.scaled_within_corr.to_numpy(), np.outer(w, w) * rw,
                               atol=1e-12)


def test_correlations_from_ml_sigmas(dec4):
    sw = dec4.sigma_within.to_numpy()
    sd = np.sqrt(np.diag(sw))
    np.testing.assert_allclose(dec4.within_corr.to_numpy(), sw / np.outer(sd, sd), atol=1e-12)
    st = sw + dec4.sigma_between.to_numpy()
    sd = np.sqrt(np.diag(st))
    np.testing.assert_allclose(dec4.total_corr.to_numpy(), st / np.outer(sd, sd), atol=1e-12)
    assert isinstance(dec4.between_corr, pd.DataFrame)
    assert list(dec4.between_corr.columns) == Y4


def test_design_effect_formula(dec_all, demo):
    nbar = len(demo) / demo["cluster"].nunique()
    expected = 1 + (nbar - 1) * dec_all.icc
    pd.testing.assert_series_equal(dec_all.design_effect, expected, check_names=False)


def test_moment_matrices(dec4, demo):
    y = demo[Y4]
    means = y.groupby(demo["cluster"]).transform("mean")
    N, J = len(demo), demo["cluster"].nunique()
    dev = (y - means).to_numpy()
    np.testing.assert_allclose(dec4.pooled_within_cov.to_numpy(), dev.T @ dev / (N - J),
                               rtol=1e-10)
    cm = y.groupby(demo["cluster"]).mean()
    nj = demo.groupby("cluster").size().loc[cm.index].to_numpy()
    d = (cm - y.mean()).to_numpy()
    np.testing.assert_allclose(dec4.between_cov.to_numpy(), (d * nj[:, None]).T @ d / (J - 1),
                               rtol=1e-10)


# --- variable types and roles ----------------------------------------------

def test_default_variables_and_roles(dec_all, demo):
    assert dec_all.names == tuple(c for c in demo.columns if c != "cluster")
    roles = dec_all.roles.set_index("variable")
    assert roles.loc["w1", "role"] == "between-only"
    assert roles.loc["w1", "reason"] == "constant within clusters"
    assert roles.loc["y1", "role"] == "both"
    assert roles.loc["y1", "reason"] == "ICC .32: variance at both levels"
    assert roles.loc["x1", "role"] == "within-only"
    assert dec_all.icc["w1"] == 1.0
    assert dec_all.icc_anova["w1"] == pytest.approx(1.0)
    assert "'w1': no within variance: a cluster-level variable" in dec_all.notes
    assert (dec_all.sigma_within.loc["w1"] == 0).all()
    assert dec_all.within_corr.loc["w1"].isna().all()
    assert np.isfinite(dec_all.between_corr.loc["w1"]).all()


def test_zero_between_variance_gives_icc_zero():
    rng = np.random.default_rng(5)
    J, n = 2000, 8
    g = np.repeat(np.arange(J), n)
    e = rng.standard_normal((J, n))
    df = pd.DataFrame({"noise": rng.standard_normal(J * n),
                       "centred": (e - e.mean(axis=1, keepdims=True)).ravel(),
                       "y": rng.standard_normal(J * n) + rng.standard_normal(J)[g],
                       "g": g})
    dec = decompose(df, "g")
    assert dec.icc["noise"] < 0.01
    assert dec.icc["centred"] == 0.0
    assert dec.roles.set_index("variable").loc["noise", "role"] == "within-only"
    assert any("'centred': no between-cluster variance" in s for s in dec.notes)
    assert dec.between_corr.loc["centred"].isna().all()
    assert np.isfinite(dec.total_corr.to_numpy()).all()
    assert dec.design_effect["centred"] == 1.0


def test_constant_within_and_constant_variables():
    rng = np.random.default_rng(2)
    J, n = 50, 6
    g = np.repeat(np.arange(J), n)
    level2 = rng.standard_normal((J, 2))[g] / 3.0
    df = pd.DataFrame({"y": rng.standard_normal(J * n) + level2[:, 0],
                       "z": level2[:, 0],
                       "z_noisy": level2[:, 1] + 1e-13 * rng.standard_normal(J * n),
                       "year": 2024.0,
                       "g": g})
    dec = decompose(df, "g")
    roles = dec.roles.set_index("variable")["role"]
    assert roles["z"] == roles["z_noisy"] == "between-only"
    assert roles["year"] == "none"
    assert dec.icc["z"] == dec.icc["z_noisy"] == 1.0
    assert np.isnan(dec.icc["year"]) and np.isnan(dec.icc_anova["year"])
    assert any("'year' is constant" in s for s in dec.notes)
    assert any("'z_noisy': within-cluster variation is negligible" in s for s in dec.notes)
    assert dec.total_corr.loc["year"].isna().all()
    parts = dec.scaled_within_corr + dec.scaled_between_corr
    np.testing.assert_allclose(dec.total_corr.to_numpy()[:3, :3], parts.to_numpy()[:3, :3],
                               atol=1e-10)


def test_collinear_variables_raise_data_error(demo):
    with pytest.raises(DataError, match=r"'sum' is \(almost\) a linear function of 'y1', 'y2' "
                                        "within clusters"):
        decompose(demo.assign(sum=demo.y1 + 2 * demo.y2), "cluster", ["y1", "y2", "y3", "sum"])
    with pytest.raises(DataError, match=r"'w3' is .* of 'w1' between clusters"):
        decompose(demo.assign(w3=3 * demo.w1 + 1), "cluster", ["y1", "w1", "w3"])


def test_missing_values_dropped_and_counted(demo):
    df = demo.copy()
    df.loc[[0, 5, 9], "y1"] = np.nan
    df.loc[[5, 20], "y2"] = np.nan
    with pytest.warns(DataWarning, match="4 of 2500 rows"):
        dec = decompose(df, "cluster", Y4)
    assert dec.missingness.loc["y1", "n_missing"] == 3
    assert dec.missingness.loc["y2", "n_missing"] == 2
    assert dec.missingness.loc["y3", "n_missing"] == 0
    assert dec.missingness.loc["y1", "share_missing"] == pytest.approx(3 / 2500)
    assert dec.cluster_sizes["N"] == 2496
    assert any("4 of 2500 rows" in s for s in dec.notes)


# --- errors ----------------------------------------------------------------

def test_unknown_variable_lists_columns(demo):
    with pytest.raises(DataError, match=r"'nope' not found.*the columns are: y1, y2"):
        decompose(demo, "cluster", ["y1", "nope"])


def test_other_data_errors(demo):
    with pytest.raises(DataError, match="cluster column 'school' not found"):
        decompose(demo, "school")
    with pytest.raises(DataError, match="not available"):
        decompose(demo, "cluster", Y4, missing="fiml")
    df = demo.assign(word="a")
    with pytest.raises(DataError, match="'word' is not numeric"):
        decompose(df, "cluster", ["y1", "word"])
    assert "word" not in decompose(df, "cluster", None).names
    with pytest.raises(DataError, match="single cluster"):
        decompose(demo.assign(one=1), "one", Y4)
    with pytest.raises(DataError, match="infinite"):
        decompose(demo.assign(y5=np.inf), "cluster", ["y1", "y5"])
    with pytest.raises(DataError, match="must be a pandas DataFrame"):
        decompose(demo.to_numpy(), "cluster")


# --- result object ----------------------------------------------------------

def test_result_is_frozen_and_labelled(dec4):
    assert isinstance(dec4, Decomposition)
    with pytest.raises(dataclasses.FrozenInstanceError):
        dec4.icc = None
    for m in (dec4.pooled_within_cov, dec4.between_cov, dec4.sigma_within,
              dec4.sigma_between, dec4.within_corr, dec4.between_corr, dec4.total_corr,
              dec4.scaled_within_corr, dec4.scaled_between_corr):
        assert list(m.index) == Y4 == list(m.columns)


def test_summary_text(dec_all):
    text = dec_all.summary()
    assert "N = 2500 rows in J = 200 clusters" in text
    assert "w1" in text and "between-only" in text and "Notes:" in text
    assert str(dec_all) == text


def test_repr_html_escapes_names():
    rng = np.random.default_rng(0)
    g = np.repeat(np.arange(30), 5)
    df = pd.DataFrame({EVIL: rng.standard_normal(150) + rng.standard_normal(30)[g],
                       "b&w": rng.standard_normal(30)[g], "g": g})
    dec = decompose(df, "g")
    out = dec._repr_html_()
    assert EVIL not in out
    assert "&lt;img src=x onerror=alert(1)&gt;" in out
    assert "b&amp;w" in out and "<table>" in out
    assert EVIL in dec.summary()


def test_core_module_does_not_import_plotly():
    code = ("import sys, msem_nb.inference.decompose; "
            "assert 'plotly' not in sys.modules and 'ipywidgets' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True,
                   cwd=Path(__file__).resolve().parents[1])


# --- figures ------------------------------------------------------------------

def test_icc_figure(dec_all):
    pytest.importorskip("plotly")
    from msem_nb.present.plots import icc_figure
    fig = icc_figure(dec_all)
    assert len(fig.data) == 1 and fig.data[0].type == "bar"
    bar = fig.data[0]
    assert list(bar.y) == list(dec_all.names)
    np.testing.assert_allclose(bar.x, dec_all.icc.to_numpy())
    assert fig.layout.xaxis.title.text.startswith("ICC")
    assert fig.layout.yaxis.title.text == "variable"
    hover = bar.hovertext[0]
    assert "design effect: " + f"{dec_all.design_effect['y1']:.2f}" in hover
    assert f"ICC(1): {dec_all.icc_anova['y1']:.3f}" in hover
    assert icc_figure(dec_all).to_json() == fig.to_json()


def test_correlation_figure(dec_all):
    pytest.importorskip("plotly")
    from msem_nb.present.plots import correlation_figure
    fig = correlation_figure(dec_all)
    assert [t.type for t in fig.data] == ["heatmap"] * 3
    for trace, mat in zip(fig.data, (dec_all.total_corr, dec_all.within_corr,
                                     dec_all.between_corr)):
        np.testing.assert_array_equal(np.asarray(trace.z, dtype=float), mat.to_numpy())
        assert trace.coloraxis == "coloraxis"
        assert trace.zmin == -1 and trace.zmax == 1
        assert list(trace.x) == list(dec_all.names)
    ca = fig.layout.coloraxis
    assert ca.cmin == -1 and ca.cmax == 1
    assert ca.colorscale[0][1] == "rgb(103,0,31)"  # RdBu: red at -1
    titles = [a.text for a in fig.layout.annotations]
    assert titles == ["total correlations", "within correlations", "between correlations"]
    text = fig.data[0].text
    assert text[0][1] == f"{dec_all.total_corr.iloc[0, 1]:.2f}"
    # w1 has no within part: its within cells are blank, not "nan"
    k = dec_all.names.index("w1")
    assert fig.data[1].text[k][0] == ""
    assert fig.layout.width == 900


def test_figures_escape_names():
    pytest.importorskip("plotly")
    from msem_nb.present.plots import correlation_figure, icc_figure
    rng = np.random.default_rng(0)
    g = np.repeat(np.arange(30), 5)
    df = pd.DataFrame({EVIL: rng.standard_normal(150) + rng.standard_normal(30)[g],
                       "y": rng.standard_normal(150), "g": g})
    dec = decompose(df, "g")
    safe = "&lt;img src=x onerror=alert(1)&gt;"
    bar = icc_figure(dec).data[0]
    assert list(bar.y) == [safe, "y"] and safe in bar.hovertext[0]
    for trace in correlation_figure(dec).data:
        assert list(trace.x) == list(trace.y) == [safe, "y"]


# --- no column is left out silently ------------------------------------------

@pytest.mark.filterwarnings("ignore:1 of 2500 rows:msem_nb.errors.DataWarning")
def test_numbers_stored_as_text_are_converted_with_a_note(demo):
    df = demo.copy()
    df["y1"] = df["y1"].map(repr)          # exact text of each number
    df.loc[3, "y1"] = None                 # missing stays missing
    with pytest.warns(DataWarning, match="column 'y1' holds numbers stored as text: "
                                         "converted with pandas.to_numeric"):
        dec = decompose(df, "cluster")
    assert "y1" in dec.names
    assert any("'y1' holds numbers stored as text" in n for n in dec.notes)
    ref = decompose(demo.drop(index=3), "cluster")
    assert dec.icc["y1"] == pytest.approx(ref.icc["y1"], rel=1e-10)
    # listed explicitly: the same conversion
    with pytest.warns(DataWarning, match="'y1' holds numbers stored as text"):
        dec = decompose(df, "cluster", ["y1", "y2"])
    assert dec.names == ("y1", "y2")


def test_duplicated_and_text_columns_are_left_out_with_a_note(demo):
    df = pd.concat([demo, demo[["x1"]]], axis=1)
    df["y2"] = df["y2"].map(repr)
    df.loc[5, "y2"] = "n/a"
    df["school"] = "north"
    with pytest.warns(DataWarning) as record:
        dec = decompose(df, "cluster")
    text = [str(w.message) for w in record]
    assert any("column 'x1' was left out: more than one column has that name" in t
               for t in text)
    assert any("column 'y2' was left out: it holds numbers and text that is not a number "
               "(e.g. 'n/a')" in t for t in text)
    assert "x1" not in dec.names and "y2" not in dec.names and "school" not in dec.names
    assert "left out as not numeric: 'school'" in dec.notes
    for name in ("x1", "y2"):
        assert any(f"'{name}' was left out" in n for n in dec.notes)
    assert "left out as not numeric: 'school'" in dec.summary()


def test_duplicated_names_that_are_asked_for_raise(demo):
    df = pd.concat([demo, demo[["x1"]]], axis=1)
    with pytest.raises(DataError, match=r"more than one column named 'x1' \(2 times\)"):
        decompose(df, "cluster", ["y1", "x1"])
    df = demo.rename(columns={"w2": "cluster"})
    with pytest.raises(DataError, match="more than one column named 'cluster'"):
        decompose(df, "cluster")
    with pytest.raises(DataError, match=r"'y2' is not numeric.*'n/a'"):
        decompose(demo.assign(y2=["n/a"] + list(demo.y2[1:])), "cluster", ["y1", "y2"])
