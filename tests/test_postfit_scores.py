"""Factor scores and model-implied cluster means against lavaan 0.6-14's lavPredict
(tests/fixtures/postfit, written by tests/fixtures/r/make_postfit_fixtures.R)."""

import json

import numpy as np
import pandas as pd
import pytest
from conftest import FIXTURES

import msem_nb as ms
from msem_nb.errors import ModelSpecificationError
from msem_nb.inference.scores import score_rule

POSTFIT = FIXTURES / "postfit"


def _ref(name):
    return json.loads((POSTFIT / f"{name}.json").read_text())


def _first(ref_scores):
    names = ref_scores["names"]
    names = [names] if isinstance(names, str) else names
    values = np.array(ref_scores["first"], dtype=float)
    return names, values.reshape(len(values), -1)


@pytest.mark.parametrize("name", ["HS_cfa_postfit", "HS_sem_postfit"])
@pytest.mark.parametrize("method", ["regression", "bartlett"])
def test_single_level_scores(hs, name, method):
    """Regression and Bartlett scores of the first rows to 1e-5; the SEM has a
    covariate (lavaan's dummy latent variable) and structural paths."""
    ref = _ref(name)
    fit = ms.fit(ref["model_syntax"], hs)
    scores = fit.predict(method=method)
    assert len(scores) == len(hs)
    names, want = _first(ref[f"scores_{method}"])
    np.testing.assert_allclose(scores[names].to_numpy()[: len(want)], want, atol=1e-5)
    # the same rows passed as data keep their index
    again = fit.predict(hs.iloc[::-1], method=method)
    assert list(again.index) == list(hs.index[::-1])
    np.testing.assert_allclose(again.loc[hs.index[:10], names].to_numpy(),
                               scores[names].to_numpy()[:10], atol=1e-12)


def test_missing_values_use_the_observed_part(hs):
    ref = _ref("HS_cfa_postfit")
    fit = ms.fit(ref["model_syntax"], hs)
    holes = hs.copy()
    holes.loc[0, "x1"] = np.nan
    holes.loc[1, ["x1", "x2", "x3"]] = np.nan
    s = fit.predict(holes)
    full = fit.predict(hs)
    assert np.isfinite(s.loc[0]).all() and s.loc[0, "visual"] != full.loc[0, "visual"]
    # no indicator of visual left: its score is the regression on the other factors' ones
    assert np.isfinite(s.loc[1, "visual"])
    np.testing.assert_allclose(s.loc[2:], full.loc[2:], atol=1e-12)
    rule = score_rule(fit, "", "regression")
    assert rule.coef.shape == (3, 9)


def _m1(demo, name):
    ref = _ref(name)
    fit = ms.fit(ref["model_syntax"], demo, cluster=ref["cluster"])
    assert fit.loglik >= ref["logl"] - 1e-6
    return ref, fit


@pytest.mark.parametrize("name", ["M1_scores", "M1b_scores"])
def test_two_level_within_scores_and_cluster_means(demo, name):
    """Within scores per row and empirical Bayes cluster means as lavPredict's, to
    1e-4 (lavaan stops 1.4e-6 short of the maximum on M1; the scores carry it)."""
    ref, fit = _m1(demo, name)
    within = fit.predict(level="within")
    assert len(within) == len(demo) and within.columns[0] == "cluster"
    names, want = _first(ref["scores_within"])
    np.testing.assert_allclose(within[names].to_numpy()[: len(want)], want, atol=1e-4)
    if "scores_within_bartlett" in ref:
        names, want = _first(ref["scores_within_bartlett"])
        got = fit.predict(level="within", method="bartlett")[names].to_numpy()
        np.testing.assert_allclose(got[: len(want)], want, atol=1e-4)
    means = fit.predict(level="between", type="ov")
    assert means.index.name == "cluster" and list(means.columns) == ["y1", "y2", "y3"]
    names, want = _first(ref["cluster_means"])
    np.testing.assert_allclose(means[["y1", "y2", "y3"]].to_numpy()[:20], want[:, :3],
                               atol=1e-4)
    # lavaan's E-step gives the within-only variables a zero between part
    assert np.all(want[:, 3:] == 0)


def test_two_level_between_scores_without_between_covariates(demo):
    ref, fit = _m1(demo, "M1b_scores")
    for method, key in (("regression", "scores_between"), ("bartlett", "scores_between_bartlett")):
        got = fit.predict(level="between", method=method)
        assert len(got) == 200 and got.index.name == "cluster"
        names, want = _first(ref[key])
        np.testing.assert_allclose(got[names].to_numpy(), want, atol=1e-4)


def test_two_level_between_scores_with_between_covariates(demo):
    """lavaan 0.6-14 predicts the between factor with the between-only covariates
    set to zero (lavPredict's level-2 data are the cluster means of the within
    variables, zero elsewhere); here they keep their observed values. Putting
    lavaan's zeros into our score rule gives lavaan's scores (to 2e-4: a constant
    offset of 9e-5 is lavaan's estimates stopping short)."""
    ref, fit = _m1(demo, "M1_scores")
    ours = fit.predict(level="between")["fb"].to_numpy()
    _, want = _first(ref["scores_between"])
    assert np.abs(ours - want[:, 0]).max() > 1e-3
    rule = score_rule(fit, "between", "regression")
    w = demo.groupby("cluster", sort=False)[["w1", "w2"]].first().to_numpy()
    lavaan_like = ours - w @ rule.coef.loc["fb", ["w1", "w2"]].to_numpy()
    np.testing.assert_allclose(lavaan_like, want[:, 0], atol=2e-4)


def test_new_data_and_errors(demo):
    ref, fit = _m1(demo, "M1b_scores")
    part = demo[demo.cluster <= 5].copy()
    part.index = part.index + 1000
    got = fit.predict(part, level="within")
    assert list(got.index) == list(part.index)
    np.testing.assert_allclose(got["fw"], fit.predict(level="within")["fw"].to_numpy()[
        : len(part)], atol=1e-12)
    # a missing indicator: that row is scored from its other indicators and left
    # out of its cluster's mean
    holes = part.copy()
    holes.loc[holes.index[0], "y1"] = np.nan
    got = fit.predict(holes, level="within")
    assert np.isfinite(got["fw"]).all()
    assert got["fw"].iloc[0] != fit.predict(part, level="within")["fw"].iloc[0]
    means = fit.predict(holes, level="between", type="ov")
    rest = fit.predict(holes.iloc[1:], level="between", type="ov")
    np.testing.assert_allclose(means.to_numpy(), rest.to_numpy(), atol=1e-12)
    with pytest.raises(ModelSpecificationError, match="unknown level"):
        fit.predict(level="school")
    with pytest.raises(ValueError, match="level='between'"):
        fit.predict(level="within", type="ov")
    with pytest.raises(ValueError, match="method"):
        fit.predict(method="ebm")


def test_model_without_latent_variables(hs):
    fit = ms.fit("x1 ~ x2 + x3", hs)
    with pytest.raises(ModelSpecificationError, match="no latent variables"):
        fit.predict()
    assert isinstance(fit.r2, pd.DataFrame) and list(fit.r2.variable) == ["x1"]
