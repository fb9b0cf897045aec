"""Random loadings (issue 14 item 4): ``f =~ y1 + rv("l2")*y2`` is the random slope
``l2 | y2 ~ f`` of an indicator on its within factor, fitted by the latent-slope
likelihood (adaptive Gauss-Hermite over l2, the rest analytically).

The likelihood is checked against an independent brute-force computation written
here with numpy (full covariance per cluster, plain Gauss-Hermite over the random
loadings); with the loading's variance fixed at 0 the fit is lavaan 0.6-14's fit of
the model with a fixed loading (fixture and R script in
tests/fixtures/random_loadings/).
"""

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import msem_nb as ms
from msem_nb.data.prepare import prepare_data
from msem_nb.errors import ModelSpecificationError
from msem_nb.estimation.exogenous import exogenous_values
from msem_nb.likelihood.slopes_latent import LatentSlopeObjective
from msem_nb.model.partable import build_partable
from msem_nb.model.spec import build_spec
from msem_nb.syntax import parse
from msem_nb.syntax.tokens import ModelSyntaxError

DIR = Path(__file__).parent / "fixtures" / "random_loadings"

ONE = """level: 1
  f =~ y1 + rv("l2")*y2 + y3
level: 2
  fb =~ y1 + y2 + y3
"""

TWO = """level: 1
  f =~ y1 + rv("l2")*y2 + rv("l3")*y3 + y4
level: 2
  fb =~ y1 + y2 + y3 + y4
"""


def simulate(n_clusters=60, seed=11, sizes=(3, 7), load_sd=(0.4, 0.3), p=3):
    """Two-level one-factor data; the loadings of y2 (and y3 when p = 4) vary over
    clusters around 0.8 (0.6) with SD `load_sd`, correlated with the between factor."""
    rng = np.random.default_rng(seed)
    n = rng.integers(sizes[0], sizes[1] + 1, n_clusters)
    cid = np.repeat(np.arange(n_clusters), n)
    fb = rng.normal(0, 0.6, n_clusters)
    lam2 = 0.8 + load_sd[0] * (0.5 * fb / 0.6 + np.sqrt(0.75) * rng.normal(size=n_clusters))
    lam3 = 0.6 + load_sd[1] * rng.normal(size=n_clusters)
    loads = np.column_stack([np.ones(n_clusters), lam2,
                             lam3 if p == 4 else np.full(n_clusters, 0.7), np.full(n_clusters, 1.2)])
    f = rng.normal(size=len(cid))
    lb = np.array([1.0, 0.9, 1.1, 0.8])
    y = (loads[cid] * f[:, None] + rng.normal(0, 0.6, (len(cid), 4))
         + fb[cid, None] * lb + rng.normal(0, 0.3, (n_clusters, 4))[cid] + [0.5, -0.2, 0.1, 0.3])
    df = pd.DataFrame(y[:, :p], columns=[f"y{i + 1}" for i in range(p)])
    df["g"] = cid
    return df


def _objective(model, df, nodes):
    pt = build_partable(parse(model))
    within, between_only, both = pt.roles()
    data = prepare_data(df, within, "g", between_only, both)
    spec = build_spec(pt, exogenous_values(pt, data)[0])
    return pt, LatentSlopeObjective(pt, spec, data, nodes)


def _theta(pt, values):
    """The free parameter vector from {(lhs, op, rhs, level): value}; every free row
    must be given (a covariance in either order)."""
    theta = np.full(pt.npar, np.nan)
    for r in pt.records:
        if r["free"]:
            key = (r["lhs"], r["op"], r["rhs"], r["level"])
            alt = (r["rhs"], r["op"], r["lhs"], r["level"])
            theta[r["free"] - 1] = values[key] if key in values else values[alt]
    assert np.isfinite(theta).all()
    return theta


def brute_force_loglik(df, ys, within, between, nodes):
    """Marginal log-likelihood by plain Gauss-Hermite over the random loadings.

    within: {"lam": loadings of f (random ones NaN), "psi": var f, "theta": residual
    variances}. between: {"nu": means, "lam": loadings of fb, "psi": var fb, "theta":
    residual variances, "mu_l": means of the random loadings, "phi": the covariance of
    (fb, between residuals of ys, random loadings) in that order}. Given the loadings
    l_j the cluster's stacked rows are normal: mean 1 (x) (nu + E[u | l]) and covariance
    J (x) Var(u | l) + I (x) Sigma_W(l); u = lam_b fb + e_b, conditioned on l.
    """
    p = len(ys)
    rand = np.flatnonzero(np.isnan(within["lam"]))
    q = len(rand)
    x, w = np.polynomial.hermite.hermgauss(nodes)
    grid = np.stack(np.meshgrid(*[x] * q, indexing="ij"), -1).reshape(-1, q)
    wgrid = np.prod(np.stack(np.meshgrid(*[w] * q, indexing="ij"), -1).reshape(-1, q), axis=1)
    wgrid = wgrid / np.pi ** (q / 2)
    phi = between["phi"]
    k = 1 + p  # fb and the residuals come first, then the random loadings
    P_rr, P_rl, P_ll = phi[:k, :k], phi[:k, k:], phi[k:, k:]
    Lll = np.linalg.cholesky(P_ll)
    cond_cov = P_rr - P_rl @ np.linalg.solve(P_ll, P_rl.T)
    B = np.column_stack([between["lam"], np.eye(p)])  # u = B (fb, e_b)
    Vb = B @ cond_cov @ B.T
    lv = between["mu_l"] + np.sqrt(2) * grid @ Lll.T                  # (G, q)
    lam = np.tile(within["lam"], (len(grid), 1))
    lam[:, rand] = lv
    sw = within["psi"] * lam[:, :, None] * lam[:, None, :] + np.diag(within["theta"])
    mean_u = between["nu"] + (lv - between["mu_l"]) @ np.linalg.solve(P_ll, P_rl.T) @ B.T
    total = 0.0
    for _, rows in df.groupby("g"):
        Y = rows[ys].to_numpy().ravel()
        nj = len(rows)
        C = np.kron(np.ones((nj, nj)), Vb) + np.kron(np.eye(nj), sw)   # (G, nj p, nj p)
        d = Y - np.tile(mean_u, nj)
        _, logdet = np.linalg.slogdet(C)
        quad = np.einsum("gi,gi->g", d, np.linalg.solve(C, d[:, :, None])[:, :, 0])
        dens = -0.5 * (nj * p * np.log(2 * np.pi) + logdet + quad)
        top = dens.max()
        total += top + np.log(np.sum(wgrid * np.exp(dens - top)))
    return total


def test_rv_loading_is_the_slope_of_the_indicator_on_its_factor():
    a = parse(ONE)
    b = parse("level: 1\n f =~ y1 + y3\n l2 | y2 ~ f\nlevel: 2\n fb =~ y1 + y2 + y3")
    assert [(s.lhs, s.op, [t.name for t in s.rhs], s.slope) for s in a.statements] == \
        [(s.lhs, s.op, [t.name for t in s.rhs], s.slope) for s in b.statements]
    assert [s.loading for s in a.statements] == [False, True, False]
    pt = build_partable(a)
    assert pt.random_loadings == {"l2": ("f", "y2")}
    assert pt.slopes == {"l2": ("y2", "f")}
    assert build_partable(b).random_loadings == {}
    tab = pt.table.set_index(["lhs", "op", "rhs", "level"])
    # the average loading is the free mean of l2; by default l2 covaries with the
    # exogenous between factor and with the between part of its indicator
    assert tab.loc[("l2", "~1", "", "between"), "free"] > 0
    assert tab.loc[("fb", "~~", "l2", "between"), "free"] > 0
    assert tab.loc[("y2", "~~", "l2", "between"), "free"] > 0
    assert ("f", "=~", "y2", "within") not in tab.index
    several = build_partable(parse(TWO))
    assert several.random_loadings == {"l2": ("f", "y2"), "l3": ("f", "y3")}


def test_a_later_statement_may_hold_only_random_loadings():
    pt = build_partable(parse('level: 1\n f =~ y1 + y3\n f =~ rv("l2")*y2\n'
                              'level: 2\n fb =~ y1 + y2 + y3'))
    assert pt.random_loadings == {"l2": ("f", "y2")}


def test_a_random_loading_with_the_scale_set_by_the_factor_variance():
    """What the refusal of a random first indicator suggests: a free first loading
    (NA*) and the factor's variance fixed at 1."""
    pt = build_partable(parse('level: 1\n f =~ NA*y1 + rv("l2")*y2 + y3\n f ~~ 1*f\n'
                              'level: 2\n fb =~ y1 + y2 + y3'))
    tab = pt.table.set_index(["lhs", "op", "rhs", "level"])
    assert tab.loc[("f", "=~", "y1", "within"), "free"] > 0
    assert tab.loc[("f", "~~", "f", "within"), "free"] == 0
    assert pt.random_loadings == {"l2": ("f", "y2")}


@pytest.mark.parametrize("text, message, where", [
    ('level: 1\n f =~ rv("l1")*y1 + y2 + y3\nlevel: 2\n fb =~ y1 + y2 + y3',
     "first indicator of 'f'.*'f =~ y2 \\+ rv\\(\"l1\"\\)\\*y1'.*'f ~~ 1\\*f'", (2, 7)),
    ('level: 1\n f =~ y1 + y3\nlevel: 2\n fb =~ y1 + rv("l2")*y2 + y3',
     "at the between level.*'level: within'", (4, 13)),
    ('f =~ y1 + rv("l2")*y2 + y3', "in a single-level model", (1, 11)),
    ('level: 1\n f =~ y1 + rv("l2")*2*y2\nlevel: 2\n y1 ~~ y1', "cannot also carry", (2, 15)),
    ('level: 1\n f ~~ rv("l2")*y2\nlevel: 2\n y1 ~~ y1', "random loading after '=~'", (2, 7)),
])
def test_misplaced_random_loadings_are_refused_where_they_are(text, message, where):
    with pytest.raises(ModelSyntaxError, match=message) as err:
        parse(text)
    assert (err.value.line, err.value.col) == where


def test_a_loading_given_fixed_and_random_is_refused():
    text = 'level: 1\n f =~ y1 + rv("l2")*y2 + y3\n f =~ y2\nlevel: 2\n fb =~ y1 + y2 + y3'
    with pytest.raises(ModelSpecificationError, match="describe the same loading"):
        build_partable(parse(text))
    text = 'level: 1\n f =~ y1 + y2 + y3\n f =~ rv("l2")*y2\nlevel: 2\n fb =~ y1 + y2 + y3'
    with pytest.raises(ModelSpecificationError, match="describe the same loading"):
        build_partable(parse(text))


def test_thresholds_are_still_refused():
    with pytest.raises(ModelSyntaxError, match="thresholds"):
        parse("y | t1 + t2")


# -- the likelihood against an independent computation ---------------------------------

def _one_loading_values():
    w, b = "within", "between"
    return {("f", "=~", "y3", w): 0.75, ("y1", "~~", "y1", w): 0.4, ("y2", "~~", "y2", w): 0.3,
            ("y3", "~~", "y3", w): 0.35, ("f", "~~", "f", w): 1.1,
            ("fb", "=~", "y2", b): 0.85, ("fb", "=~", "y3", b): 1.15,
            ("y1", "~~", "y1", b): 0.1, ("y2", "~~", "y2", b): 0.08, ("y3", "~~", "y3", b): 0.12,
            ("fb", "~~", "fb", b): 0.35, ("l2", "~~", "l2", b): 0.2,
            ("fb", "~~", "l2", b): 0.06, ("y2", "~~", "l2", b): -0.02,
            ("y1", "~1", "", b): 0.4, ("y2", "~1", "", b): -0.1, ("y3", "~1", "", b): 0.2,
            ("l2", "~1", "", b): 0.7}


def test_loglik_equals_brute_force_gauss_hermite():
    """The objective at an arbitrary theta (not the estimate) against 200 plain
    Gauss-Hermite nodes over l2 with f integrated analytically, per cluster (150 and
    200 plain nodes differ by 3e-9; 60 by 2e-4: the plain rule needs many)."""
    df = simulate()
    pt, obj = _objective(ONE, df, nodes=60)
    v = _one_loading_values()
    theta = _theta(pt, v)
    b = "between"
    phi = np.zeros((5, 5))  # fb, e1, e2, e3, l2
    phi[0, 0], phi[4, 4] = v[("fb", "~~", "fb", b)], v[("l2", "~~", "l2", b)]
    for i in range(3):
        phi[1 + i, 1 + i] = v[(f"y{i + 1}", "~~", f"y{i + 1}", b)]
    phi[0, 4] = phi[4, 0] = v[("fb", "~~", "l2", b)]
    phi[2, 4] = phi[4, 2] = v[("y2", "~~", "l2", b)]
    within = {"lam": np.array([1.0, np.nan, v[("f", "=~", "y3", "within")]]),
              "psi": v[("f", "~~", "f", "within")],
              "theta": np.array([v[(f"y{i}", "~~", f"y{i}", "within")] for i in (1, 2, 3)])}
    between = {"nu": np.array([v[(f"y{i}", "~1", "", b)] for i in (1, 2, 3)]),
               "lam": np.array([1.0, v[("fb", "=~", "y2", b)], v[("fb", "=~", "y3", b)]]),
               "mu_l": np.array([v[("l2", "~1", "", b)]]), "phi": phi}
    ref = brute_force_loglik(df, ["y1", "y2", "y3"], within, between, nodes=200)
    assert obj.loglik(theta) == pytest.approx(ref, abs=1e-6)
    # the default rule (9 adaptive nodes) is near (4.5e-3 here, at a theta far from
    # the estimate, in clusters of 3 to 7), and the check is not vacuous: a loading of
    # y2 fixed at its mean is visibly another likelihood
    _, default = _objective(ONE, df, nodes=9)
    assert default.loglik(theta) == pytest.approx(ref, abs=1e-2)
    fixed = dict(v)
    fixed[("l2", "~~", "l2", b)] = 1e-9
    fixed[("fb", "~~", "l2", b)] = fixed[("y2", "~~", "l2", b)] = 0.0
    assert abs(obj.loglik(_theta(pt, fixed)) - ref) > 1.0


def test_two_random_loadings_equal_brute_force():
    """Two random loadings (a two-dimensional rule): 60 x 60 plain nodes (80 x 80 move
    the result by 6e-8) against 30 x 30 adaptive ones."""
    df = simulate(n_clusters=30, seed=4, p=4)
    pt, obj = _objective(TWO, df, nodes=30)
    w, b = "within", "between"
    v = {("f", "=~", "y4", w): 1.1, ("f", "~~", "f", w): 0.9,
         ("fb", "~~", "fb", b): 0.3, ("l2", "~~", "l2", b): 0.15, ("l3", "~~", "l3", b): 0.1,
         ("l2", "~~", "l3", b): 0.03, ("fb", "~~", "l2", b): 0.05, ("fb", "~~", "l3", b): -0.02,
         ("y2", "~~", "l2", b): 0.01, ("y3", "~~", "l3", b): -0.01,
         ("y2", "~~", "l3", b): 0.0, ("y3", "~~", "l2", b): 0.02, ("y2", "~~", "y3", b): 0.01,
         ("l2", "~1", "", b): 0.75, ("l3", "~1", "", b): 0.55}
    lam_b = [1.0, 0.9, 1.05, 0.85]
    for i in range(4):
        y = f"y{i + 1}"
        v[(y, "~~", y, w)] = 0.3 + 0.05 * i
        v[(y, "~~", y, b)] = 0.08 + 0.01 * i
        v[(y, "~1", "", b)] = 0.1 * i - 0.1
        if i:
            v[("fb", "=~", y, b)] = lam_b[i]
    theta = _theta(pt, v)
    # (fb, e1..e4, l2, l3)
    names = ["fb", "y1", "y2", "y3", "y4", "l2", "l3"]
    phi = np.zeros((7, 7))
    for (lhs, op, rhs, lvl), val in v.items():
        if op == "~~" and lvl == b:
            i, j = names.index(lhs), names.index(rhs)
            phi[i, j] = phi[j, i] = val
    within = {"lam": np.array([1.0, np.nan, np.nan, v[("f", "=~", "y4", w)]]),
              "psi": v[("f", "~~", "f", w)],
              "theta": np.array([v[(f"y{i}", "~~", f"y{i}", w)] for i in range(1, 5)])}
    between = {"nu": np.array([v[(f"y{i}", "~1", "", b)] for i in range(1, 5)]),
               "lam": np.array(lam_b), "mu_l": np.array([0.75, 0.55]), "phi": phi}
    ref = brute_force_loglik(df, ["y1", "y2", "y3", "y4"], within, between, nodes=60)
    assert obj.loglik(theta) == pytest.approx(ref, abs=1e-6)


# -- lavaan: the random loading with its variance at zero is a fixed loading --------------

ZERO = """level: 1
  f =~ y1 + rv("l2")*y2 + y3 + y4
level: 2
  fb =~ y1 + y2 + y3 + y4
  l2 ~~ 0*l2 + 0*fb + 0*y2
"""


@pytest.fixture(scope="module")
def rl_sim():
    return pd.read_csv(DIR / "rl_sim.csv")


def _compare_lavaan(res, ref, se_rel=0.01):
    """lavaan 0.6-14's two-level CFA against ours: the loading of y2 is the mean of l2;
    estimates within 1e-3 relative or 1% of the SE, SEs within `se_rel`."""
    assert res.converged and ref["converged"]
    assert res.loglik == pytest.approx(ref["logl"], abs=1e-3)
    assert res.npar == ref["npar"]
    ours = res.estimates.set_index(["lhs", "op", "rhs", "level"])
    levels = {1: "within", 2: "between"}
    checked = 0
    for row in ref["parameter_table"]:
        if not row["se"]:
            continue
        key = (row["lhs"], row["op"], row["rhs"], levels[row["level"]])
        if key == ("f", "=~", "y2", "within"):
            key = ("l2", "~1", "", "between")
        mine = ours.loc[key]
        tol = max(1e-3 * abs(row["est"]), 0.01 * row["se"])
        assert abs(mine["est"] - row["est"]) <= tol, key
        assert mine["se"] == pytest.approx(row["se"], rel=se_rel), key
        checked += 1
    assert checked == ref["npar"]


def test_zero_variance_random_loading_is_lavaans_fixed_loading(rl_sim):
    ref = json.loads((DIR / "RL0_fixed_loading_ml.json").read_text())
    res = ms.fit(ZERO, rl_sim, cluster="cluster")
    _compare_lavaan(res, ref)
    # the variance fixed at zero is the model, not a finding about the data
    assert not any("l2" in n for n in res.estimation.notes)


def test_zero_variance_random_loading_mlr(rl_sim):
    ref = json.loads((DIR / "RL0_fixed_loading_mlr.json").read_text())
    res = ms.fit(ZERO, rl_sim, cluster="cluster", estimator="MLR")
    _compare_lavaan(res, ref)


# -- fits: what the user sees, recovery, MLR, the boundary -----------------------------

#: the population of simulate(): average loading of y2, its variance, its covariance
#: with the between factor; the within loading of y3 and the factor variances
TRUTH = {("l2", "~1", "", "between"): 0.8, ("l2", "~~", "l2", "between"): 0.16,
         ("fb", "~~", "l2", "between"): 0.12, ("f", "=~", "y3", "within"): 0.7,
         ("f", "~~", "f", "within"): 1.0, ("fb", "~~", "fb", "between"): 0.36}


@pytest.fixture(scope="module")
def rl_fit():
    return ms.fit(ONE, simulate(n_clusters=80, seed=3, sizes=(4, 8)), cluster="g")


def test_fit_recovers_the_random_loading_within_its_standard_errors(rl_fit):
    res = rl_fit
    assert res.converged
    est = res.estimates.set_index(["lhs", "op", "rhs", "level"])
    for key, true in TRUTH.items():
        row = est.loc[key]
        assert abs(row["est"] - true) < 3 * row["se"], key
    # the loading varies: its variance is clearly positive
    assert est.loc[("l2", "~~", "l2", "between"), "z"] > 2
    # the declaration row has no estimate of its own; the mean of l2 is the average
    decl = est.loc[("y2", "|~", "f", "within")]
    assert np.isnan(decl["est"])


def test_summary_and_html_say_where_the_average_and_variance_are(rl_fit):
    res = rl_fit
    est = res.estimates.set_index(["lhs", "op", "rhs", "level"])
    mean = est.loc[("l2", "~1", "", "between")]
    text = res.summary()
    assert "Random Loadings" in text and 'f =~ rv("l2")*y2' in text
    assert "Random Slopes" not in text
    # the average among f's loadings, with the mean's estimate and standard error
    line = next(ln for ln in text.splitlines() if ln.strip().startswith("y2 [random l2]"))
    assert f"{mean['est']:.3f}" in line and f"{mean['se']:.3f}" in line
    assert "The loading of y2 on f varies over clusters (random loading l2)" in text
    html = res._repr_html_()
    assert "y2 [random l2]" in html
    assert "msem-random-loading" in html and "l2 ~~ l2" in html
    report = res.report()["estimates"].html
    assert 'f =~ rv(&quot;l2&quot;)*y2' in report and "y2 [random l2]" in report
    assert "varies over clusters" in report


def test_scale_by_the_factor_variance_is_the_same_model(rl_fit):
    """f's scale set by its variance instead of the marker: the same likelihood, and the
    random loading rescaled by f's SD (its mean by sd, its variance by sd^2)."""
    df = simulate(n_clusters=80, seed=3, sizes=(4, 8))
    std = ms.fit('level: 1\n f =~ NA*y1 + rv("l2")*y2 + y3\n f ~~ 1*f\n'
                 'level: 2\n fb =~ y1 + y2 + y3\n', df, cluster="g")
    assert std.converged
    assert std.loglik == pytest.approx(rl_fit.loglik, abs=1e-4)
    a = rl_fit.estimates.set_index(["lhs", "op", "rhs", "level"])["est"]
    b = std.estimates.set_index(["lhs", "op", "rhs", "level"])["est"]
    sd = np.sqrt(a[("f", "~~", "f", "within")])
    assert b[("f", "=~", "y1", "within")] == pytest.approx(sd, rel=2e-3)
    assert b[("l2", "~1", "", "between")] == pytest.approx(
        sd * a[("l2", "~1", "", "between")], rel=2e-3)
    assert b[("l2", "~~", "l2", "between")] == pytest.approx(
        sd ** 2 * a[("l2", "~~", "l2", "between")], rel=5e-3)


def test_diagram_calls_it_a_random_loading(rl_fit):
    pytest.importorskip("plotly")
    fig = rl_fit.diagram()
    ann = {a.name: a for a in fig.layout.annotations if a.name}
    mean = rl_fit.estimates.set_index(["lhs", "op", "rhs", "level"]).loc[
        ("l2", "~1", "", "between"), "est"]
    hover = ann["slope-label:l2"].hovertext
    assert "random loading l2" in hover and f"mean loading {mean:.3f}" in hover


def test_names_reach_the_html_escaped(rl_fit):
    """A column name in backticks is the user's text: it reaches the page escaped."""
    df = simulate(n_clusters=80, seed=3, sizes=(4, 8)).rename(columns={"y2": "y<b>2"})
    model = ONE.replace("y2", "`y<b>2`")
    assert build_partable(parse(model)).random_loadings == {"l2": ("f", "y<b>2")}
    res = ms.fit(model, df, cluster="g", control={"start": rl_fit.estimation.theta})
    assert res.converged
    for page in (res._repr_html_(), res.report()["estimates"].html):
        assert "y<b>2" not in page and "y&lt;b&gt;2 [random l2]" in page


def test_warnings_of_a_checked_fit_still_reach_the_user(rl_fit):
    """The quadrature check holds the first fit's warnings back; when it keeps that
    fit, they are given as before (warning and fit.messages)."""
    df = simulate(n_clusters=80, seed=3, sizes=(4, 8))
    with pytest.warns(ms.ConvergenceWarning, match="did not converge"):
        res = ms.fit(ONE, df, cluster="g", control={"maxiter": 2})
    assert not res.converged
    assert sum("did not converge" in m for m in res.messages) == 1


@pytest.mark.slow
def test_parameter_recovery_over_replications():
    """Twelve data sets of 150 clusters: the mean estimate of each population value is
    within 2.5 Monte Carlo standard errors (and 0.05) of it."""
    draws = {k: [] for k in TRUTH}
    for rep in range(12):
        res = ms.fit(ONE, simulate(n_clusters=150, seed=100 + rep, sizes=(5, 10)), cluster="g")
        assert res.converged
        est = res.estimates.set_index(["lhs", "op", "rhs", "level"])
        for k in TRUTH:
            draws[k].append(est.loc[k, "est"])
    for k, true in TRUTH.items():
        x = np.array(draws[k])
        mc_se = x.std(ddof=1) / np.sqrt(len(x))
        assert abs(x.mean() - true) < max(2.5 * mc_se, 0.05), (k, x.mean())


def test_mlr_keeps_the_estimates_and_changes_the_standard_errors(rl_fit):
    df = simulate(n_clusters=80, seed=3, sizes=(4, 8))
    mlr = ms.fit(ONE, df, cluster="g", estimator="MLR", control={"start": rl_fit.estimation.theta})
    assert mlr.converged
    ml_est, mlr_est = rl_fit.estimates, mlr.estimates
    free = ml_est["se"].to_numpy() > 0
    np.testing.assert_allclose(mlr_est["est"].to_numpy()[free], ml_est["est"].to_numpy()[free],
                               atol=1e-4)
    ratio = mlr_est["se"].to_numpy()[free] / ml_est["se"].to_numpy()[free]
    assert np.isfinite(ratio).all() and (ratio > 0.5).all() and (ratio < 2).all()
    assert np.abs(ratio - 1).max() > 0.01  # a sandwich, not the ML standard errors again


def test_a_loading_that_does_not_vary_is_reported_at_the_boundary():
    df = simulate(n_clusters=60, seed=2, sizes=(4, 8), load_sd=(0.0, 0.0))
    res = ms.fit(ONE.replace("fb =~ y1 + y2 + y3", "fb =~ y1 + y2 + y3\n  l2 ~~ 0*fb + 0*y2"),
                 df, cluster="g")
    assert res.converged
    est = res.estimates.set_index(["lhs", "op", "rhs", "level"])
    assert est.loc[("l2", "~~", "l2", "between"), "est"] < 0.01
    assert any("variance of l2 (between) is at its boundary" in n for n in res.estimation.notes)
    assert "Note:" in res.summary()


@pytest.mark.slow
def test_a_cluster_far_from_normal_gets_more_quadrature_nodes():
    """In this data set one cluster of six has a long tail towards a zero loading: 9
    nodes are off by 0.01 there (the fit's line search failed); the fit is checked
    against 19 nodes and redone with them."""
    with warnings.catch_warnings():
        # the first fit's "did not converge" belongs to a fit that was redone
        warnings.simplefilter("error", ms.ConvergenceWarning)
        res = ms.fit(ONE, simulate(n_clusters=150, seed=102, sizes=(5, 10)), cluster="g")
    assert res.converged
    assert not any("did not converge" in m for m in res.messages)
    assert res.estimation.objective.nodes == 19
    assert any("refitted with 19" in n for n in res.estimation.notes)
    finer = _objective(ONE, simulate(n_clusters=150, seed=102, sizes=(5, 10)), 41)[1]
    assert finer.loglik(res.estimation.theta) == pytest.approx(res.loglik, abs=1e-3)
