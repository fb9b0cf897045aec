"""The clusters' own estimates of random-slope models (fit.predict(level="between")),
against lavaan-dev's lavPredict(fit, level = 2, se = "standard") (0.7-2.3170; fixtures
and their R script in tests/fixtures/slopes_lavdev/)."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import msem_nb as ms
from msem_nb.errors import ModelSpecificationError
from msem_nb.estimation.exogenous import exogenous_values
from msem_nb.estimation.options import FitOptions
from msem_nb.estimation.pipeline import prepare
from msem_nb.inference.cluster_effects import cluster_effects
from msem_nb.likelihood.slopes_latent import LatentSlopeObjective
from msem_nb.model.partable import build_partable
from msem_nb.model.spec import build_spec
from msem_nb.syntax import parse

DIR = Path(__file__).parent / "fixtures" / "slopes_lavdev"
LEVELS = {1: "within", 2: "between"}


def _ref(name):
    return json.loads((DIR / f"{name}.json").read_text())


@pytest.fixture(scope="module")
def rs_sim():
    return pd.read_csv(DIR / "rs_sim.csv")


@pytest.fixture(scope="module")
def rs1(rs_sim):
    ref = _ref("RS1_latent_outcome")
    return ref, ms.fit(ref["model_syntax"], rs_sim, cluster="cluster")


def _lavaan_theta(pt, ref, npar):
    """Our parameter vector at lavaan's estimates (free rows lavaan's table does not
    have are NaN)."""
    theta = np.full(npar, np.nan)
    for row in ref["parameter_table"]:
        for rec in pt.records:
            key = (rec["lhs"], rec["op"], rec["rhs"], rec["level"])
            lav = (row["lhs"], row["op"], row["rhs"], LEVELS[row["level"]])
            flipped = (row["rhs"], row["op"], row["lhs"], LEVELS[row["level"]])
            if rec["free"] > 0 and (key == lav or (row["op"] == "~~" and key == flipped)):
                theta[rec["free"] - 1] = row["est"]
    return theta


def _against_lavaan(ce, ref, tol_mean, tol_sd):
    mean = pd.DataFrame(ref["predict_level2"])
    sd = pd.DataFrame(ref["predict_level2_se"])
    # lavaan's columns are the between latent variables (slopes among them), first
    assert list(ce.names[:mean.shape[1]]) == list(mean.columns)
    assert len(ce.ids) == len(mean)
    for k, v in enumerate(mean.columns):
        assert np.abs(ce.mean[:, k] - mean[v]).max() < tol_mean, v
        assert np.abs(ce.sd[:, k] - sd[v]).max() < tol_sd, v
        # (the comparison is not trivial: the effects vary across clusters)
        assert mean[v].std() > 0.1


def test_closed_form_at_lavaans_estimates(rs1):
    """RS1 (slope on an observed covariate, latent outcome): at lavaan-dev's estimates the
    posterior means and SDs are lavaan's to 1e-10 (the same Gaussian posterior; lavaan's
    se = "standard" is the posterior SD, sqrt(diag(Sigma0_j)) in lav_mvn_cl_rs_eb_core)."""
    ref, fit = rs1
    theta = _lavaan_theta(fit.partable, ref, len(fit.estimation.theta))
    assert not np.isnan(theta).any()
    _against_lavaan(cluster_effects(fit.estimation.objective, theta), ref, 1e-10, 1e-10)


def test_closed_form_at_our_fit(rs1):
    """At our own maximum (estimates within 3e-5 of lavaan's) the predictions agree to
    1e-4; the frame is indexed by cluster id, with <name>_se columns."""
    ref, fit = rs1
    out = fit.predict(level="between", se=True)
    assert out.index.name == "cluster"
    assert list(out.index) == sorted(pd.read_csv(DIR / "rs_sim.csv")["cluster"].unique())
    assert list(out.columns) == ["fyb", "s1", "y1", "y2", "y3",
                                 "fyb_se", "s1_se", "y1_se", "y2_se", "y3_se"]
    mean = pd.DataFrame(ref["predict_level2"])
    sd = pd.DataFrame(ref["predict_level2_se"])
    for v in ("fyb", "s1"):
        assert np.abs(out[v].to_numpy() - mean[v]).max() < 1e-4
        assert np.abs(out[f"{v}_se"].to_numpy() - sd[v]).max() < 1e-4
    plain = fit.predict(level="between")
    assert list(plain.columns) == ["fyb", "s1", "y1", "y2", "y3"]
    # shrinkage: every cluster's posterior SD is below the slope's SD across clusters
    ce = fit.cluster_effects
    k = ce.names.index("s1")
    assert (ce.sd[:, k] < np.sqrt(ce.prior_var[k])).all()
    # the fixed part of s1 is its mean (no covariate of s1 at the between level)
    s1_mean = fit.estimates.query("lhs == 's1' and op == '~1'")["est"].item()
    assert np.allclose(ce.prior_mean[:, k], s1_mean)


def test_latent_covariate_at_lavaans_estimates(rs_sim):
    """RS2 (fy ~ rv("s1")*fx, both latent; quadrature over s1): at lavaan-dev's estimates
    the posterior means agree to 2e-5 and the SDs to 5e-5 (observed: 7e-6 and 1.3e-5).
    lavaan-dev integrates with a fixed 21-point rule, we with the adapted rule; ours does
    not move when its nodes go from 9 to 41 (below 1e-6), so the rest is lavaan's
    quadrature error. lavaan-dev's table has no fxb ~~ s1 (fixed at zero); ours frees it
    by default, so it is set to zero here, which is lavaan's model."""
    ref = _ref("RS2_latent_covariate")
    pt = build_partable(parse(ref["model_syntax"]))
    data, _ = prepare(pt, rs_sim, "cluster", FitOptions())
    spec = build_spec(pt, exogenous_values(pt, data)[0])
    theta = _lavaan_theta(pt, ref, spec.npar)
    missing = [r for r in pt.records if r["free"] > 0 and np.isnan(theta[r["free"] - 1])]
    assert [(r["lhs"], r["op"], r["rhs"]) for r in missing] == [("fxb", "~~", "s1")]
    theta[np.isnan(theta)] = 0.0
    obj = LatentSlopeObjective(pt, spec, data)
    assert obj.loglik(theta) == pytest.approx(ref["logl"], abs=1e-3)
    ce = cluster_effects(obj, theta)
    assert ce.names[:3] == ("fxb", "fyb", "s1")
    _against_lavaan(ce, ref, 2e-5, 5e-5)
    more = cluster_effects(LatentSlopeObjective(pt, spec, data, 41), theta)
    assert np.abs(more.mean - ce.mean).max() < 1e-6
    assert np.abs(more.sd - ce.sd).max() < 1e-6


def test_what_predict_refuses(rs1):
    _, fit = rs1
    for kwargs, message in (({}, "level='between'"),
                            ({"level": "within"}, "row-level"),
                            ({"level": "between", "type": "ov"}, "type='lv'"),
                            ({"level": "between", "method": "bartlett"}, "method='regression'"),
                            ({"level": "between", "data": fit.predict(level="between")},
                             "not available for random-slope")):
        with pytest.raises(ModelSpecificationError, match=message):
            fit.predict(**kwargs)


def test_no_random_slopes_no_posterior_sds(rs_sim):
    fit = ms.fit("level: 1\n y1 ~ z1\nlevel: 2\n y1 ~ w", rs_sim, cluster="cluster")
    with pytest.raises(ModelSpecificationError, match="random-slope models"):
        fit.predict(level="between", se=True)
    with pytest.raises(ModelSpecificationError, match="models with random slopes"):
        _ = fit.cluster_effects


def test_three_levels_and_groups_are_refused(rs_sim):
    df = rs_sim.assign(school=rs_sim["cluster"] // 10, g=rs_sim["cluster"] % 2)
    three = ms.fit("level: 1\n y1 ~ z1\nlevel: 2\n y1 ~~ y1\nlevel: 3\n y1 ~~ y1", df,
                   cluster=["cluster", "school"])
    for call in (lambda: three.predict(level="between", se=True),
                 lambda: three.cluster_effects):
        with pytest.raises(ModelSpecificationError, match="three-level models"):
            call()
    groups = ms.fit("level: 1\n y1 ~ z1\nlevel: 2\n y1 ~ w", df, cluster="cluster",
                    group="g")
    for call in (lambda: groups.predict(level="between", se=True),
                 lambda: groups.cluster_effects):
        with pytest.raises(ModelSpecificationError, match="multigroup"):
            call()


# -- the figures ----------------------------------------------------------------------

def test_caterpillar_figure(rs1):
    """Sorted posterior means with intervals of z posterior SDs; the fixed part as a line."""
    _, fit = rs1
    fig = fit.caterpillar("s1", ci_level=0.9)
    pred = fit.predict(level="between", se=True)
    (trace,) = fig.data
    assert len(trace.x) == len(pred) == 120
    assert np.allclose(np.sort(pred["s1"].to_numpy()), trace.y)
    z = 1.6448536269514722
    order = np.argsort(pred["s1"].to_numpy(), kind="stable")
    assert np.allclose(trace.error_y.array, z * pred["s1_se"].to_numpy()[order])
    s1_mean = fit.estimates.query("lhs == 's1' and op == '~1'")["est"].item()
    (line,) = [s for s in fig.layout.shapes if s.type == "line"]
    assert line.y0 == pytest.approx(s1_mean)
    (band,) = [s for s in fig.layout.shapes if s.type == "rect"]
    sd = np.sqrt(fit.estimates.query("lhs == 's1' and op == '~~'")["est"].item())
    assert band.y1 - band.y0 == pytest.approx(2 * z * sd)
    assert f"cluster <b>{pred.index[order[0]]}</b>" in trace.hovertext[0]
    assert "90% interval" in fig.layout.yaxis.title.text
    # the default effect is the first slope; a between latent variable works too
    assert np.allclose(fit.caterpillar().data[0].y, np.sort(pred["s1"].to_numpy()))
    assert np.allclose(fit.caterpillar("fyb").data[0].y, np.sort(pred["fyb"].to_numpy()))
    with pytest.raises(ModelSpecificationError, match="not a between random effect"):
        fit.caterpillar("fy")


def test_figures_escape_user_names(rs_sim):
    """Cluster ids reach the hover text, escaped."""
    df = rs_sim.assign(team=[f"<b>t{c}</b>&" for c in rs_sim["cluster"]])
    fit = ms.fit('level: 1\n y1 ~ rv("s1")*z1 + z2\nlevel: 2\n y1 ~ w\n y1 ~~ s1', df,
                 cluster="team")
    fig = fit.caterpillar()
    text = " ".join(fig.data[0].hovertext)
    assert "&lt;b&gt;t1&lt;/b&gt;&amp;" in text and "<b>t1</b>&" not in text
    lines = fit.spaghetti()
    text = " ".join(t for t in lines.data[1].hovertext)
    assert "&lt;b&gt;t1&lt;/b&gt;&amp;" in text and "<b>t1</b>&" not in text
    assert "team <b>" in text


def test_spaghetti_lines_are_the_clusters_estimates(rs_sim):
    """Each cluster's line has its posterior slope, spans its range of the covariate,
    and passes through its predicted values: the posterior mean of y1's between part plus
    the fixed effects of the covariates (z2 at its mean)."""
    fit = ms.fit('level: 1\n y1 ~ rv("s1")*z1 + z2\nlevel: 2\n y1 ~ w\n s1 ~ w\n y1 ~~ s1',
                 rs_sim, cluster="cluster")
    fig = fit.spaghetti("s1")
    points, lines, fixed = fig.data
    assert len(points.x) == len(rs_sim)
    pred = fit.predict(level="between")
    x = np.array(lines.x, dtype=float).reshape(-1, 3)[:, :2]
    y = np.array(lines.y, dtype=float).reshape(-1, 3)[:, :2]
    slopes = (y[:, 1] - y[:, 0]) / (x[:, 1] - x[:, 0])
    assert np.allclose(slopes, pred["s1"].to_numpy())
    g = rs_sim.groupby("cluster")["z1"]
    assert np.allclose(x[:, 0], g.min().to_numpy()) and np.allclose(x[:, 1], g.max().to_numpy())
    est = fit.estimates.set_index(["lhs", "op", "rhs"])["est"]
    at = est[("y1", "~", "z2")] * rs_sim["z2"].mean()
    assert np.allclose(y[:, 0], pred["y1"].to_numpy() + at + pred["s1"].to_numpy() * x[:, 0])
    assert "fixed part" in fixed.name
    # s1 ~ w: the caterpillar's band is the slopes' spread across clusters, the residual
    # variance plus that of the fixed part over the clusters' w
    (band,) = [s for s in fit.caterpillar().layout.shapes if s.type == "rect"]
    w = rs_sim.groupby("cluster")["w"].first().to_numpy()
    total = est[("s1", "~~", "s1")] + est[("s1", "~", "w")] ** 2 * w.var()
    assert band.y1 - band.y0 == pytest.approx(2 * 1.959963984540054 * np.sqrt(total))
    # a latent outcome: its marker indicator
    latent = ms.fit(_ref("RS1_latent_outcome")["model_syntax"], rs_sim, cluster="cluster")
    assert latent.spaghetti().layout.yaxis.title.text == "y1 (the marker of fy)"
    with pytest.raises(ModelSpecificationError, match="not a random slope"):
        fit.spaghetti("w")


def test_spaghetti_of_a_latent_covariate_says_why_not(rs_sim):
    fit = ms.fit('level: 1\n yc ~ rv("s1")*xc\nlevel: 2\n yc ~ xc\n yc ~~ s1', rs_sim,
                 cluster="cluster")
    assert len(fit.caterpillar().data[0].y) == 120
    with pytest.raises(ModelSpecificationError, match="latent at the within level"):
        fit.spaghetti()


def test_spaghetti_says_the_covariate_was_centred(rs_sim):
    fit = ms.fit('level: 1\n y1 ~ rv("s1")*z1 + z2\nlevel: 2\n y1 ~ w\n y1 ~~ s1', rs_sim,
                 cluster="cluster", center={"z1": "cluster"})
    fig = fit.spaghetti()
    assert fig.layout.xaxis.title.text == "z1 (centred within clusters)"
    # the lines run over the centred values
    x = np.array(fig.data[1].x, dtype=float).reshape(-1, 3)[:, :2]
    centred = rs_sim["z1"] - rs_sim.groupby("cluster")["z1"].transform("mean")
    assert np.allclose(x[:, 0], centred.groupby(rs_sim["cluster"]).min().to_numpy())


DENSE_MODELS = [
    'level: 1\n y1 ~ rv("s1")*z1 + z2\nlevel: 2\n y1 ~ w\n s1 ~ w\n zb ~ y1 + s1\n y1 ~~ s1',
    'level: 1\n fy =~ y1 + y2 + y3\n fy ~ rv("s1")*z1 + z2\nlevel: 2\n fyb =~ y1 + y2 + y3\n'
    ' fyb ~ w\n s1 ~ w\n zb ~ fyb + s1\n fyb ~~ s1',
]


@pytest.mark.parametrize("model", DENSE_MODELS, ids=["observed_outcome", "latent_outcome"])
def test_closed_form_equals_dense_conditioning(rs_sim, model):
    """With between covariates (w) and a between-only outcome (zb, observed: part of what
    the posterior conditions on), the posterior of every between variable equals the
    Gaussian conditioning of the between variables on the cluster's stacked rows and zb,
    from their dense joint covariance (no Woodbury, no two-step mapping): 1e-10."""
    rng = np.random.default_rng(1)
    zb = 0.5 * rs_sim.groupby("cluster")["w"].first() + rng.normal(0, 0.5, 120)
    df = rs_sim.assign(zb=rs_sim["cluster"].map(zb))
    fit = ms.fit(model, df, cluster="cluster", quiet=True)
    obj, theta = fit.estimation.objective, fit.estimation.theta.copy()
    for rec in fit.partable.records:   # a clear slope variance, whatever the data say
        if (rec["lhs"], rec["op"], rec["rhs"]) == ("s1", "~~", "s1"):
            theta[rec["free"] - 1] = 0.1
    ce = cluster_effects(obj, theta)
    names, m0, G, cov = obj.between_joint(theta)
    Q = obj.quantities(theta)
    lay, data = obj.layout, obj.data
    rows, t = np.asarray(data.rows), obj.sdata.t
    offs = list(data.offsets) + [len(rows)]
    ri = [names.index(v) for v in lay.r]
    zi = [names.index(v) for v in lay.z]
    out = [names.index(v) for v in ce.names]
    assert "s1" in ce.names and len(lay.z) == 1 and len(lay.w) == 1
    q, py = len(lay.cond), len(lay.ys)
    a, Pi, K = -Q["L"][:, 0], -Q["L"][:, 1:1 + q], Q["K"][:, :, :1 + q]
    for j in range(len(t)):
        R = rows[offs[j]:offs[j + 1]]
        C = R[:, [data.within.index(v) for v in lay.cond]]
        Y = R[:, [data.within.index(v) for v in lay.ys]]
        n = len(R)
        Z = np.einsum("arc,ic->iar", K, np.hstack([np.ones((n, 1)), C])).reshape(n * py, -1)
        mv = m0 + G @ t[j, 1:2]
        SY = Z @ cov[np.ix_(ri, ri)] @ Z.T + np.kron(np.eye(n), Q["sigma_w"])
        S_obs = np.block([[SY, Z @ cov[np.ix_(ri, zi)]],
                          [cov[np.ix_(zi, ri)] @ Z.T, cov[np.ix_(zi, zi)]]])
        C_vo = np.hstack([cov[:, ri] @ Z.T, cov[:, zi]])
        dev = np.concatenate([Y.reshape(-1) - (a + C @ Pi.T).reshape(-1) - Z @ mv[ri],
                              t[j, 2:] - mv[zi]])
        mean = mv + C_vo @ np.linalg.solve(S_obs, dev)
        var = cov - C_vo @ np.linalg.solve(S_obs, C_vo.T)
        assert np.abs(mean[out] - ce.mean[j]).max() < 1e-10
        assert np.abs(var[np.ix_(out, out)] - ce.cov[j]).max() < 1e-10
