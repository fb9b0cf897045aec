"""fit() and the panel's refits share one path: msem_nb.api.fit_partable."""

import warnings

import pandas as pd
import pytest

import msem_nb as ms
from msem_nb.api import fit_partable
from msem_nb.estimation.options import FitOptions
from msem_nb.estimation.pipeline import prepare
from msem_nb.model.partable import build_partable
from msem_nb.syntax import parse

MODEL = "level: within\n  y1 ~ x1 + x2\nlevel: between\n  y1 ~ w1\n"


def _table(options):
    return build_partable(parse(MODEL), meanstructure=options.resolved_meanstructure(),
                          fixed_x=options.fixed_x)


@pytest.mark.parametrize("options", [FitOptions(), FitOptions(estimator="MLR"),
                                     FitOptions(center=(("x1", "cluster"),))])
def test_fit_partable_is_fit_without_the_syntax(demo, options):
    ref = ms.fit(MODEL, demo, cluster="cluster", estimator=options.estimator,
                 center=dict(options.center))
    pt = _table(options)
    from_frame = fit_partable(pt, demo, "cluster", options, model=MODEL)
    prepared, centering = prepare(pt, demo, "cluster", options)
    from_prepared = fit_partable(pt, prepared, "cluster", options, model=MODEL,
                                 centering=centering)
    for res in (from_frame, from_prepared):
        assert res.model == MODEL and res.estimator == options.estimator
        assert res.centering == ref.centering
        assert res.loglik == ref.loglik
        pd.testing.assert_frame_equal(res.estimates, ref.estimates)
    assert from_prepared.data is prepared


def test_fit_partable_records_warnings_quietly(demo):
    options = FitOptions(control={"maxiter": 1})
    with pytest.warns(UserWarning, match="did not converge"):
        loud = fit_partable(_table(options), demo, "cluster", options)
    with warnings.catch_warnings():
        warnings.simplefilter("error")          # quiet: recorded, not issued
        quiet = fit_partable(_table(options), demo, "cluster", options, quiet=True)
    assert any("did not converge" in m for m in loud.messages)
    assert list(quiet.messages) == list(loud.messages)


def test_fit_partable_refuses_what_fit_refuses():
    with pytest.raises(ms.DataError, match="DataFrame"):
        fit_partable(_table(FitOptions()), {"y1": [1.0]}, "cluster")
