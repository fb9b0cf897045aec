"""Three-level models (rows in classes in schools): likelihood, references, data checks.

References (tests/fixtures/threelevel, written by make_threelevel_fixtures.R):
T1 lme4 ``lmer(y ~ x1 + x2 + x3 + (1 | school/class), REML = FALSE)``; T2 a three-level
CFA and T3 a three-level SEM with a covariate at each level, both OpenMx relational
RAM models (joinKey). OpenMx reaches gradients of 1e-3 on them, so its estimates are
the optimum to about 1e-5 relative.
"""

import json
import math

import numpy as np
import pandas as pd
import pytest
from conftest import FIXTURES

import msem_nb as ms
from msem_nb.data.threelevel import threelevel_data
from msem_nb.errors import ConvergenceWarning, DataError, ModelSpecificationError
from msem_nb.likelihood.threelevel import loglik_threelevel, schoolwise_threelevel

REF = FIXTURES / "threelevel"
CLUSTERS = ["class", "school"]
LEVELS = {1: "within", 2: "between", 3: "3"}


def _ref(name):
    ref = json.loads((REF / f"{name}.json").read_text())
    return ref, pd.read_csv(REF / ref["data_file"])


@pytest.fixture(scope="module")
def t1():
    ref, df = _ref("T1_univariate")
    return ref, ms.fit(ref["model_syntax"], df, cluster=ref["cluster"])


@pytest.fixture(scope="module", params=["T2_cfa", "T3_sem"])
def openmx(request):
    ref, df = _ref(request.param)
    return ref, ms.fit(ref["model_syntax"], df, cluster=ref["cluster"])


def _row(res, lhs, op, rhs, level):
    est = res.estimates
    m = est[(est.lhs == lhs) & (est.op == op) & (est.rhs == rhs) & (est.level == level)]
    assert len(m) == 1, (lhs, op, rhs, level)
    return m.iloc[0]


# -- references ---------------------------------------------------------------------

def test_univariate_model_equals_lme4(t1):
    ref, res = t1
    assert res.converged
    assert res.nobs == ref["nobs"]
    # lme4's log-likelihood is conditional on the covariates, as ours (fixed.x)
    assert res.loglik == pytest.approx(ref["logLik"], abs=1e-3)
    fe = {r["term"]: r for r in ref["fixed_effects"]}
    paths = {"x1": "within", "x2": "between", "x3": "3"}
    for x, level in paths.items():
        row = _row(res, "y", "~", x, level)
        assert row["est"] == pytest.approx(fe[x]["estimate"], rel=1e-3)
        assert row["se"] == pytest.approx(fe[x]["se"], rel=0.02)
    icept = _row(res, "y", "~1", "", "3")
    assert icept["est"] == pytest.approx(fe["(Intercept)"]["estimate"], rel=1e-3)
    assert icept["se"] == pytest.approx(fe["(Intercept)"]["se"], rel=0.02)
    vc = {r["grp"]: r["vcov"] for r in ref["variance_components"]}
    for grp, level in (("Residual", "within"), ("class:school", "between"), ("school", "3")):
        assert _row(res, "y", "~~", "y", level)["est"] == pytest.approx(vc[grp], rel=1e-3)
    # the intercept of a variable with a level-3 part is its level-3 intercept
    assert not _row(res, "y", "~1", "", "within")["free"]
    assert not _row(res, "y", "~1", "", "between")["free"]


def test_multivariate_models_equal_openmx(openmx):
    ref, res = openmx
    assert res.converged and ref["status_code"] == 0
    # OpenMx estimates the covariates' moments: its log-likelihood is the joint one
    assert res.estimation.loglik_joint == pytest.approx(ref["logLik"], abs=1e-3)
    assert res.estimation.spec.npar + sum(
        1 for r in res.partable.records if r["exo"] and r["op"] == "~~") \
        + len(res.partable.exogenous) == ref["npar"]
    for r in ref["parameters"]:
        row = _row(res, r["lhs"], r["op"], r["rhs"], LEVELS[r["level"]])
        assert row["est"] == pytest.approx(r["est"], rel=1e-3, abs=1e-5), r
        assert row["se"] == pytest.approx(r["se"], rel=0.02), r


def test_our_optimum_is_at_least_as_good_as_openmx(openmx):
    ref, res = openmx
    theta = res.estimation.theta.copy()
    for r in ref["parameters"]:
        row = res.partable.table
        sel = row[(row.lhs == r["lhs"]) & (row.op == r["op"]) & (row.rhs == r["rhs"])
                  & (row.level == LEVELS[r["level"]])]
        theta[int(sel["free"].iloc[0]) - 1] = r["est"]
    ll_openmx = res.estimation.objective.loglik(theta)
    assert ll_openmx <= res.estimation.loglik_joint + 1e-9
    assert ll_openmx == pytest.approx(ref["logLik"], abs=1e-6)


def test_chi_square_and_baseline_against_openmx():
    ref, df = _ref("T2_cfa")
    res = ms.fit(ref["model_syntax"], df, cluster=ref["cluster"])
    fm = res.fit_measures
    # OpenMx's saturated fit stops with gradients of 6e-3 (4e-8 below our maximum)
    assert fm["unrestricted_loglik"] == pytest.approx(ref["saturated_logLik"], abs=1e-3)
    assert fm["unrestricted_loglik"] >= ref["saturated_logLik"] - 1e-9
    assert fm["chisq"] == pytest.approx(2 * (ref["saturated_logLik"] - ref["logLik"]), abs=2e-3)
    assert fm["df"] == ref["saturated_npar"] - ref["npar"]
    assert fm["baseline_chisq"] == pytest.approx(
        2 * (ref["saturated_logLik"] - ref["baseline_logLik"]), rel=1e-6)
    assert fm["baseline_df"] == ref["saturated_npar"] - ref["baseline_npar"]
    assert {"srmr_within", "srmr_between", "srmr_3"} <= set(fm)
    assert fm["srmr"] == pytest.approx(fm["srmr_within"] + fm["srmr_between"] + fm["srmr_3"])


# -- the likelihood against a dense computation ------------------------------------------

def _small(seed=3, schools=6, class_only=True, school_only=True):
    rng = np.random.default_rng(seed)
    rows = []
    for k in range(schools):
        zk, uk = rng.normal(size=2)
        for j in range(rng.integers(1, 5)):
            c1, w = rng.normal() + zk, rng.normal()
            for _ in range(rng.integers(1, 6)):
                rows.append(dict(school=f"s{k}", cls=f"c{k}_{j}", y1=rng.normal() + c1 + uk,
                                 y2=rng.normal(), x1=rng.normal(), c1=c1, w=w, z1=zk))
    df = pd.DataFrame(rows)
    lv = [["y1", "y2", "x1"], ["y1", "y2"], ["y1", "y2"]]
    if class_only:
        lv[1] += ["c1", "w"]
        lv[2] += ["c1"]
    if school_only:
        lv[2] += ["z1"]
    return df, threelevel_data(df, lv, ["cls", "school"])


def _moments(d, seed=0):
    rng = np.random.default_rng(seed)
    p = len(d.names)

    def pd_(n, s):
        a = rng.normal(size=(n, n))
        return a @ a.T / n * s + 0.5 * np.eye(n)

    s2, s3 = np.zeros((p, p)), np.zeros((p, p))
    s2[np.ix_(d.index2, d.index2)] = pd_(len(d.index2), 0.5)
    s3[np.ix_(d.index3, d.index3)] = pd_(len(d.index3), 0.7)
    return rng.normal(size=p), pd_(d.p1, 1.0), s2, s3


def _dense(df, d, mu, sw, s2, s3, school=None):
    """The normal log-likelihood of each school's stacked values, built entry by entry."""
    names, p1, q, p = d.names, d.p1, d.q, len(d.names)
    total = 0.0
    for sch, g in df.groupby("school", sort=False):
        if school is not None and sch != school:
            continue
        items, vals = [], []
        for cls, gc in g.groupby("cls", sort=False):
            for ridx, row in gc.iterrows():
                items += [(a, ridx, cls) for a in range(p1)]
                vals += [row[names[a]] for a in range(p1)]
            items += [(a, None, cls) for a in range(p1, q)]
            vals += [gc[names[a]].iloc[0] for a in range(p1, q)]
        items += [(a, None, None) for a in range(q, p)]
        vals += [g[names[a]].iloc[0] for a in range(q, p)]
        V = np.array([[s3[a, b] + (s2[a, b] if ca is not None and ca == cb else 0.0)
                       + (sw[a, b] if ra is not None and ra == rb else 0.0)
                       for (b, rb, cb) in items] for (a, ra, ca) in items])
        y = np.array(vals) - np.array([mu[a] for a, _, _ in items])
        total += -0.5 * (len(y) * np.log(2 * np.pi) + np.linalg.slogdet(V)[1]
                         + y @ np.linalg.solve(V, y))
    return total


@pytest.mark.parametrize("class_only,school_only", [(True, True), (False, True),
                                                    (True, False), (False, False)])
def test_likelihood_equals_the_dense_normal_density(class_only, school_only):
    df, d = _small(class_only=class_only, school_only=school_only)
    mu, sw, s2, s3 = _moments(d)
    ll, _ = loglik_threelevel(d, mu, sw, s2, s3)
    assert ll == pytest.approx(_dense(df, d, mu, sw, s2, s3), abs=1e-9)


def test_a_school_part_only_on_school_variables():
    # no variable that varies within schools has a level-3 part: the school values alone
    df, _ = _small()
    d = threelevel_data(df, [["y1", "x1"], ["y1", "w"], ["z1"]], ["cls", "school"])
    assert d.at3 == ("z1",)
    mu, sw, s2, s3 = _moments(d, seed=5)
    ll, _ = loglik_threelevel(d, mu, sw, s2, s3)
    assert ll == pytest.approx(_dense(df, d, mu, sw, s2, s3), abs=1e-9)


def test_a_variable_at_levels_1_and_3_only():
    df, _ = _small()
    d = threelevel_data(df, [["y1", "y2", "x1"], ["y1", "c1"], ["y1", "x1", "c1", "z1"]],
                        ["cls", "school"])
    assert "x1" in d.at3 and "x1" not in d.at2
    mu, sw, s2, s3 = _moments(d, seed=2)
    ll, _ = loglik_threelevel(d, mu, sw, s2, s3)
    assert ll == pytest.approx(_dense(df, d, mu, sw, s2, s3), abs=1e-9)


def _sym_fd(f, X, h=1e-6):
    """Finite-difference derivative in the convention of the likelihoods: a symmetric
    matrix G with dl = tr(G dX)."""
    G = np.zeros_like(X)
    for a in range(X.shape[0]):
        for b in range(a + 1):
            E = np.zeros_like(X)
            E[a, b] = E[b, a] = h
            v = (f(X + E) - f(X - E)) / (2 * h)
            G[a, b] = G[b, a] = v if a == b else v / 2
    return G


def test_moment_gradient_against_finite_differences():
    df, d = _small()
    mu, sw, s2, s3 = _moments(d, seed=4)
    _, (g_mu, G_w, G_2, G_3) = loglik_threelevel(d, mu, sw, s2, s3)

    def ll(mu=mu, sw=sw, s2=s2, s3=s3):
        return loglik_threelevel(d, mu, sw, s2, s3, gradient=False)[0]

    fd_mu = np.array([(ll(mu=mu + e) - ll(mu=mu - e)) / 2e-6 for e in np.eye(len(mu)) * 1e-6])
    np.testing.assert_allclose(g_mu, fd_mu, atol=1e-6)
    np.testing.assert_allclose(G_w, _sym_fd(lambda S: ll(sw=S), sw), atol=1e-6)
    i2, i3 = np.ix_(d.index2, d.index2), np.ix_(d.index3, d.index3)
    np.testing.assert_allclose(G_2[i2], _sym_fd(lambda S: ll(s2=S), s2)[i2], atol=1e-6)
    np.testing.assert_allclose(G_3[i3], _sym_fd(lambda S: ll(s3=S), s3)[i3], atol=1e-6)


def test_school_scores_are_each_schools_derivatives():
    df, d = _small(schools=4)
    mu, sw, s2, s3 = _moments(d, seed=8)
    _, (g_mu, G_w, G_2, G_3) = schoolwise_threelevel(d, mu, sw, s2, s3)
    _, total = loglik_threelevel(d, mu, sw, s2, s3)
    for part, whole in zip((g_mu, G_w, G_2, G_3), total):
        np.testing.assert_allclose(part.sum(axis=0), whole, atol=1e-9)
    for k, school in enumerate(d.school_ids):
        def ll(sw=sw, s3=s3):
            return _dense(df, d, mu, sw, s2, s3, school=school)
        np.testing.assert_allclose(G_w[k], _sym_fd(lambda S: ll(sw=S), sw), atol=1e-6)
        i3 = np.ix_(d.index3, d.index3)
        np.testing.assert_allclose(G_3[k][i3], _sym_fd(lambda S: ll(s3=S), s3)[i3], atol=1e-6)


def test_parameter_gradient_against_finite_differences(openmx):
    _, res = openmx
    obj = res.estimation.objective
    theta = res.estimation.theta + 0.01 * np.sin(np.arange(len(res.estimation.theta)))
    _, g = obj.loglik(theta, gradient=True)
    fd = np.array([(obj.loglik(theta + e) - obj.loglik(theta - e)) / 2e-6
                   for e in np.eye(len(theta)) * 1e-6])
    np.testing.assert_allclose(g, fd, rtol=1e-5, atol=1e-4)
    scores = obj.unit_scores(theta)
    assert scores.shape == (res.data.nschools, len(theta))
    np.testing.assert_allclose(scores.sum(axis=0), g, rtol=1e-9, atol=1e-8)


# -- MLR --------------------------------------------------------------------------------

def test_mlr_uses_schools_as_units():
    ref, df = _ref("T2_cfa")
    ml = ms.fit(ref["model_syntax"], df, cluster=ref["cluster"])
    mlr = ms.fit(ref["model_syntax"], df, cluster=ref["cluster"], estimator="MLR")
    assert mlr.estimation.robust.nunits == df["school"].nunique()
    np.testing.assert_allclose(mlr.estimation.theta, ml.estimation.theta, atol=1e-8)
    free = ml.estimates["free"].to_numpy()
    ratio = mlr.estimates["se"].to_numpy()[free] / ml.estimates["se"].to_numpy()[free]
    assert np.all(np.isfinite(ratio)) and not np.allclose(ratio, 1.0, atol=1e-3)
    fm = mlr.fit_measures
    assert fm["chisq"] == pytest.approx(ml.fit_measures["chisq"])
    assert math.isfinite(fm["chisq_scaled"]) and fm["chisq_scaling_factor"] > 0
    assert 0 <= fm["pvalue_scaled"] <= 1


# -- syntax, clusters and data checks ------------------------------------------------------

MODEL = "level: within\n y1 ~ x1\nlevel: class\n y1 ~ w\nlevel: school\n y1 ~ z1"


def test_level_names_are_mapped_by_order():
    df, _ = _small(schools=12, seed=11)
    res = ms.fit(MODEL, df, cluster=["cls", "school"])
    assert [k.level for k in res.partable.block_keys] == [1, 2, 3]
    assert res.partable.level_names == ("within", "class", "school")
    assert set(res.estimates["level"]) == {"within", "class", "school"}
    assert res.cluster == ("cls", "school")


def test_cluster_columns_must_match_the_levels():
    df, _ = _small(schools=12, seed=11)
    with pytest.raises(ModelSpecificationError, match=r"three levels but one cluster column"):
        ms.fit(MODEL, df, cluster="cls")
    with pytest.raises(ModelSpecificationError, match=r"list the cluster columns from the "
                                                      r"lowest"):
        ms.fit(MODEL, df)
    with pytest.raises(ModelSpecificationError, match="2 cluster columns were given"):
        ms.fit("level: 1\n y1 ~ x1\nlevel: 2\n y1 ~ w", df, cluster=["cls", "school"])
    # a list of one column is that column
    two = ms.fit("level: 1\n y1 ~ x1\nlevel: 2\n y1 ~ w", df, cluster=["cls"])
    assert two.nlevels == 2 and two.cluster == "cls"


def test_a_class_in_two_schools_is_named():
    df, _ = _small(schools=12, seed=11)
    df.loc[df.index[-1], "school"] = "s0"
    bad = df.loc[df.index[-1], "cls"]
    with pytest.raises(DataError, match=f"class '{bad}' .* is in more than one school") as err:
        ms.fit(MODEL, df, cluster=["cls", "school"])
    assert "'s0'" in str(err.value) and "make them unique" in str(err.value)


def test_class_ids_reused_across_schools_are_refused_with_the_fix():
    df, _ = _small(schools=12, seed=11)
    df["cls"] = df["cls"].str.split("_").str[1]   # 0, 1, 2 ... again in every school
    with pytest.raises(DataError, match=r"classes are in more than one school") as err:
        ms.fit(MODEL, df, cluster=["cls", "school"])
    assert "data['cls'] = data['school'].astype(str)" in str(err.value)
    df["cls"] = df["school"].astype(str) + "/" + df["cls"].astype(str)
    assert ms.fit(MODEL, df, cluster=["cls", "school"]).converged


def test_level_variables_must_be_constant_where_they_have_no_part():
    df, _ = _small(schools=12, seed=11)
    varying = df.copy()
    varying.loc[varying.index[0], "z1"] += 1.0
    with pytest.raises(DataError, match=r"'z1' is used only at level 3 but varies within 1 of "
                                        r"12 schools \(e.g. school 's0'"):
        ms.fit(MODEL, varying, cluster=["cls", "school"])
    varying = df.copy()
    first = varying["cls"] == varying["cls"].iloc[0]
    varying.loc[first.idxmax(), "w"] += 1.0
    if first.sum() > 1:
        with pytest.raises(DataError, match=r"'w' is used only at levels 2 and above but "
                                            r"varies within 1 of"):
            ms.fit(MODEL, varying, cluster=["cls", "school"])


def test_missing_values_are_dropped_and_counted():
    df, _ = _small(schools=12, seed=11)
    df.loc[df.index[:3], "y1"] = np.nan
    with pytest.warns(UserWarning, match="3 of .* rows have missing values"):
        res = ms.fit(MODEL, df, cluster=["cls", "school"])
    assert res.n_dropped == 3 and res.nobs == len(df) - 3
    with pytest.raises(ModelSpecificationError, match="not available for three-level models"):
        ms.fit(MODEL, df, cluster=["cls", "school"], missing="fiml")


def test_what_three_levels_do_not_cover_is_refused():
    df, _ = _small(schools=12, seed=11)
    with pytest.raises(ModelSpecificationError, match="random slopes are not available in "
                                                      "three-level models"):
        ms.fit("level: 1\n s | y1 ~ x1\nlevel: 2\n y1 ~ w\nlevel: 3\n y1 ~ z1", df,
               cluster=["cls", "school"])
    with pytest.raises(ModelSpecificationError, match="MUML"):
        ms.fit(MODEL, df, cluster=["cls", "school"], estimator="MUML")
    with pytest.raises(ModelSpecificationError, match="information='expected'"):
        ms.fit(MODEL, df, cluster=["cls", "school"], information="expected")


# -- simulate ------------------------------------------------------------------------------

POPULATION = """
level: 1
  fw =~ y1 + 0.8*y2 + 1.2*y3
  fw ~ 0.5*x
  y1 ~~ 0.5*y1
  y2 ~~ 0.5*y2
  y3 ~~ 0.5*y3
level: 2
  fc =~ y1 + 0.8*y2 + 1.2*y3
  fc ~ 0.4*w
  fc ~~ 0.4*fc
  y1 ~~ 0.1*y1
  y2 ~~ 0.1*y2
  y3 ~~ 0.1*y3
level: 3
  fs =~ y1 + 0.8*y2 + 1.2*y3
  fs ~ 0.3*z
  fs ~~ 0.3*fs
  y1 ~~ 0.05*y1
  y2 ~~ 0.05*y2
  y3 ~~ 0.05*y3
  y2 ~ 2*1
"""


def test_simulate_draws_nested_three_level_data():
    df = ms.simulate(POPULATION, 60, ((15, 25), (3, 7)), seed=4)
    assert list(df.columns) == ["y1", "y2", "y3", "x", "w", "z", "class", "school"]
    assert df["school"].nunique() == 60
    assert df.groupby("class")["school"].nunique().max() == 1
    sizes = df.groupby("class").size()
    assert sizes.min() >= 3 and sizes.max() <= 7
    per_school = df.groupby("school")["class"].nunique()
    assert per_school.min() >= 15 and per_school.max() <= 25
    assert df.groupby("class")["w"].nunique().max() == 1
    assert df.groupby("school")["z"].nunique().max() == 1
    # the same seed gives the same data
    pd.testing.assert_frame_equal(df, ms.simulate(POPULATION, 60, ((15, 25), (3, 7)), seed=4))
    free = POPULATION.replace("0.8*", "").replace("1.2*", "").replace("0.5*x", "x") \
        .replace("0.4*w", "w").replace("0.3*z", "z")
    free = "\n".join(line for line in free.splitlines() if "~~" not in line and "*1" not in line)
    res = ms.fit(free, df, cluster=["class", "school"])
    assert res.converged
    for lhs, op, rhs, level, value, tol in [("fw", "=~", "y3", "within", 1.2, 0.05),
                                            ("fw", "~", "x", "within", 0.5, 0.05),
                                            ("fc", "=~", "y3", "between", 1.2, 0.1),
                                            ("fc", "~", "w", "between", 0.4, 0.1),
                                            ("fs", "=~", "y3", "3", 1.2, 0.35),
                                            ("y2", "~1", "", "3", 2.0, 0.3)]:
        assert _row(res, lhs, op, rhs, level)["est"] == pytest.approx(value, abs=tol)


def test_simulate_checks_the_three_level_sizes():
    with pytest.raises(ValueError, match=r"cluster_size=\(classes per school, rows per class\)"):
        ms.simulate(POPULATION, 10, 5)
    df = ms.simulate(POPULATION, 4, (3, 2), seed=1, cluster=("k", "s"))
    assert len(df) == 24 and {"k", "s"} <= set(df.columns)


# -- decompose -------------------------------------------------------------------------------

def test_decompose_one_variable_equals_lme4_variance_components():
    ref, df = _ref("T1_univariate")
    null = ref["null_model"]
    dec = ms.decompose(df, cluster=["class", "school"], variables=["y"])
    vc = {r["grp"]: r["vcov"] for r in null["variance_components"]}
    parts = [vc["Residual"], vc["class:school"], vc["school"]]
    assert dec.sigma_1.loc["y", "y"] == pytest.approx(parts[0], rel=1e-3)
    assert dec.sigma_2.loc["y", "y"] == pytest.approx(parts[1], rel=1e-3)
    assert dec.sigma_3.loc["y", "y"] == pytest.approx(parts[2], rel=1e-3)
    shares = np.array(parts) / sum(parts)
    np.testing.assert_allclose(dec.shares.loc["y"].to_numpy(), shares, rtol=2e-3)
    assert dec.icc["y"] == pytest.approx(shares[1] + shares[2], rel=2e-3)
    J, K, N = ref["nclasses"], ref["nschools"], ref["nobs"]
    assert dec.cluster_sizes["J"] == J and dec.cluster_sizes["K"] == K
    nbar, mbar = N / J, J / K
    assert dec.design_effect["y"] == pytest.approx(
        1 + (nbar - 1) * (shares[1] + shares[2]) + nbar * (mbar - 1) * shares[2], rel=2e-3)


def test_decompose_at_three_levels_suggests_the_levels():
    df = ms.simulate(POPULATION, 60, ((15, 25), (3, 7)), seed=4)
    dec = ms.decompose(df, cluster=["class", "school"])
    assert dec.names == ("y1", "y2", "y3", "x", "w", "z")
    np.testing.assert_allclose(dec.shares.sum(axis=1), 1.0)
    roles = dec.roles.set_index("variable")["role"]
    assert roles["y1"] == "all three levels"
    assert roles["x"] == "level 1 only"
    assert roles["w"] == "level 2 only"
    assert roles["z"] == "level 3 only"
    assert "constant within schools" in dec.roles.set_index("variable").loc["z", "reason"]
    # one correlation matrix per level; z has no level-1 or level-2 part
    assert list(dec.correlations()) == ["level 1 (rows)", "level 2 (classes)",
                                        "level 3 (schools)"]
    assert dec.level1_corr.loc["y1", "y2"] > 0.3 and np.isnan(dec.level1_corr.loc["z", "y1"])
    assert dec.level3_corr.loc["z", "z"] == 1.0
    text = dec.summary()
    assert "J = " in text and "K = 60 schools" in text and "level 3" in text
    html = dec._repr_html_()
    assert "<table>" in html and "school" in html


def test_decompose_refuses_a_class_in_two_schools():
    df, _ = _small(schools=12, seed=11)
    df.loc[df.index[-1], "school"] = "s0"
    with pytest.raises(DataError, match="in more than one school"):
        ms.decompose(df, cluster=["cls", "school"], variables=["y1", "x1"])


# -- results ------------------------------------------------------------------------------

def test_summary_and_report_have_a_section_per_level(openmx):
    ref, res = openmx
    text = res.summary()
    for heading in ("Level 1 [within]:", "Level 2 [between]:", "Level 3:"):
        assert heading in text
    assert "Number of clusters [class]" in text and "Number of clusters [school]" in text
    assert f"{res.nclusters} classes in {res.nschools} schools" in repr(res)
    assert "SRMR (level 3)" in text
    rep = res.report()
    data = rep["data"].markdown
    assert "Level-3 clusters" in data and "| `y1` |" in data and "Variance at each level" in data
    md = rep.to_markdown()
    assert "#### Level: 3" in md and "#### Level: between" in md


def test_what_is_not_there_for_three_levels_says_so(openmx):
    _, res = openmx
    for call in (res.modindices, res.residuals, res.predict, lambda: res.bootstrap(2)):
        with pytest.raises(ModelSpecificationError, match="not available for three-level "
                                                          "models yet"):
            call()
    mc = res.monte_carlo(200, seed=1)
    assert mc.intervals["ci_lower"].notna().all() and len(mc.intervals) > 0


def test_nested_three_level_models_compare_by_likelihood_ratio(openmx):
    ref, res = openmx
    df = pd.read_csv(REF / ref["data_file"])
    restricted = ref["model_syntax"].replace("fs =~ y1 + y2", "fs =~ y1 + 1*y2")
    small = ms.fit(restricted, df, cluster=ref["cluster"])
    cmp = ms.compare(small, res)
    row = cmp.table.iloc[-1]
    assert row["chisq_diff"] == pytest.approx(2 * (res.loglik - small.loglik), rel=1e-6)
    assert row["df_diff"] == 1


def test_diagram_has_a_panel_per_level_level_3_on_top(openmx):
    _, res = openmx
    fig = res.diagram()
    fig = getattr(fig, "figure", fig)
    titles = [a.text for a in fig.layout.annotations
              if (a.name or "").startswith("panel-title:")]
    assert titles[0] == "<b>Level 3</b>" and len(titles) == 3
    shapes = {s.name: s for s in fig.layout.shapes if (s.name or "").startswith("panel:")}
    assert set(shapes) == {"panel:3", "panel:between", "panel:within"}
    assert shapes["panel:3"].y0 > shapes["panel:between"].y0 > shapes["panel:within"].y0


# the estimates returned are the (improper) start values, which says so too
@pytest.mark.filterwarnings("ignore::msem_nb.errors.ImproperSolutionWarning")
def test_a_start_outside_the_positive_definite_region_is_reported(openmx):
    """Not a crash: the fit says the start values give a non-positive definite matrix."""
    ref, res = openmx
    df = pd.read_csv(REF / ref["data_file"])
    bad = np.full(res.npar, -1.0)
    with pytest.warns(ConvergenceWarning, match="non-positive definite"):
        fit = ms.fit(ref["model_syntax"], df, cluster=ref["cluster"], control={"start": bad})
    assert not fit.converged


def test_level_specific_fit_is_left_out_of_three_level_fits_and_says_so():
    # Ryu & West's partially saturated models are two-level here (msem_nb.inference.levelfit)
    model = ("level: 1\n f1 =~ y1 + y2 + y3\nlevel: 2\n f2 =~ y1 + y2 + y3\n"
             "level: 3\n y1 ~~ y1\n y2 ~~ y2\n y3 ~~ y3\n")
    df = ms.simulate(model, n_clusters=15, cluster_size=(4, (3, 5)), seed=3)
    for estimator in ("ML", "MLR"):
        auto = ms.fit(model, df, cluster=["class", "school"], estimator=estimator)
        assert "chisq_within" not in auto.fit_measures
        assert np.isfinite(auto.fit_measures["chisq"])
        asked = ms.fit(model, df, cluster=["class", "school"], estimator=estimator,
                       level_fit=True)
        assert "chisq_within" not in asked.fit_measures
        assert any("level-specific fit" in m and "two-level" in m for m in asked.messages)
