"""MUML through the one pipeline: FitOptions(estimator="MUML"), fit_prepared,
ms.fit(estimator="MUML") against fit_muml, the pseudo log-likelihood's
gradient, refusals, and bootstrap refits by MUML."""

import numpy as np
import pandas as pd
import pytest

import msem_nb as ms
from msem_nb.estimation.muml import MumlEstimation, muml_partable
from msem_nb.estimation.options import ESTIMATORS, FitOptions
from msem_nb.estimation.pipeline import fit_prepared, prepare
from msem_nb.inference.resample import Replicator
from msem_nb.likelihood.muml import MumlObjective, muml_moments
from msem_nb.likelihood.objective import Objective
from msem_nb.model.partable import build_partable
from msem_nb.model.spec import build_spec
from msem_nb.results import MUML_NOTE
from msem_nb.syntax import parse
from msem_nb.teaching.muml import fit_muml

MEDIATION = """
level: within
  mot ~ a*ses
  math ~ b*mot
level: between
  mot ~ ab*ses
  math ~ bb*mot
ind := a*b
"""
CFA = ("level: within\n fw =~ y1 + y2 + y3\n fw ~ x1 + x2\n"
       "level: between\n fb =~ y1 + y2 + y3\n fb ~ w1")


@pytest.fixture(scope="module")
def classrooms():
    df = ms.load_example("classrooms")
    df["mot"] = df[["mot1", "mot2", "mot3", "mot4"]].mean(axis=1)
    return df


@pytest.mark.parametrize("which", ["mediation", "cfa"])
def test_fit_muml_equals_fit_estimator_muml(which, classrooms, demo):
    model, df, cluster = ((MEDIATION, classrooms, "class_id") if which == "mediation"
                          else (CFA, demo, "cluster"))
    mu = fit_muml(model, df, cluster)
    res = ms.fit(model, df, cluster, estimator="MUML")
    assert res.estimator == "MUML" and mu.converged and res.converged
    pd.testing.assert_frame_equal(res.estimates[list(mu.estimates.columns)], mu.estimates,
                                  check_exact=True)
    np.testing.assert_array_equal(res.estimation.theta, mu.theta)
    np.testing.assert_array_equal(res.estimation.vcov, mu.vcov)
    fm = res.fit_measures
    assert fm["fmin"] == mu.fmin and fm["c"] == mu.c
    assert fm["nobs"] == mu.nobs and fm["nclusters"] == mu.nclusters
    # F is not a log-likelihood: nothing likelihood-based is reported
    assert np.isnan(res.loglik) and np.isnan(fm["loglik"]) and np.isnan(fm["aic"])
    assert not {"chisq", "cfi", "tli", "rmsea"} & set(fm)
    assert fm["note"] == MUML_NOTE
    text = res.summary()
    assert "MUML" in text and "not a" in text and "log-likelihood" in text
    # the covariate moments are estimated, with standard errors
    exo = res.estimates[res.estimates.exo]
    assert len(exo) and exo.free.all() and (exo.se > 0).all()


def test_fit_prepared_returns_a_muml_estimation(classrooms):
    assert "MUML" in ESTIMATORS
    options = FitOptions(estimator="MUML")
    assert options.information_for(False) == "observed"
    pt = build_partable(parse(MEDIATION), fixed_x=True)
    # a two-level table has means whether or not asked for
    assert build_partable(parse(MEDIATION), meanstructure=True, fixed_x=True).table.equals(
        pt.table)
    data, _ = prepare(pt, classrooms, "class_id", options)
    est = fit_prepared(pt, data, options)
    assert isinstance(est, MumlEstimation)
    freed = est.partable
    n_exo = int(pt.table.exo.sum())   # ses: within variance, between variance and mean
    assert n_exo == 3 and freed.npar == pt.npar + n_exo == len(est.theta)
    assert (freed.table.free[freed.table.exo] > pt.npar).all()
    assert muml_partable(freed) is freed   # idempotent: a refit reuses the table
    assert est.fmin == pytest.approx(-2.0 * est.objective.loglik(est.theta), rel=1e-12)
    assert est.c == pytest.approx(muml_moments(data).c)


def test_refusals(classrooms, demo):
    with pytest.raises(ms.ModelSpecificationError, match="listwise"):
        FitOptions(estimator="MUML", missing="fiml")
    with pytest.raises(ms.ModelSpecificationError, match="observed"):
        FitOptions(estimator="MUML", information="expected")
    with pytest.raises(ms.ModelSpecificationError, match="two-level"):
        ms.fit("math ~ ses", classrooms, estimator="MUML")
    with pytest.raises(ms.ModelSpecificationError, match="two-level"):
        ms.fit("math ~ ses", classrooms, "class_id", estimator="muml")
    with pytest.raises(ms.ModelSpecificationError, match="random slopes"):
        ms.fit("level: within\n s | y1 ~ x1\nlevel: between\n y1 ~ w1", demo, "cluster",
               estimator="MUML")
    # straight to fit_prepared with data MUML cannot use
    pt = build_partable(parse(CFA))
    incomplete = demo.copy()
    incomplete.loc[:5, "y1"] = np.nan
    data, _ = prepare(pt, incomplete, "cluster", FitOptions(missing="fiml"))
    with pytest.raises(ms.ModelSpecificationError, match="complete rows"):
        fit_prepared(pt, data, FitOptions(estimator="MUML"))
    one = demo[demo.cluster == demo.cluster.iloc[0]]
    with pytest.raises((ms.ModelSpecificationError, ms.DataError)):
        ms.fit(CFA, one, "cluster", estimator="MUML")


def test_pseudo_loglik_gradient_matches_finite_differences(demo):
    pt = muml_partable(build_partable(parse(CFA)))
    spec = build_spec(pt)
    data, _ = prepare(pt, demo, "cluster", FitOptions(estimator="MUML"))
    obj = MumlObjective(Objective(spec, data, True))
    theta = ms.fit(CFA, demo, "cluster", estimator="MUML").estimation.theta + 0.01
    ll, g = obj.loglik(theta, gradient=True)
    assert ll == obj.loglik(theta) == -0.5 * obj.fmin(theta)
    h = 1e-6
    fd = np.array([(obj.loglik(theta + h * e) - obj.loglik(theta - h * e)) / (2 * h)
                   for e in np.eye(len(theta))])
    np.testing.assert_allclose(g, fd, rtol=1e-5, atol=1e-3)
    # outside the positive definite region: -inf and no gradient
    bad = theta.copy()
    var = pt.table.query("lhs == 'y1' and op == '~~' and rhs == 'y1' and level == 'within'")
    bad[int(var.free.iloc[0]) - 1] = -50.0
    assert obj.loglik(bad, gradient=True) == (-np.inf, None)


def test_bootstrap_of_a_muml_fit_refits_by_muml(classrooms):
    res = ms.fit(MEDIATION, classrooms, "class_id", estimator="MUML")
    rep = Replicator.from_fit(res)
    assert rep.fit_options.estimator == "MUML" and rep.partable is res.partable
    # the original clusters, refitted from the estimates: the same MUML solution
    again = rep.refit(rep.subset(np.arange(rep.n_units)))
    np.testing.assert_allclose(again[: len(res.estimation.theta)], res.estimation.theta,
                               atol=1e-5)
    boot = res.bootstrap(8, ci="percentile", seed=1, n_jobs=1)
    assert boot.n_failed == 0
    assert list(boot.draws.columns)[-1] == "ind"


def test_a_start_vector_of_the_wrong_length_is_a_clear_error(demo):
    import msem_nb as ms
    model = "level: within\n y1 ~ x1\nlevel: between\n y1 ~ w1"
    with pytest.raises(ms.ModelSpecificationError, match="free parameters"):
        ms.fit(model, demo, cluster="cluster", estimator="MUML", control={"start": [0.1, 0.2]})
