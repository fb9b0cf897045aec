"""Three-level answers that do not depend on the units of the variables (issues 12 and 17).

A variable multiplied by a constant is the same data in other units: the saturated
three-level model follows by the powers of the scale, on the OpenMx reference data of
tests/test_threelevel.py.
"""

import functools
import json

import numpy as np
import pandas as pd
import pytest
from conftest import FIXTURES

from msem_nb.data.threelevel import threelevel_data
from msem_nb.estimation.saturated_threelevel import fit_saturated_threelevel

REF = FIXTURES / "threelevel"


@functools.lru_cache(maxsize=None)
def _ref(name):
    ref = json.loads((REF / f"{name}.json").read_text())
    return ref, pd.read_csv(REF / ref["data_file"])


@pytest.mark.parametrize("c", [1e-6, 1e3, 1e6])
def test_saturated_model_follows_the_units(c):
    """The saturated model (the chi-square's reference, the decomposition) of a variable
    in other units is the same model in those units: fitted on centred and scaled data
    and mapped back. In the data's own units BFGS stopped far short (chi-square 475
    instead of 2.65 for the CFA with y1 in units 1000 times smaller)."""
    _, df = _ref("T2_cfa")
    ys = ["y1", "y2", "y3", "y4"]
    a = fit_saturated_threelevel(threelevel_data(df, [ys] * 3, ["class", "school"]))
    b = fit_saturated_threelevel(threelevel_data(df.assign(y2=df.y2 * c), [ys] * 3,
                                                 ["class", "school"]))
    assert a.converged and b.converged
    d = np.array([1.0, c, 1.0, 1.0])
    np.testing.assert_allclose(b.mu, a.mu * d, rtol=1e-7, atol=1e-9 * c)
    for level in (1, 2, 3):
        A, B = a.level_cov(level), b.level_cov(level)
        np.testing.assert_allclose(B, A * np.outer(d, d), rtol=1e-6,
                                   atol=1e-7 * np.abs(A * np.outer(d, d)).max())
    assert b.loglik == pytest.approx(a.loglik - len(df) * np.log(c), rel=1e-10, abs=1e-6)
