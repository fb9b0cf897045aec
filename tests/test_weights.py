"""Sampling weights (single level) against lavaan 0.6-14's sampling.weights
(tests/fixtures/weights/make_weight_fixtures.R): weighted estimates, robust standard errors,
the scaled test and fit measures; equal weights give the unweighted (MLR) fit exactly."""

import json

import numpy as np
import pandas as pd
import pytest
from conftest import FIXTURES

import msem_nb as ms
from msem_nb.errors import DataError, ModelSpecificationError

W = FIXTURES / "weights"
DATA = pd.read_csv(W / "HolzingerSwineford1939.weights.csv")
KEYS = {"chisq": "chisq", "df": "df", "pvalue": "pvalue", "chisq.scaled": "chisq_scaled",
        "chisq.scaling.factor": "chisq_scaling_factor", "cfi": "cfi", "tli": "tli",
        "rmsea": "rmsea", "srmr": "srmr", "cfi.robust": "cfi_robust",
        "rmsea.robust": "rmsea_robust", "baseline.chisq": "baseline_chisq", "bic": "bic"}


@pytest.fixture(scope="module", params=["W1_cfa", "W2_regression_fixed_x"])
def case(request):
    ref = json.loads((W / f"{request.param}.json").read_text())
    return ref, ms.fit(ref["model_syntax"], DATA, weights="w")


def test_loglik_estimates_and_robust_se(case):
    ref, fit = case
    assert fit.estimator == "MLR" and fit.converged
    assert fit.loglik == pytest.approx(ref["logl"], abs=1e-3)
    assert fit.npar == ref["npar"]
    est = fit.estimates
    for r in ref["parameter_table"]:
        m = est[(est.lhs == r["lhs"]) & (est.op == r["op"]) & (est.rhs == r["rhs"])]
        assert len(m) == 1, r
        m = m.iloc[0]
        assert m["est"] == pytest.approx(r["est"], rel=1e-3, abs=1e-6), r
        if r["se"]:
            assert m["se"] == pytest.approx(r["se"], rel=1e-2), r
        if r.get("std.all") is not None:
            assert m["std_all"] == pytest.approx(r["std.all"], rel=2e-3, abs=2e-4), r


def test_fit_measures(case):
    ref, fit = case
    fm, lav = fit.fit_measures, ref["fit_measures"]
    for key, ours in KEYS.items():
        assert fm[ours] == pytest.approx(lav[key], rel=2e-3, abs=1e-4), key


def test_equal_weights_give_the_unweighted_fit(hs):
    model = json.loads((W / "W1_cfa.json").read_text())["model_syntax"]
    plain = ms.fit(model, hs, estimator="MLR")
    weighted = ms.fit(model, hs.assign(w=2.5), weights="w")
    assert weighted.loglik == pytest.approx(plain.loglik, abs=1e-9)
    np.testing.assert_allclose(weighted.estimates["est"], plain.estimates["est"], rtol=1e-9,
                               atol=1e-12)
    np.testing.assert_allclose(weighted.estimates["se"], plain.estimates["se"], rtol=1e-7)
    assert weighted.fit_measures["chisq_scaled"] == pytest.approx(
        plain.fit_measures["chisq_scaled"], rel=1e-7)


def test_weights_change_the_estimates(hs):
    model = "x4 ~ x1"
    plain = ms.fit(model, DATA).estimates
    weighted = ms.fit(model, DATA, weights="w").estimates
    b0 = plain[plain.op == "~"]["est"].iloc[0]
    b1 = weighted[weighted.op == "~"]["est"].iloc[0]
    # weighted least squares of x4 on x1: the slope of the weighted fit
    w = DATA["w"].to_numpy()
    x, y = DATA["x1"].to_numpy(), DATA["x4"].to_numpy()
    xm, ym = np.average(x, weights=w), np.average(y, weights=w)
    wls = np.sum(w * (x - xm) * (y - ym)) / np.sum(w * (x - xm) ** 2)
    assert b1 == pytest.approx(wls, rel=1e-8) and abs(b1 - b0) > 1e-3


def test_bad_weights(hs, demo):
    with pytest.raises(DataError, match="not found"):
        ms.fit("x4 ~ x1", hs, weights="nope")
    with pytest.raises(DataError, match="negative"):
        ms.fit("x4 ~ x1", hs.assign(w=-1.0), weights="w")
    with pytest.raises(DataError, match="missing values"):
        ms.fit("x4 ~ x1", hs.assign(w=np.where(hs.index == 3, np.nan, 1.0)), weights="w")
    with pytest.raises(DataError, match="negative"):     # within weights of a two-level fit
        ms.fit("level: 1\n y1 ~ x1\nlevel: 2\n y1 ~ w1", demo, cluster="cluster",
               weights="x2")
    with pytest.raises(ModelSpecificationError, match="several groups"):
        ms.fit("x4 ~ x1", hs.assign(w=1.0), weights="w", group="school")
    with pytest.raises(ModelSpecificationError, match="two-level model"):
        ms.fit("x4 ~ x1", hs.assign(w=1.0), cluster_weights="w")


def test_summary_names_the_weights():
    fit = ms.fit("x4 ~ x1", DATA, weights="w")
    assert "Sampling weights [w]" in fit.summary()
