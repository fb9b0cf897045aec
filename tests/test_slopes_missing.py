"""Random slopes with missing outcome values (FIML; issue 14 item 5), against lavaan's
development version (0.7-2.3170, rv() slopes, missing = "ml"); fixtures and their R
script (make_missing_fixtures.R) in tests/fixtures/slopes_lavdev/."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_slopes_lavdev import compare

import msem_nb as ms
from msem_nb.errors import DataError, ModelSpecificationError
from msem_nb.estimation.options import FitOptions
from msem_nb.estimation.pipeline import prepare
from msem_nb.likelihood.slopes import SlopeObjective
from msem_nb.likelihood.slopes_latent import LatentSlopeObjective
from msem_nb.likelihood.slopes_latent_missing import MissingLatentSlopeObjective
from msem_nb.likelihood.slopes_missing import MissingSlopeObjective

DIR = Path(__file__).parent / "fixtures" / "slopes_lavdev"
RS1 = ('level: 1\n fy =~ y1 + y2 + y3\n fy ~ rv("s1")*z1 + z2\n'
       'level: 2\n fyb =~ y1 + y2 + y3\n fyb ~~ s1\n fyb + s1 ~ w')
OBSERVED = 'level: 1\n y1 ~ rv("s1")*z1 + z2\nlevel: 2\n y1 + s1 ~ w\n y1 ~~ s1'


def _ref(name):
    return json.loads((DIR / f"{name}.json").read_text())


@pytest.fixture(scope="module")
def rs_sim():
    return pd.read_csv(DIR / "rs_sim.csv")


@pytest.fixture(scope="module")
def rs_missing():
    return pd.read_csv(DIR / "rs_sim_missing.csv")


def _fixed_rows_match(res, ref):
    """The covariates' fixed moments (lavaan's rows with SE 0 that are not placeholders)."""
    ours = res.estimates.set_index(["lhs", "op", "rhs", "level"])
    levels = {1: "within", 2: "between"}
    n = 0
    for row in ref["parameter_table"]:
        key = (row["lhs"], row["op"], row["rhs"], levels[row["level"]])
        if row["se"] or row["est"] == 0 or key not in ours.index:
            continue
        assert ours.loc[key, "est"] == pytest.approx(row["est"], rel=1e-6, abs=1e-9), key
        n += 1
    assert n > 0


@pytest.fixture(scope="module")
def rsm1(rs_missing):
    ref = _ref("RSM1_observed_outcome")
    return ref, ms.fit(ref["model_syntax"], rs_missing, cluster="cluster", missing="ml")


def test_observed_outcome(rsm1):
    """RSM1: y1 ~ rv("s1")*z1 + z2, y1 and s1 regressed on w, 15% of y1 missing."""
    ref, res = rsm1
    compare(res, ref)
    _fixed_rows_match(res, ref)
    assert res.nobs == ref["nobs"]
    # the rows without y1 are kept (lavaan-dev: they do not contribute) and said so
    msg = [m for m in res.messages if "FIML for random slopes" in m]
    n_empty = int(np.isnan(pd.read_csv(DIR / "rs_sim_missing.csv")["y1"]).sum())
    assert len(msg) == 1 and f"{n_empty} of them have no observed outcome" in msg[0]


def test_latent_outcome(rs_missing):
    """RSM2: fy =~ y1 + y2 + y3 with fy ~ rv("s1")*z1 + z2; 15% of each indicator missing."""
    ref = _ref("RSM2_latent_outcome")
    res = ms.fit(ref["model_syntax"], rs_missing, cluster="cluster", missing="fiml")
    compare(res, ref)
    text = res.summary()
    assert "Missing patterns (FIML)" in text
    n = int(pd.read_csv(DIR / "rs_sim_missing.csv")[["y1", "y2", "y3"]].isna().any(axis=1).sum())
    assert any(line.split()[:4] == ["Rows", "with", "missing", "outcomes"]
               and line.split()[-1] == str(n) for line in text.splitlines())


def test_two_slopes_mlr(rs_missing):
    """RSM3: two outcomes with random slopes, MLR (cluster sandwich of the FIML terms)."""
    ref = _ref("RSM3_two_slopes_mlr")
    res = ms.fit(ref["model_syntax"], rs_missing, cluster="cluster", missing="ml",
                 estimator="MLR")
    compare(res, ref)


def test_missing_covariate_rows_are_dropped_under_ml(rs_missing):
    """RSM4: z1 missing in every 60th row; missing='ml' drops those rows with a message
    giving the count, as lavaan-dev does."""
    ref = _ref("RSM4_missing_covariate")
    d = rs_missing.copy()
    d.loc[::60, "z1"] = np.nan
    res = ms.fit(ref["model_syntax"], d, cluster="cluster", missing="ml")
    compare(res, ref)
    assert res.nobs == ref["nobs"] == len(d) - 22
    assert any("22 of 1306 rows" in m and "dropped" in m for m in res.messages)


def test_missing_covariate_is_refused_under_fiml(rs_missing):
    d = rs_missing.copy()
    d.loc[::60, "z1"] = np.nan
    with pytest.raises(DataError, match="covariate 'z1' has 22 missing values.*missing='ml'"):
        ms.fit(OBSERVED, d, cluster="cluster", missing="fiml")
    d = rs_missing.copy()
    d.loc[d["cluster"] <= 3, "w"] = np.nan
    with pytest.raises(DataError, match="covariate 'w' is missing in 3 clusters"):
        ms.fit(OBSERVED, d, cluster="cluster", missing="fiml")


@pytest.fixture(scope="module")
def rsm5(rs_missing):
    ref = _ref("RSM5_contextual")
    return ref, ms.fit(ref["model_syntax"], rs_missing, cluster="cluster", missing="ml")


def test_latent_covariate_slope(rsm5):
    """RSM5: yc ~ rv("s1")*xc with xc at both levels (quadrature over s1), 15% of yc
    missing."""
    ref, res = rsm5
    assert isinstance(res.estimation.objective, MissingLatentSlopeObjective)
    compare(res, ref)


def test_latent_complete_data_through_the_new_code_is_the_old(rsm5, rs_sim):
    """With one pattern the quadrature items are LatentSlopeObjective's."""
    _, res = rsm5
    obj = res.estimation.objective
    data, _ = prepare(obj.pt, rs_sim, "cluster", FitOptions())
    old = LatentSlopeObjective(obj.pt, obj.spec, data)
    new = MissingLatentSlopeObjective(obj.pt, obj.spec, data)
    theta = res.estimation.theta + 0.01
    ad = old.adaptation(theta, refresh=True)
    np.testing.assert_allclose(new.cluster_loglik(theta, ad), old.cluster_loglik(theta, ad),
                               rtol=1e-12)


def test_complete_data_through_the_new_code_is_the_old(rs_sim):
    """With one pattern every quantity is the complete-data one: log-likelihood,
    per-cluster terms and gradient equal SlopeObjective's."""
    res = ms.fit(RS1, rs_sim, cluster="cluster")
    old = res.estimation.objective
    assert type(old) is SlopeObjective
    new = MissingSlopeObjective(old.pt, old.spec, old.data)
    theta = res.estimation.theta + 0.01
    l0, g0 = old.loglik(theta, gradient=True)
    l1, g1 = new.loglik(theta, gradient=True)
    assert l1 == pytest.approx(l0, rel=1e-13)
    np.testing.assert_allclose(g1, g0, rtol=1e-10, atol=1e-9)
    np.testing.assert_allclose(new.cluster_loglik(theta), old.cluster_loglik(theta),
                               rtol=1e-12)


def test_analytic_gradient_is_accurate(rs_sim, rs_missing):
    """The analytic FIML gradient against a Richardson extrapolation of central
    differences of the log-likelihood, away from the maximum."""
    res = ms.fit(RS1, rs_sim, cluster="cluster")
    pt, spec = res.estimation.objective.pt, res.estimation.objective.spec
    data, _ = prepare(pt, rs_missing, "cluster", FitOptions(missing="fiml"))
    assert data.incomplete
    obj = MissingSlopeObjective(pt, spec, data)
    assert len(obj.mdata.masks) > 4
    theta = res.estimation.theta + 0.02
    g = obj.loglik(theta, gradient=True)[1]
    for i in range(len(theta)):
        e = np.zeros(len(theta))

        def d(h):
            e[i] = h
            return (obj.loglik(theta + e) - obj.loglik(theta - e)) / (2 * h)
        rich = (4 * d(1e-3) - d(2e-3)) / 3
        assert g[i] == pytest.approx(rich, rel=1e-6, abs=1e-5)


def test_listwise_is_unchanged(rs_missing):
    """missing='listwise' still drops incomplete rows and fits the complete-data code."""
    res = ms.fit(OBSERVED, rs_missing, cluster="cluster")
    assert type(res.estimation.objective) is SlopeObjective
    assert res.nobs == int(rs_missing["y1"].notna().sum())


def test_missing_between_outcome_is_refused(rs_missing):
    d = rs_missing.copy()
    d.loc[d["cluster"] <= 3, "w"] = np.nan
    text = 'level: 1\n y1 ~ rv("s1")*z1\nlevel: 2\n w ~ y1 + s1'
    with pytest.raises(DataError, match="between-only outcome 'w' is missing in 3 clusters"):
        ms.fit(text, d, cluster="cluster", missing="ml")


def test_cluster_estimates_refused_with_missing_outcomes(rsm1):
    """The clusters' posterior is built from complete-data cluster statistics: with missing
    outcome values it is refused by name, not computed from zeros."""
    _, res = rsm1
    with pytest.raises(ModelSpecificationError, match="missing outcome values"):
        res.predict(level="between")
    with pytest.raises(ModelSpecificationError, match="missing='listwise'"):
        res.spaghetti("s1")


def test_latent_missing_gradient_is_that_of_its_loglik(rsm5):
    """The FIML quadrature objective's gradient (central differences of its own per-cluster
    terms: the quadrature objective's analytic gradient is that of complete-data items)
    against a Richardson extrapolation of wider differences of the same function."""
    _, res = rsm5
    obj = res.estimation.objective
    theta = res.estimation.theta + 0.01
    ad = obj.adaptation(theta, refresh=True)
    g = obj.loglik(theta, gradient=True)[1]
    for i in range(len(theta)):
        e = np.zeros(len(theta))

        def d(h):
            e[i] = h
            return (obj.cluster_loglik(theta + e, ad).sum()
                    - obj.cluster_loglik(theta - e, ad).sum()) / (2 * h)
        assert g[i] == pytest.approx((4 * d(1e-3) - d(2e-3)) / 3, rel=1e-5, abs=1e-4)
