"""Modification indices: score tests for freeing fixed parameters, as lavaan's ``modindices()``.

The model is extended by the candidate parameters of
:mod:`msem_nb.inference.candidates` (at their current values, so the
implied moments do not change). With ``g`` the gradient of the
log-likelihood in the candidates, ``I`` the expected information of the
extended model, split into the candidates (1) and the model's free
coordinates (2), the modification index and the expected parameter change
of candidate k are (Saris, Satorra and Sorbom 1987)

    V    = I11 - I12 I22^-1 I21          (only its diagonal is needed)
    mi_k = g_k^2 / V_kk,   epc_k = g_k / V_kk.

``V_kk`` of a candidate that is not identified when freed (a marker
loading, a within intercept of a both-level variable) vanishes up to
rounding; where ``V_kk < 1e-8 I11_kk`` the index is undefined and the row is
dropped (lavaan: ``na.remove``). Linear equality constraints of the model
(``theta = theta_p + K xi``) give ``I22 = K' I_model K`` and ``I12 K``.

Computing the information without its p^4 cost
-----------------------------------------------
As in :mod:`msem_nb.estimation.information`, every parameter moves a
block's observed covariance by rank-one terms ``u v'`` and its mean by
``dmu``; terms are placed at the data positions of their block. The
expected information is a sum of pieces ``(Q, c, f)``: the inverse of a
covariance, a count, and the factor with which a term enters it
(single level: ``(Sigma^-1, N, 1)``; two levels: the within piece
``(Sigma_W^-1, N - J, 1 within / 0 between)`` and for every cluster size n
``(Omega_n^-1, #clusters, 1/n within / 1 between)``). Between terms i, j

    I_ij = sum_pieces c/2 f_i f_j (v_i' Q u_j)(v_j' Q u_i),

plus ``sum c dmu_k' Q dmu_l`` over the pieces with means. For a model
parameter l the pieces are summed once into ``Z_l = sum c/2 f_x Q dO_l Q``
(one per level x of the candidate term, ``dO_l = sum f_i u_i v_i'``), so
that ``I_jl = v_j' Z_l u_j`` for candidate and model terms j alike (I12
and I22). A candidate's terms are sparse (a covariance between indicators is
``e_s e_t'``), so ``v_j' Z u_j`` is a sparse product: the cost is that of the
model's own information plus the number of nonzero candidate entries times
the number of model parameters, never p^4. The diagonal of I11 pairs only
the few terms of each candidate. The candidates' gradient is
``sum_j v_j' G u_j + g_mu' dmu`` with ``G`` the likelihood's derivative in
the implied covariance.

As lavaan's expected information of a fixed.x model, the information leaves
out the moments among the fixed covariates (their covariances and means are
the sample's): a term ``u v'`` is replaced by ``u v' - u_x v_x'``, with
``u_x`` its entries at the fixed covariates. This matters only for
candidates that move those moments, such as a regression of a covariate on
a factor (the gradient is not changed).

Standardized changes follow lavaan (``cov.std = TRUE``): a loading or
regression is scaled by model-implied standard deviations (latent ones only
for sepc.lv; sepc.nox leaves fixed covariates unscaled), a covariance by the
square roots of the two residual variances, an intercept by the standard
deviation. Variance rows get NaN (lavaan reports the standardized current
value there).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import linalg, sparse

from msem_nb.data.complete import ClusterData
from msem_nb.errors import ModelSpecificationError
from msem_nb.estimation.constraints import linear_constraints, null_space
from msem_nb.estimation.information import analytic_available
from msem_nb.inference.candidates import Candidate, candidates
from msem_nb.likelihood.complete import loglik_single, loglik_twolevel

__all__ = ["modification_indices", "candidate_information", "ScoreParts", "MI_COLUMNS"]

#: Columns of the modification-index table.
MI_COLUMNS = ["lhs", "op", "rhs", "level", "mi", "epc", "sepc.lv", "sepc.all", "sepc.nox"]

# V_kk below this fraction of I11_kk: the candidate is not identified when freed
_UNIDENTIFIED = 1e-8


class _Terms:
    """Rank-one terms ``u v'`` in data coordinates: factors, parameter, level, mean part.

    Each term also carries the data positions of its block's fixed
    covariates, for :meth:`fixed_x_corrections`.
    """

    def __init__(self, p: int, npar: int, mean: bool):
        self.p, self.npar, self.mean = p, npar, mean
        self.parts: list[tuple[np.ndarray, ...]] = []
        self.dmu = np.zeros((p, npar))

    def add_block(self, bm, pos, low: bool, xmask: np.ndarray, cells, mean_cells) -> None:
        """Terms of A and S cells ``(r, c, par)`` and alpha cells ``(r, par)`` of one block."""
        n = bm.n_ov
        Bo, Co = bm.B[:n], bm.cov_all[:n]
        (rA, cA, kA), (rS, cS, kS) = cells
        U = np.zeros((self.p, 2 * len(kA) + len(kS)))
        V = np.zeros_like(U)
        U[pos] = np.concatenate([Bo[:, rA], Co[:, cA], Bo[:, rS]], axis=1)
        V[pos] = np.concatenate([Co[:, cA], Bo[:, rA], Bo[:, cS]], axis=1)
        par = np.concatenate([kA, kA, kS]).astype(int)
        self.parts.append((U, V, par, np.full(len(par), low),
                           np.repeat(xmask[:, None], len(par), axis=1)))
        if self.mean:
            ra, ka = mean_cells
            d = np.zeros((self.p, len(kA) + len(ka)))
            d[pos] = np.concatenate([Bo[:, rA] * bm.mean_all[cA], Bo[:, ra]], axis=1)
            np.add.at(self.dmu, (slice(None), np.concatenate([kA, ka]).astype(int)), d)

    def arrays(self):
        """(U, V, par, within) of all terms."""
        if not self.parts:
            z = np.zeros((self.p, 0))
            return z, z, np.zeros(0, int), np.zeros(0, bool)
        U, V, par, low, _ = (np.concatenate(x, axis=-1) for x in zip(*self.parts))
        return U, V, par, low

    def fixed_x_corrections(self):
        """Terms that cancel each term's part in the moments among fixed covariates.

        lavaan's expected information of a fixed.x model leaves out the
        moments of the fixed covariates; ``u v'`` restricted to the others is
        ``u v' - (u_x)(v_x)'``, one more rank-one term.
        """
        U, V, par, low = self.arrays()
        X = (np.concatenate([x[4] for x in self.parts], axis=1) if self.parts
             else np.zeros(U.shape, bool))
        Ux, Vx = np.where(X, U, 0.0), np.where(X, V, 0.0)
        k = np.where(np.any(Ux != 0, axis=0) & np.any(Vx != 0, axis=0))[0]
        return -Ux[:, k], Vx[:, k], par[k], low[k]


def _outer_rows(V: np.ndarray, U: np.ndarray) -> sparse.csr_matrix:
    """Sparse (m, p*p) matrix whose row j is ``vec(V[:, j] U[:, j]')`` (row-major)."""
    p, m = U.shape
    # nonzero of contiguous (term, variable) arrays: sorted by term, and fast
    jv, av = np.nonzero(np.ascontiguousarray(V.T))
    ju, bu = np.nonzero(np.ascontiguousarray(U.T))
    cv = np.bincount(jv, minlength=m)
    cu = np.bincount(ju, minlength=m)
    sv = np.concatenate(([0], np.cumsum(cv)[:-1]))
    su = np.concatenate(([0], np.cumsum(cu)[:-1]))
    nj = cv * cu
    row = np.repeat(np.arange(m), nj)
    k = np.arange(int(nj.sum())) - np.repeat(np.cumsum(nj) - nj, nj)
    a = av[sv[row] + k // np.maximum(cu[row], 1)]
    b = bu[su[row] + k % np.maximum(cu[row], 1)]
    vals = V[a, row] * U[b, row]
    return sparse.csr_matrix((vals, (row, a * p + b)), shape=(m, p * p))


def _pieces(obj, mom):
    """(Q stack, c, factor within, factor between, has means) and the moment gradient."""
    data = obj.data
    if isinstance(data, ClusterData):
        mu, sw, sb = mom
        _, (g_mu, G_w, G_b) = loglik_twolevel(data, mu, sw, sb, gradient=True)
        p, pw = len(data.names), data.p_within
        g = data.groups
        omega = np.repeat(sb[None], len(g.n), axis=0)
        omega[:, :pw, :pw] += sw / g.n[:, None, None]
        Qw = np.zeros((1, p, p))
        Qw[0, :pw, :pw] = np.linalg.inv(sw)
        Q = np.concatenate([Qw, np.linalg.inv(omega)])
        c = np.concatenate([[float(data.nobs - data.nclusters)], g.count])
        fw = np.concatenate([[1.0], 1.0 / g.n])
        fb = np.concatenate([[0.0], np.ones(len(g.n))])
        means = np.concatenate([[False], np.ones(len(g.n), bool)])
        Gw = np.zeros((p, p))
        Gw[:pw, :pw] = G_w
        return (Q, c, fw, fb, means), (g_mu, Gw, G_b)
    mu, sigma = mom
    _, (g_mu, G) = loglik_single(data, mu, sigma, gradient=True)
    Q = np.linalg.inv(sigma)[None]
    one = np.ones(1)
    means = np.array([mu is not None])
    g_mu = np.zeros(len(sigma)) if g_mu is None else g_mu
    return (Q, float(data.nobs) * one, one, one, means), (g_mu, G, G)


def _xmask(obj, pt, b: int) -> np.ndarray:
    """Data positions of block `b`'s fixed covariates."""
    mask = np.zeros(len(obj.data.names), bool)
    exo = set(pt.exogenous)
    ov = obj.spec.blocks[b].ov
    mask[obj.positions[b]] = [v in exo for v in ov]
    return mask


def _model_terms(obj, pt, bm, low_of) -> _Terms:
    spec = obj.spec
    terms = _Terms(len(obj.data.names), spec.npar, obj.meanstructure)
    for b, bs in enumerate(spec.blocks):
        terms.add_block(bm[b], obj.positions[b], low_of[b], _xmask(obj, pt, b),
                        (bs.A_free, bs.S_free), bs.alpha_free)
    return terms


def _candidate_terms(obj, pt, bm, low_of, cands: list[Candidate]) -> _Terms:
    terms = _Terms(len(obj.data.names), len(cands), obj.meanstructure)
    for b in range(len(bm)):
        idx = [k for k, c in enumerate(cands) if c.block == b]
        cell = {m: ([cands[k].r for k in idx if cands[k].mat == m],
                    [cands[k].c for k in idx if cands[k].mat == m],
                    [k for k in idx if cands[k].mat == m]) for m in ("A", "S", "alpha")}
        rS, cS, kS = cell["S"]
        off = [i for i in range(len(kS)) if rS[i] != cS[i]]
        # a covariance moves both triangles: the mirrored term is listed too
        S = (np.array(rS + [cS[i] for i in off], int), np.array(cS + [rS[i] for i in off], int),
             np.array(kS + [kS[i] for i in off], int))
        A = tuple(np.array(x, int) for x in cell["A"])
        a = (np.array(cell["alpha"][0], int), np.array(cell["alpha"][2], int))
        terms.add_block(bm[b], obj.positions[b], low_of[b], _xmask(obj, pt, b), (A, S), a)
    return terms


def _factors(low: np.ndarray, fw: np.ndarray, fb: np.ndarray) -> np.ndarray:
    """(pieces, terms) factor with which each term enters each piece."""
    return np.where(low[None, :], fw[:, None], fb[:, None])


def _indicator(par: np.ndarray, n: int) -> sparse.csr_matrix:
    return sparse.csr_matrix((np.ones(len(par)), (par, np.arange(len(par)))),
                             shape=(n, len(par)))


def _same_parameter_pairs(par: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """All ordered pairs (i, j) of terms that belong to the same parameter."""
    order = np.argsort(par, kind="stable")
    counts = np.bincount(par, minlength=n)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    size = counts[par[order]]
    first = starts[par[order]]
    i = np.repeat(order, size)
    k = np.arange(len(i)) - np.repeat(np.cumsum(size) - size, size)
    return i, order[np.repeat(first, size) + k]


def _level_products(E, low, mats) -> np.ndarray:
    """Row j: ``vec(v_j u_j') . mats[level of j]`` (mats: within, between)."""
    out = np.zeros((E.shape[0],) + mats[0].shape[1:])
    for flag, M in zip((True, False), mats):
        sel = np.where(low == flag)[0]
        if len(sel):
            out[sel] = E[sel] @ M
    return out


@dataclass(frozen=True, eq=False)
class ScoreParts:
    """What the score tests need, in the model's free parameters (theta coordinates).

    ``grad`` (k,) and ``I11`` (k,) are the candidates' gradient and the
    diagonal of their information, ``I12`` (k, npar) their information with
    the model's parameters, ``I22`` (npar, npar) the model's own expected
    information (fixed covariates' moments left out, as for the candidates).
    """

    grad: np.ndarray
    I11: np.ndarray
    I12: np.ndarray
    I22: np.ndarray
    block_moments: list


def _with_corrections(terms: _Terms):
    U, V, par, low = terms.arrays()
    cU, cV, cp, cl = terms.fixed_x_corrections()
    return (np.concatenate([U, cU], axis=1), np.concatenate([V, cV], axis=1),
            np.concatenate([par, cp]), np.concatenate([low, cl]))


def candidate_information(obj, pt, theta, cands) -> ScoreParts:
    """Gradient and expected information of the model extended by the candidates.

    Parameters
    ----------
    obj : Objective
        Complete-data objective of the fitted model.
    pt : ParTable
    theta : array
        The free parameters.
    cands : list of Candidate

    Returns
    -------
    ScoreParts
    """
    spec = obj.spec
    bm, mom = obj.moments(theta)
    (Q, c, fw, fb, means), (g_mu, Gw, Gb) = _pieces(obj, mom)
    p, npar, ne = Q.shape[1], spec.npar, len(cands)
    low_of = [spec.is_lowest(b) for b in range(len(bm))]
    mt = _model_terms(obj, pt, bm, low_of)
    ct = _candidate_terms(obj, pt, bm, low_of, cands)
    Ue, Ve, pe, le = ct.arrays()
    # the gradient: sum_j v_j' G_x u_j, G_x the derivative in the term's level's covariance
    g = _level_products(_outer_rows(Ve, Ue), le, (Gw.reshape(-1, 1), Gb.reshape(-1, 1)))
    grad = np.bincount(pe, weights=g[:, 0], minlength=ne)
    # the information leaves out the moments among fixed covariates
    Um, Vm, pm, lm = _with_corrections(mt)
    Ue, Ve, pe, le = _with_corrections(ct)
    Fm, Fe = _factors(lm, fw, fb), _factors(le, fw, fb)
    # Z_l = sum over pieces of c/2 f_x Q dO_l Q, for terms of level x (within, between)
    OU, OV = Q @ Um, Q @ Vm
    Ind_m = _indicator(pm, npar)
    Zs = []
    for fx in (fw, fb):
        w = (0.5 * c * fx)[:, None] * Fm                         # (pieces, model terms)
        Z = np.matmul((OU * w[:, None, :]).transpose(2, 1, 0), OV.transpose(2, 0, 1))
        Zs.append((Ind_m @ Z.reshape(len(pm), p * p)).T)          # (p*p, npar)
    I12 = np.asarray(_indicator(pe, ne) @ _level_products(_outer_rows(Ve, Ue), le, Zs))
    I22 = np.asarray(Ind_m @ _level_products(_outer_rows(Vm, Um), lm, Zs))
    # diagonal of I11: sum over pieces and pairs of the candidate's terms
    pi, pj = _same_parameter_pairs(pe, ne)
    Qf = Q.reshape(len(Q), p * p).T
    a = _outer_rows(Ve[:, pi], Ue[:, pj]) @ Qf                   # v_i' Q u_j per piece
    b = _outer_rows(Ve[:, pj], Ue[:, pi]) @ Qf
    contrib = np.sum(0.5 * c[None, :] * Fe[:, pi].T * Fe[:, pj].T * a * b, axis=1)
    I11 = np.bincount(pe[pi], weights=contrib, minlength=ne)
    if obj.meanstructure:
        Wmu = np.tensordot(c[means], Q[means], axes=1)
        grad = grad + ct.dmu.T @ g_mu
        # fixed covariates' means are left out of the information, as their covariances
        fixed = np.any([_xmask(obj, pt, b) for b in range(len(bm))], axis=0)[:, None]
        dmu_e, dmu_m = np.where(fixed, 0.0, ct.dmu), np.where(fixed, 0.0, mt.dmu)
        I11 = I11 + np.einsum("ik,ij,jk->k", dmu_e, Wmu, dmu_e)
        I12 = I12 + dmu_e.T @ Wmu @ dmu_m
        I22 = I22 + dmu_m.T @ Wmu @ dmu_m
    return ScoreParts(grad, I11, I12, 0.5 * (I22 + I22.T), bm)


def _model_coordinates(fit) -> np.ndarray | None:
    """K of ``theta = theta_p + K xi``; None without linear equality constraints."""
    lin = linear_constraints(fit.partable, fit.estimation.spec.npar)
    return None if lin is None else null_space(*lin)[1]


def _sepc(cands, epc, bm, pt):
    """sepc.lv, sepc.all, sepc.nox of every candidate (lavaan's cov.std rules)."""
    out = np.full((len(cands), 3), np.nan)
    blocks = []
    for b, m in enumerate(bm):
        bv = pt.blocks[b]
        blocks.append(({v: i for i, v in enumerate(bv.ov + bv.lv)}, set(bv.ov_x), m.n_ov,
                       np.sqrt(np.abs(np.diag(m.cov_all))), np.sqrt(np.abs(np.diag(m.S)))))
    with np.errstate(divide="ignore", invalid="ignore"):
        for k, cd in enumerate(cands):
            pos, ov_x, n_ov, sd, rsd = blocks[cd.block]
            i = pos[cd.lhs]
            j = pos[cd.rhs] if cd.rhs else i
            # scale of a side in sepc.lv: only latent variables are standardized
            li, lj = (sd[i] if i >= n_ov else 1.0), (sd[j] if j >= n_ov else 1.0)
            e = epc[k]
            if cd.op == "=~":
                al = e * sd[i] / sd[j]
                out[k] = e * sd[i] / lj, al, al
            elif cd.op == "~":
                al = e * sd[j] / sd[i]
                out[k] = e * lj / li, al, (e / sd[i] if cd.rhs in ov_x else al)
            elif cd.op == "~~" and i != j:
                ri = rsd[i] if i >= n_ov else 1.0
                rj = rsd[j] if j >= n_ov else 1.0
                al = e / (rsd[i] * rsd[j])
                out[k] = e / (ri * rj), al, al
            elif cd.op == "~1":
                out[k] = e / li, e / sd[i], e / sd[i]
    out[~np.isfinite(out)] = np.nan
    return out


def modification_indices(fit, sort: bool = True, minimum: float = 0.0) -> pd.DataFrame:
    """Score tests for every fixed parameter that could be freed, as lavaan's ``modindices()``.

    Parameters
    ----------
    fit : FitResult
        A maximum-likelihood fit (ML or MLR) of complete data without random slopes.
    sort : bool
        Largest index first (lavaan's ``sort. = TRUE``); otherwise the fixed
        rows of the table in table order, then the new parameters by block.
    minimum : float
        Keep rows with ``mi > minimum`` only (lavaan's ``minimum.value``).

    Returns
    -------
    pandas.DataFrame
        Columns lhs, op, rhs, level, mi, epc, sepc.lv, sepc.all, sepc.nox;
        ``level`` is the block's level name ("" for a single-level model).

    Raises
    ------
    ModelSpecificationError
        For MUML fits, random slopes or incomplete data (FIML), or when the
        model's information matrix is singular.
    """
    est = fit.estimation
    obj = est.objective
    if fit.estimator == "MUML" or not analytic_available(obj):
        raise ModelSpecificationError(
            "modification indices need a maximum-likelihood fit (ML or MLR) of complete data "
            "without random slopes; refit with estimator='ML' and missing='listwise'")
    theta = np.asarray(est.theta, dtype=float)
    cands = candidates(fit.partable, est.spec, est.fixed_values)
    if not cands:
        return pd.DataFrame(columns=MI_COLUMNS)
    parts = candidate_information(obj, fit.partable, theta, cands)
    grad, I11, bm = parts.grad, parts.I11, parts.block_moments
    K = _model_coordinates(fit)
    I22 = parts.I22 if K is None else K.T @ parts.I22 @ K
    I12 = parts.I12 if K is None else parts.I12 @ K
    d = np.sqrt(np.clip(np.diag(I22), 1e-300, None))
    try:
        L = np.linalg.cholesky(I22 / np.outer(d, d))
    except np.linalg.LinAlgError as exc:
        raise ModelSpecificationError(
            "the information matrix of the model is singular, so modification indices are "
            "not defined; check the identification of the model") from exc
    X = linalg.solve_triangular(L, (I12 / d).T, lower=True)
    V = I11 - np.sum(X * X, axis=0)
    ok = V > _UNIDENTIFIED * np.abs(I11)
    with np.errstate(divide="ignore", invalid="ignore"):
        mi = np.where(ok, grad ** 2 / V, np.nan)
        epc = np.where(ok, grad / V, np.nan)
    sepc = _sepc(cands, epc, bm, fit.partable)
    keys = fit.partable.block_keys
    df = pd.DataFrame({
        "lhs": [c.lhs for c in cands], "op": [c.op for c in cands],
        "rhs": [c.rhs for c in cands], "level": [keys[c.block].name for c in cands],
        "mi": mi, "epc": epc, "sepc.lv": sepc[:, 0], "sepc.all": sepc[:, 1],
        "sepc.nox": sepc[:, 2]})
    df = df[ok].reset_index(drop=True)
    if minimum > 0:
        df = df[df["mi"] > minimum]
    if sort:
        df = df.sort_values("mi", ascending=False, kind="stable")
    return df.reset_index(drop=True)
