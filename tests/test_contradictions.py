"""Contradictions in a model are caught (issue 12, point 5): equality constraints
with no solution, names used twice, defined parameters that cannot be
evaluated, and intervals on a fit that did not converge."""

import warnings
from dataclasses import replace

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


# -- equality constraints with no solution -----------------------------------

@pytest.mark.parametrize("model, lines", [
    ("y ~ a*x + z\n a == 0.5\n a == 0.7", ["line 2: 'a == 0.5'", "line 3: 'a == 0.7'"]),
    # b is a through the merged label equality, which is named too
    ("y ~ a*x + b*z\n a == b\n a == 0.5\n b == 0.7",
     ["line 2: 'a == b'", "line 3: 'a == 0.5'", "line 4: 'b == 0.7'"]),
    # a linear system: the third row is a combination of the first two with
    # another right-hand side
    ("y ~ a*x + b*z\n a + b == 1\n a - b == 0\n 2*a == 0.7",
     ["line 2: 'a + b == 1'", "line 3: 'a - b == 0'", "line 4: '2*a == 0.7'"]),
])
def test_contradicting_constraints_raise_naming_them(xyz, model, lines):
    with pytest.raises(ms.ModelSpecificationError, match="contradict each other") as err:
        ms.fit(model, xyz, quiet=True)
    for text in lines:
        assert text in str(err.value)


def test_constraint_among_fixed_values_that_cannot_hold(xyz):
    with pytest.raises(ms.ModelSpecificationError, match="line 2: 'a == 0.7' cannot hold"):
        ms.fit("y ~ 0.5*a*x + z\n a == 0.7", xyz, quiet=True)
    with pytest.raises(ms.ModelSpecificationError, match="'a == b' cannot hold"):
        ms.fit("y ~ 0.5*a*x + 0.3*b*z\n a == b", xyz, quiet=True)


def test_consistent_and_redundant_constraints_still_fit(xyz):
    res = ms.fit("y ~ a*x + b*z\n a == 2*b\n a == 0.5\n b == 0.25\n a == 0.5", xyz, quiet=True)
    assert res.converged
    assert _est(res, "a") == pytest.approx([0.5], abs=1e-8)
    assert _est(res, "b") == pytest.approx([0.25], abs=1e-8)


def test_a_constraint_that_cannot_be_evaluated_is_not_linear(xyz):
    # log(b) raised a bare ValueError at the random points where b < 0
    with pytest.raises(ms.ModelSpecificationError, match="line 2: .*'a == log\\(b\\)' is not linear"):
        ms.fit("y ~ a*x + b*z\n a == log(b)", xyz, quiet=True)


# -- names used twice -------------------------------------------------------

def test_defined_name_that_is_a_label_raises(xyz):
    with pytest.raises(ms.ModelSpecificationError,
                       match=r"line 3: 'b' in 'b := d \+ 1' is already the label of a "
                             r"parameter \(line 1\); use another name"):
        ms.fit("y ~ a*x + b*z\n d := a*2\n b := d + 1", xyz, quiet=True)


def test_name_defined_twice_raises(xyz):
    with pytest.raises(ms.ModelSpecificationError,
                       match=r"line 3: 'd' in 'd := b \+ 1' is defined twice \(lines 2 and "
                             r"3\)"):
        ms.fit("y ~ a*x + b*z\n d := a*2\n d := b + 1", xyz, quiet=True)


def test_a_label_shared_by_parameters_is_still_an_equality(xyz):
    res = ms.fit("y ~ a*x + a*z\n d := 2*a", xyz, quiet=True)
    assert len(set(_est(res, "a"))) == 1
    assert _est(res, "d") == pytest.approx(2 * _est(res, "a")[:1])


# -- defined parameters that cannot be evaluated ----------------------------

UNDEFINED = "y ~ a*x + b*z\n d := log(a - 1)\n e := d * 2\n g := a / (b - b)\n h := a * b"


@pytest.fixture(scope="module")
def undefined_fit(xyz):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = ms.fit(UNDEFINED, xyz)
    return res, caught


def test_undefined_defined_parameters_are_nan_with_a_message(undefined_fit):
    res, caught = undefined_fit
    est = res.estimates.set_index("lhs")
    for name in ("d", "e", "g"):
        assert np.isnan(est.loc[name, ["est", "se", "z", "ci_lower", "ci_upper"]]
                        .to_numpy(float)).all()
    # the one that can be evaluated is untouched
    a, b = _est(res, "a")[0], _est(res, "b")[0]
    assert est.loc["h", "est"] == pytest.approx(a * b)
    assert np.isfinite(est.loc["h", "se"])
    msgs = [m for m in res.messages if "cannot be evaluated" in m]
    assert len(msgs) == 3
    assert "line 2: the defined parameter 'd := log(a - 1)'" in msgs[0]
    assert "log or square root of a negative number" in msgs[0]
    assert "it uses d, which cannot be evaluated" in msgs[1]
    assert "division by zero" in msgs[2]
    assert sum("cannot be evaluated" in str(w.message) for w in caught) == 3


def test_undefined_defined_parameters_do_not_break_the_output(undefined_fit):
    res, _ = undefined_fit
    text = res.summary()
    assert "Defined Parameters:" in text and "NA: cannot be evaluated" in text
    assert [ln.split()[:2] for ln in text.splitlines() if ln.strip().startswith("d ")] \
        == [["d", "NA"]]
    html = res._repr_html_()
    assert ">NA</td>" in html
    rep = res.report()
    assert "NA" in rep["defined"].markdown
    assert "cannot be evaluated" in rep["fit"].markdown
    rep.to_html()
    mc = res.monte_carlo(500, seed=1)
    row = mc.intervals.set_index("lhs").loc["d"]
    assert np.isnan(row["ci_lower"]) and row["n_ok"] == 0


# -- intervals on a fit that did not converge -------------------------------

@pytest.fixture(scope="module")
def unconverged(xyz):
    res = ms.fit("y ~ a*x + b*z\n d := a*b", xyz, quiet=True)
    # a fit stopped near its optimum keeps its covariance matrix but is not
    # converged; made directly, since the optimiser converges on these data
    return replace(res, estimation=replace(res.estimation, converged=False))


def test_monte_carlo_on_an_unconverged_fit_warns(unconverged):
    with pytest.warns(ms.ConvergenceWarning, match="did not converge"):
        mc = unconverged.monte_carlo(200, seed=1)
    assert any("did not converge" in n for n in mc.notes)
    assert "did not converge" in mc.summary()


def test_bootstrap_on_an_unconverged_fit_warns(unconverged):
    with pytest.warns(ms.ConvergenceWarning, match="did not converge"):
        boot = unconverged.bootstrap(4, ci="percentile", seed=1, n_jobs=1, progress=False)
    assert any("did not converge" in n for n in boot.notes)


def test_intervals_on_a_converged_fit_do_not_warn(xyz):
    res = ms.fit("y ~ a*x + b*z\n d := a*b", xyz, quiet=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ms.ConvergenceWarning)
        mc = res.monte_carlo(200, seed=1)
    assert not any("did not converge" in n for n in mc.notes)
