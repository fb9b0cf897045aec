"""The saturated three-level model, moment start values, and fixed covariates at three levels.

The saturated (h1) model has a free mean per variable, a free level-1
covariance of the level-1 variables and free level-2 and level-3 covariances
of the variables with a part at those levels (``data.at2``, ``data.at3``).
It is fitted by quasi-Newton steps with the analytic gradient of
:mod:`msem_nb.likelihood.threelevel` in the moments themselves (lower
triangles), finished by Newton steps on the differenced gradient; a trial
point whose matrices are not positive definite has log-likelihood -inf and
is stepped back from. It starts from moment estimates (:func:`moment_starts`):

    S_W = A / (N - J)
    S_C = sum_k sum_j (x_j - xbar_k)(x_j - xbar_k)' / (J - K)   (classes about their school)
    S_S = sum_k (v_k - vbar)(v_k - vbar)' / K                  (school vectors v_k = (xbar_k, z_k))
    S_2 ~ S_C - E S_W E' / nbar,   S_3 ~ S_S - S_2 / mbar - E S_W E' / (nbar mbar)

(``nbar`` rows per class, ``mbar`` classes per school), restricted to the
variables with a part at each level and raised to positive definite.

Fixed covariates (fixed.x) whose parts are all at one level have closed-form
saturated moments: the mean and covariance (divisor n) over the rows,
classes or schools; their log-likelihood, the sum of those normal
log-likelihoods, is what the conditional log-likelihood subtracts. A
covariate with parts at several levels takes its moments from the saturated
model of all variables, and (as for two levels and in lavaan) its marginal
likelihood is not subtracted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from msem_nb.data.threelevel import ThreeLevelData
from msem_nb.estimation.optimize import maximize
from msem_nb.estimation.saturated import Saturated, data_cache
from msem_nb.likelihood.threelevel import LOG2PI, loglik_threelevel
from msem_nb.model.partable import ParTable

__all__ = ["ThreeLevelSaturated", "fit_saturated_threelevel", "moment_starts",
           "threelevel_exogenous_values", "saturated_coordinates"]


@dataclass(frozen=True, eq=False)
class ThreeLevelSaturated(Saturated):
    """ML estimates of the saturated three-level model: ``sigma_w`` (level 1),
    ``sigma_b`` (level 2) and ``sigma_3`` (level 3), p x p with zero rows for
    variables without a part at that level."""

    sigma_3: np.ndarray | None = None

    def affine(self, loc: np.ndarray, scale: np.ndarray,
               counts: np.ndarray) -> ThreeLevelSaturated:
        """The same model for ``(y - loc) / scale`` (``names`` order), `counts` the
        number of values of each variable: its log-likelihood gains
        ``sum_v counts_v log scale_v``."""
        p1 = len(self.sigma_w)
        out = [None if S is None else S / np.outer(scale, scale)
               for S in (self.sigma_b, self.sigma_3)]
        return ThreeLevelSaturated(
            self.names, (np.asarray(self.mu) - loc) / scale,
            self.sigma_w / np.outer(scale[:p1], scale[:p1]), out[0],
            self.loglik + float(np.dot(counts, np.log(scale))), self.converged,
            self.iterations, sigma_3=out[1])

    def level_cov(self, level: int) -> np.ndarray:
        """The saturated covariance of `level` (1, 2 or 3)."""
        out = {1: self.sigma_w, 2: self.sigma_b, 3: self.sigma_3}[level]
        if out is None:  # pragma: no cover - every three-level fit sets all three
            raise ValueError(f"no saturated covariance of level {level}")
        return out


def _make_pd(S: np.ndarray, floor: np.ndarray) -> np.ndarray:
    """S with its eigenvalues raised so that each variable keeps at least `floor`."""
    if len(S) == 0:
        return S
    w, V = np.linalg.eigh(0.5 * (S + S.T))
    w = np.maximum(w, floor.min())
    out = (V * w) @ V.T
    d = np.maximum(np.diag(out), floor)
    out[np.diag_indices_from(out)] = d
    return out


def moment_starts(data: ThreeLevelData) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                 np.ndarray]:
    """Moment estimates ``(mu, S_W, S_2, S_3)`` (see the module docstring)."""
    d = data
    p1, q, p = d.p1, d.q, len(d.names)
    K, J = d.nschools, d.nclasses
    s_w = d.within_sscp / max(d.nobs - J, 1)
    x = d.class_vectors
    cnt = np.bincount(d.class_school, minlength=K).astype(float)
    xbar = np.stack([np.bincount(d.class_school, x[:, a], K) for a in range(q)], axis=1) \
        / cnt[:, None]
    xc = x - xbar[d.class_school]
    s_c = xc.T @ xc / max(J - K, 1)
    nbar = d.nobs / J
    mbar = J / K
    v = np.hstack([xbar, d.school_z])
    mu = v.mean(axis=0)
    s_s = (v - mu).T @ (v - mu) / K
    s2 = np.zeros((p, p))
    s2[:q, :q] = s_c
    s2[:p1, :p1] -= s_w / nbar
    s3 = s_s.copy()
    s3[:q, :q] -= s2[:q, :q] / mbar
    s3[:p1, :p1] -= s_w / (nbar * mbar)
    total = np.diag(s_s).copy()
    total[:q] += np.diag(s_c)[:q]
    total[:p1] += np.diag(s_w)
    out2, out3 = np.zeros((p, p)), np.zeros((p, p))
    for S, out, idx in ((s2, out2, d.index2), (s3, out3, d.index3)):
        out[np.ix_(idx, idx)] = _make_pd(S[np.ix_(idx, idx)], 0.05 * total[idx] + 1e-8)
    return mu, s_w, out2, out3


def threelevel_units(data: ThreeLevelData) -> tuple[np.ndarray, np.ndarray]:
    """Locations (the means) and scales (the powers of two nearest the standard
    deviations) that make `data` centred and of unit order, variable by variable."""
    mean, sd = data.value_moments()
    sd = np.where(np.isfinite(sd) & (sd > 0), sd, 1.0)
    return mean, np.exp2(np.round(np.log2(sd)))


def saturated_coordinates(data: ThreeLevelData) -> tuple[np.ndarray, ...]:
    """Index pairs of the saturated moments' lower triangles: (level-1 rows, cols,
    level-2 rows, cols, level-3 rows, cols), in data positions."""
    out: list[np.ndarray] = []
    for idx in (np.arange(data.p1), data.index2, data.index3):
        r, c = np.tril_indices(len(idx))
        out += [idx[r], idx[c]]
    return tuple(out)


def fit_saturated_threelevel(data: ThreeLevelData) -> ThreeLevelSaturated:
    """The saturated three-level model of `data`, fitted once per data object
    (on centred and scaled data, :func:`threelevel_units`, and mapped back).

    Returns
    -------
    ThreeLevelSaturated
        Kept with `data` (:func:`msem_nb.estimation.saturated.data_cache`); its
        arrays are read-only.
    """
    cache = data_cache(data)
    h1 = cache.get("h1")
    if isinstance(h1, ThreeLevelSaturated):
        return h1
    # fitted to centred and scaled data and mapped back, so that the answer does not
    # depend on the units of the variables (as the models', msem_nb.estimation.units)
    loc, scale = threelevel_units(data)
    h1 = _fit(data.affine(loc, scale)).affine(-loc / scale, 1.0 / scale, data.value_counts())
    for a in (h1.mu, h1.sigma_w, h1.sigma_b, h1.sigma_3):
        if a is not None:
            a.setflags(write=False)
    cache["h1"] = h1
    return h1


def _fit(data: ThreeLevelData) -> ThreeLevelSaturated:
    p = len(data.names)
    mu0, sw0, s20, s30 = moment_starts(data)
    rw, cw, r2, c2, r3, c3 = saturated_coordinates(data)
    nw, n2 = len(rw), len(r2)

    def unpack(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        mu = x[:p]
        sw = np.zeros((data.p1, data.p1))
        sw[rw, cw] = sw[cw, rw] = x[p:p + nw]
        s2, s3 = np.zeros((p, p)), np.zeros((p, p))
        s2[r2, c2] = s2[c2, r2] = x[p + nw:p + nw + n2]
        s3[r3, c3] = s3[c3, r3] = x[p + nw + n2:]
        return mu, sw, s2, s3

    def fun_grad(x: np.ndarray) -> tuple[float, np.ndarray | None]:
        ll, g = loglik_threelevel(data, *unpack(x))
        if g is None:
            return ll, None
        g_mu, G_w, G_2, G_3 = g
        return ll, np.concatenate([g_mu, _pairs(G_w, rw, cw), _pairs(G_2, r2, c2),
                                   _pairs(G_3, r3, c3)])

    x0 = np.concatenate([mu0, sw0[rw, cw], s20[r2, c2], s30[r3, c3]])
    # the information of a covariance is of order n / variance^2: a units-free metric
    scale = np.concatenate([
        data.nobs / np.maximum(np.diag(sw0).max(), 1e-12) * np.ones(p),
        np.full(nw, data.nobs), np.full(n2, data.nclasses), np.full(len(r3), data.nschools)])
    var = np.concatenate([np.ones(p), _pairvar(sw0, rw, cw), _pairvar(s20, r2, c2),
                          _pairvar(s30, r3, c3)])
    metric = np.diag(scale / var)
    res = maximize(fun_grad, x0, scale=data.nobs, gtol=1e-9, hessian=False, metric=metric)
    mu, sw, s2, s3 = unpack(res.x)
    return ThreeLevelSaturated(data.names, mu, sw, s2, res.fun, res.converged, res.iterations,
                               sigma_3=s3)


def _pairs(G: np.ndarray, r: np.ndarray, c: np.ndarray) -> np.ndarray:
    """A symmetric derivative in lower-triangle coordinates (off-diagonal cells twice)."""
    return G[r, c] * np.where(r == c, 1.0, 2.0)


def _pairvar(S: np.ndarray, r: np.ndarray, c: np.ndarray) -> np.ndarray:
    d = np.maximum(np.diag(S), 1e-12)
    return d[r] * d[c]


def _normal_loglik(n: int, S: np.ndarray) -> float:
    k = len(S)
    if k == 0:
        return 0.0
    _, logdet = np.linalg.slogdet(S)
    return float(-0.5 * n * (k * LOG2PI + logdet + k))


def _single_level_moments(data: ThreeLevelData, names: Sequence[str],
                          level: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Mean, covariance (divisor n) and n of variables with parts at `level` only,
    over the rows, the classes or the schools."""
    idx = [data.names.index(v) for v in names]
    if level == 1:
        assert data.rows is not None     # three-level data keep their rows
        X = data.rows[:, idx]
    elif level == 2:
        X = data.class_vectors[:, idx]
    else:
        X = data.school_means()[:, idx]
    m = X.mean(axis=0)
    return m, (X - m).T @ (X - m) / len(X), len(X)


def threelevel_exogenous_values(pt: ParTable, data: ThreeLevelData
                                ) -> tuple[dict[int, float], ThreeLevelSaturated | None, float,
                                           ThreeLevelSaturated | None]:
    """Fixed values of the exogenous covariates' moments at three levels.

    Returns ``(values, sat, loglik_x, h1)`` as
    :func:`msem_nb.estimation.exogenous.exogenous_values` (see the module
    docstring for where the moments come from).
    """
    exo = pt.exogenous
    if not exo:
        return {}, None, 0.0, None
    level_ov = pt.level_ov()
    levels = {v: [k + 1 for k, ov in enumerate(level_ov) if v in ov] for v in exo}
    plain = {L: [v for v in exo if levels[v] == [L]] for L in (1, 2, 3)}
    loglik_x = 0.0
    p = len(data.names)
    mean = np.zeros(p)
    covs = {L: np.zeros((p, p)) for L in (1, 2, 3)}
    for L, names in plain.items():
        if not names:
            continue
        m, S, n = _single_level_moments(data, names, L)
        idx = [data.names.index(v) for v in names]
        mean[idx] = m
        covs[L][np.ix_(idx, idx)] = S
        loglik_x += _normal_loglik(n, S)
    h1: ThreeLevelSaturated | None = None
    sat: ThreeLevelSaturated
    if any(len(levels[v]) > 1 for v in exo):
        h1 = sat = fit_saturated_threelevel(data)
    else:
        sw = covs[1][:data.p1, :data.p1]
        sat = ThreeLevelSaturated(data.names, mean, sw, covs[2], loglik_x, sigma_3=covs[3])
    values: dict[int, float] = {}
    key_level = [k.level for k in pt.block_keys]
    for i, r in enumerate(pt.records):
        if not r["exo"]:
            continue
        a = data.names.index(r["lhs"])
        if r["op"] == "~1":
            values[i] = float(sat.mu[a])
            continue
        c = data.names.index(r["rhs"])
        values[i] = float(sat.level_cov(key_level[r["block"]])[a, c])
    return values, sat, loglik_x, h1
