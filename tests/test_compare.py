"""compare_approaches and MUML: the six approaches, the bias of observed cluster means,
MUML against ML, and escaping of names in the HTML and the figure."""

import warnings

import numpy as np
import pandas as pd
import pytest

import msem_nb as ms
from msem_nb.teaching.approaches import APPROACHES
from msem_nb.teaching.muml import fit_muml

BIAS_MODEL = """
level: within
  y ~ 0.2*x
  y ~~ 0.5*y
  x ~~ 1*x
level: between
  y ~ 0.8*x
  y ~~ 0.05*y
  x ~~ 0.11*x
"""


@pytest.fixture(scope="module")
def classrooms():
    df = ms.load_example("classrooms")
    df["mot"] = df[["mot1", "mot2", "mot3", "mot4"]].mean(axis=1)
    return df


def _between(cmp, approach):
    t = cmp.table
    return float(t.loc[(t.approach == approach) & (t.effect == "between"), "estimate"].iloc[0])


def test_observed_means_are_biased_latent_means_are_not():
    """ICC of x .10, clusters of 5: the between slope of approach 4 (observed means)
    is pulled towards the within slope 0.2; the latent decomposition is not.

    300 clusters and 40 replications keep the latent estimator's heavy tails
    (a ratio with a small between variance in the denominator) from deciding the
    mean: its replication mean has a standard error near .03.
    """
    obs, latent = [], []
    for r in range(40):
        df = ms.simulate(BIAS_MODEL, n_clusters=300, cluster_size=5, seed=1000 + r)
        cmp = ms.compare_approaches(df, "cluster", y="y", x="x")
        obs.append(_between(cmp, APPROACHES[3]))
        latent.append(_between(cmp, APPROACHES[5]))
    assert np.mean(obs) < 0.55          # theory: 0.2 + 0.6 * 0.11 / 0.31 = 0.41
    assert abs(np.mean(latent) - 0.8) < 0.1


def test_all_six_approaches_on_classroom_data(classrooms):
    cmp = ms.compare_approaches(classrooms, "class_id", y="math", x="ses")
    t = cmp.table
    assert list(dict.fromkeys(t.approach)) == list(APPROACHES)
    assert np.isfinite(t[["estimate", "se", "ci_lower", "ci_upper"]].to_numpy()).all()
    assert (t.note == "").all()
    assert set(t.effect) == {"within", "between", "total/conflated"}
    assert t.loc[t.approach == APPROACHES[1], "n_used"].iloc[0] == 160
    assert t.loc[t.approach == APPROACHES[0], "n_used"].iloc[0] == len(classrooms)
    # the aggregated slope is the between slope of the observed-means model
    assert _between(cmp, APPROACHES[1]) == pytest.approx(_between(cmp, APPROACHES[3]), abs=0.02)
    # within slopes agree wherever the levels are separated
    within = t[t.effect == "within"].estimate
    assert within.max() - within.min() < 0.01
    assert "3,352" in cmp.notes[APPROACHES[0]]
    assert set(cmp.fits) == set(APPROACHES) and all(cmp.fits.values())
    assert "Centred x + observed cluster means" in cmp.summary()


def test_mediation_reports_indirect_effects(classrooms):
    cmp = ms.compare_approaches(classrooms, "class_id", y="math", x="ses", mediators=["mot"],
                                units=("students", "classes"))
    t = cmp.table
    assert np.isfinite(t.estimate).all() and np.isfinite(t.se).all()
    assert set(t.effect) == {"indirect within", "indirect between", "indirect conflated"}
    ml = cmp.fits[APPROACHES[5]].estimates
    a = ml[(ml.label == "wa1")].est.iloc[0]
    b = ml[(ml.label == "wb1")].est.iloc[0]
    row = t[(t.approach == APPROACHES[5]) & (t.effect == "indirect within")].iloc[0]
    assert row.estimate == pytest.approx(a * b)
    assert row.n_unit == "students"
    assert "classes" in cmp.notes[APPROACHES[1]]


def test_failed_or_degenerate_fits_become_notes(classrooms):
    # hours has almost no between-class variance (0.003): MUML cannot separate
    # it, which shows up as notes instead of an exception. ML with the
    # covariate's moments estimated converges since it works in the data's
    # own scale (issue 12), to the fixed-x estimates, with a between slope
    # whose standard error says how little the clusters tell
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cmp = ms.compare_approaches(classrooms, "class_id", y="math", x="hours")
    t = cmp.table
    assert len(t) == 9
    assert (t.loc[t.approach.isin(APPROACHES[:4]), "note"] == "").all()
    assert (t.loc[t.approach == APPROACHES[4], "note"] != "").all()
    ml = t[t.approach == APPROACHES[5]].set_index("effect")
    assert (ml.note == "").all()
    assert ml.loc["between", "se"] > 50 * ml.loc["within", "se"]
    fixed = ms.fit("level: within\n math ~ hours\nlevel: between\n math ~ hours\n",
                   classrooms, "class_id").estimates
    slope = fixed[(fixed.op == "~") & (fixed.level == "between")].est.iloc[0]
    assert ml.loc["between", "estimate"] == pytest.approx(slope, rel=1e-6)


def test_muml_matches_ml_on_balanced_clusters():
    df = ms.simulate(BIAS_MODEL.replace("0.11*x", "0.3*x"), n_clusters=200, cluster_size=10,
                     seed=3)
    model = "level: within\n y ~ x\nlevel: between\n y ~ x"
    mu = fit_muml(model, df, "cluster")
    ml = ms.fit(model, df, cluster="cluster", fixed_x=False)
    assert mu.converged and mu.c == pytest.approx(10.0)
    e_mu = mu.estimates.set_index(["lhs", "op", "rhs", "level"])
    e_ml = ml.estimates.set_index(["lhs", "op", "rhs", "level"])
    # balanced: the within part is identical, the between part differs only by
    # weighting S_B with J - 1 instead of J
    assert e_mu.loc[("y", "~", "x", "within"), "est"] == pytest.approx(
        e_ml.loc[("y", "~", "x", "within"), "est"], abs=1e-6)
    for key in [("y", "~", "x", "between"), ("y", "~~", "y", "between")]:
        assert e_mu.loc[key, "est"] == pytest.approx(e_ml.loc[key, "est"], rel=0.02, abs=0.005)
        assert e_mu.loc[key, "se"] == pytest.approx(e_ml.loc[key, "se"], rel=0.05)


def test_muml_unbalanced_defined_and_errors(classrooms):
    model = """
level: within
  mot ~ a*ses
  math ~ b*mot
level: between
  mot ~ ab*ses
  math ~ bb*mot
ind := a*b
"""
    res = fit_muml(model, classrooms, "class_id")
    est = res.estimates
    assert res.converged and 12 < res.c < 30
    ind = est[est.op == ":="].iloc[0]
    assert ind.est == pytest.approx(est[est.label == "a"].est.iloc[0]
                                    * est[est.label == "b"].est.iloc[0])
    assert np.isfinite(ind.se) and ind.se > 0
    ml = ms.fit(model, classrooms, cluster="class_id")
    assert est[est.label == "bb"].est.iloc[0] == pytest.approx(
        ml.estimates.query("label == 'bb'").est.iloc[0], abs=0.1)
    with pytest.raises(ms.ModelSpecificationError, match="two-level"):
        fit_muml("math ~ ses", classrooms, "class_id")


def test_names_are_escaped_in_html_and_figure(classrooms):
    pytest.importorskip("plotly")
    df = classrooms.rename(columns={"class_id": "<b>class</b>"})
    cmp = ms.compare_approaches(df, "<b>class</b>", y="math", x="ses",
                                units=("<i>pupils</i>", "groups & <script>"))
    out = cmp._repr_html_()
    assert "<b>class</b>" not in out and "&lt;b&gt;class&lt;/b&gt;" in out
    assert "<script>" not in out and "<i>pupils" not in out
    fig = cmp.figure(truth={"between": 0.8})
    hover = " ".join(" ".join(tr.hovertext) for tr in fig.data if tr.hovertext is not None)
    assert "<i>pupils" not in hover and "&lt;i&gt;pupils" in hover
    assert len([tr for tr in fig.data if tr.hovertext is not None]) == 6


def test_bad_input(classrooms):
    with pytest.raises(ms.DataError, match="not found"):
        ms.compare_approaches(classrooms, "class_id", y="math", x="nope")
    with pytest.raises(ms.DataError, match="different"):
        ms.compare_approaches(classrooms, "class_id", y="math", x="math")
    df = classrooms.copy()
    df.loc[:4, "ses"] = np.nan
    with pytest.warns(ms.DataWarning, match="5 of"):
        cmp = ms.compare_approaches(df, "class_id", y="math", x="ses")
    assert cmp.nobs == len(df) - 5
    assert isinstance(cmp.table, pd.DataFrame)


def test_conflated_approach_is_the_random_intercept_model():
    """Approach 3 equals statsmodels' MixedLM (ML) y ~ m + x + (1 | cluster), also
    when x and m have between-cluster variance."""
    smf = pytest.importorskip("statsmodels.formula.api")
    model = """
level: within
  m ~ 0.4*x
  y ~ 0.3*m + 0.1*x
level: between
  m ~ 0.8*x
  y ~ 0.6*m + 0.2*x
  y ~~ 0.2*y
  m ~~ 0.2*m
  x ~~ 0.3*x
"""
    df = ms.simulate(model, n_clusters=80, cluster_size=(4, 10), seed=2)
    cmp = ms.compare_approaches(df, "cluster", y="y", x="x", mediators=["m"])
    est = cmp.fits[APPROACHES[2]].estimates
    # statsmodels' default gradient optimizers stop short of the maximum on
    # these data (lower log-likelihood); Powell reaches it
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref_y = smf.mixedlm("y ~ m + x", df, groups=df["cluster"]).fit(reml=False,
                                                                       method="powell")
        ref_m = smf.mixedlm("m ~ x", df, groups=df["cluster"]).fit(reml=False, method="powell")
    for lab, ref, term in (("a1", ref_m, "x"), ("b1", ref_y, "m"), ("c", ref_y, "x")):
        row = est[est.label == lab].iloc[0]     # b1 labels the within and between rows
        assert row.est == pytest.approx(ref.params[term], abs=1e-4)
        assert row.se == pytest.approx(ref.bse[term], rel=1e-2)
