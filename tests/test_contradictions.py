"""Contradictions in a model are caught (issue 12, point 5): equality constraints
with no solution, names used twice, defined parameters that cannot be
evaluated, and intervals on a fit that did not converge."""

import warnings

import numpy as np
import pandas as pd
import pytest

import msem_nb as ms


@pytest.fixture(scope="module")
def xyz():
    rng = np.random.default_rng(0)
    df = pd.DataFrame(rng.normal(size=(300, 3)), columns=list("xyz"))
    df["y"] += 0.4 * df["x"] + 0.2 * df["z"]
    return df


def _est(res, label):
    est = res.estimates
    return est.loc[est["label"] == label, "est"].to_numpy()


def test_label_equality_with_a_fixed_label_is_enforced(xyz):
    # 'a == b' with a on a fixed row used to be dropped silently (b free)
    res = ms.fit("y ~ 0.5*a*x + b*z\n a == b", xyz, quiet=True)
    assert _est(res, "b") == pytest.approx([0.5], abs=1e-8)
    assert res.npar == ms.fit("y ~ 0.5*x + 0.5*z", xyz, quiet=True).npar
