"""The moment derivatives of a RAM model as rank-one terms, per parameter.

In a RAM block (``model.implied``: ``B = (I - A)^-1``, ``C = B S B'``,
``m_all = B alpha``, observed rows ``Bo = F B``) every free cell moves the
observed covariance by a sum of rank-one terms ``u v'``:

    A cell (r, c):  dC = Bo[:, r] C[:n, c]' + C[:n, c] Bo[:, r]'
    S cell (s, t):  dC = Bo[:, s] Bo[:, t]'          (both triangles listed)
    mean:           dm = Bo[:, r] m_all[c]  (A cell),  Bo[:, a]  (alpha cell)

so ``dC_k = sum_{i: par[i] = k} U[:, i] V[:, i]'`` (:func:`block_terms`).
:func:`layout` places the terms of all blocks in the data-level coordinates
(two levels: within terms first, on the within positions; between terms on
the between block's positions). Cells that share a parameter (equality labels)
are summed into it by :func:`aggregate` and :func:`indicator` (:func:`scatter` with the
flat cells of :func:`pair_index`, built once per block, for the curvature's
term-by-term matrices).

:func:`moment_jacobian` gives ``dm/dtheta`` in the coordinates of the
sandwich's unit scores: the mean, then the lower triangle of each covariance,
an off-diagonal row (a, b) holding ``dC_ab + dC_ba``.

Used by :mod:`msem_nb.estimation.information` (the information matrices) and
:mod:`msem_nb.estimation.sandwich` (MLR).
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np

from msem_nb.likelihood.objective import Objective
from msem_nb.model.implied import BlockMoments
from msem_nb.model.spec import BlockSpec

__all__ = ["Terms", "Layout", "block_terms", "layout", "aggregate", "indicator",
           "moment_jacobian", "PairIndex", "pair_index", "scatter"]


# ----------------------------------------------------------------------------
# rank-one terms of the moment derivatives
# ----------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class Terms:
    """``dC_k = sum_{i: par[i] = k} U[:, i] V[:, i]'`` and the dense mean Jacobian."""

    U: np.ndarray
    V: np.ndarray
    par: np.ndarray
    dmu: np.ndarray             # (n_ov, npar); zero without a mean structure


@dataclass(frozen=True, eq=False)
class _BlockIndex:
    """What a block's terms gather, fixed by its specification: the columns of
    ``[Bo | Co]`` behind U and V, the parameter of each term, and indicator
    matrices summing the mean derivatives of path and intercept cells."""

    cols_u: np.ndarray
    cols_v: np.ndarray
    par: np.ndarray
    Z_paths: np.ndarray         # (A cells, npar)
    Z_alpha: np.ndarray         # (alpha cells, npar)


# built once per block specification (an optimiser evaluates the same blocks many times)
_BLOCK_INDEX: weakref.WeakKeyDictionary[BlockSpec, _BlockIndex] = weakref.WeakKeyDictionary()


def _block_index(bs: BlockSpec, npar: int) -> _BlockIndex:
    ix = _BLOCK_INDEX.get(bs)
    if ix is None or ix.Z_paths.shape[1] != npar:
        k = bs.k
        rA, cA, kA = bs.A_free
        rS, cS, kS = bs.S_free
        ix = _BlockIndex(np.concatenate([rA, k + cA, rS]).astype(int),
                         np.concatenate([k + cA, rA, cS]).astype(int),
                         np.concatenate([kA, kA, kS]).astype(int),
                         indicator(kA, npar), indicator(bs.alpha_free[1], npar))
        _BLOCK_INDEX[bs] = ix
    return ix


def block_terms(bs: BlockSpec, bm: BlockMoments, npar: int, mean: bool) -> Terms:
    n = bs.n_ov
    ix = _block_index(bs, npar)
    Bo = bm.B[:n]
    BC = np.concatenate([Bo, bm.cov_all[:n]], axis=1)
    U = BC[:, ix.cols_u]
    V = BC[:, ix.cols_v]
    if mean:
        rA, cA, _ = bs.A_free
        dmu = (Bo[:, rA] * bm.mean_all[cA]) @ ix.Z_paths + Bo[:, bs.alpha_free[0]] @ ix.Z_alpha
    else:
        dmu = np.zeros((n, npar))
    return Terms(U, V, ix.par, dmu)


def aggregate(E: np.ndarray, rows: np.ndarray, cols: np.ndarray, npar: int) -> np.ndarray:
    """Sum the entries of a term-by-term matrix into parameter-by-parameter cells."""
    if E.size == 0:
        return np.zeros((npar, npar))
    idx = (rows[:, None] * npar + cols[None, :]).ravel()
    return np.bincount(idx, weights=E.ravel(), minlength=npar * npar).reshape(npar, npar)


def indicator(par: np.ndarray, npar: int) -> np.ndarray:
    Z = np.zeros((len(par), npar))
    Z[np.arange(len(par)), par] = 1.0
    return Z


@dataclass(frozen=True, eq=False)
class PairIndex:
    """Flat gathers and scatters of the curvature
    (:mod:`msem_nb.estimation.information`), fixed by a block's
    specification: for A cells i = (r_i, c_i), j = (r_j, c_j) of a k-variable block,
    ``c_i k + r_j`` reads ``X[c_i, r_j]`` of a k x k matrix X, and the pair cells
    of two sets of parameter indices in the npar x npar result."""

    npar: int
    ci_rj: np.ndarray
    cj_ri: np.ndarray
    rj_ri: np.ndarray
    ci_cj: np.ndarray
    ci_cs: np.ndarray
    ri_rs: np.ndarray
    cs_ri: np.ndarray
    ci_rs: np.ndarray
    ci_ra: np.ndarray
    AA: np.ndarray
    AS: np.ndarray
    Aa: np.ndarray


# built once per block specification (an optimiser evaluates the same blocks many times)
_PAIRS: weakref.WeakKeyDictionary[BlockSpec, PairIndex] = weakref.WeakKeyDictionary()


def pair_index(bs: BlockSpec, npar: int) -> PairIndex:
    ix = _PAIRS.get(bs)
    if ix is None or ix.npar != npar:
        k = bs.k
        rA, cA, kA = bs.A_free
        rS, cS, kS = bs.S_free
        ra, ka = bs.alpha_free
        ri, ci = rA[:, None], cA[:, None]
        rj, cj = rA[None, :], cA[None, :]

        def pairs(rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
            return (rows[:, None] * npar + cols[None, :]).ravel()
        ix = PairIndex(npar, ci * k + rj, cj * k + ri, rj * k + ri, ci * k + cj,
                        ci * k + cS[None, :], ri * k + rS[None, :], cS[None, :] * k + ri,
                        ci * k + rS[None, :], ci * k + ra[None, :],
                        pairs(kA, kA), pairs(kA, kS), pairs(kA, ka))
        _PAIRS[bs] = ix
    return ix


def scatter(E: np.ndarray, idx: np.ndarray, npar: int) -> np.ndarray:
    """:func:`aggregate` with the cells' flat index (:func:`pair_index`)."""
    return np.bincount(idx, weights=E.ravel(), minlength=npar * npar).reshape(npar, npar)


@dataclass(frozen=True, eq=False)
class Layout:
    """All terms in data-level coordinates (two-level: within terms first)."""

    U: np.ndarray            # (p, m)
    V: np.ndarray
    par: np.ndarray
    within: np.ndarray       # bool (m,): the term belongs to S_W
    dmu: np.ndarray | None   # (p, npar)
    blocks: tuple[Terms, ...]


@dataclass(frozen=True, eq=False)
class _LayoutIndex:
    """What :func:`layout` places, fixed by a two-level objective: the flat positions
    in ``[U_within, U_between, 0]`` of every cell of the data-level U (and V), the
    terms' parameters and which of them are within terms."""

    take: np.ndarray            # (p, m) into the concatenated flat block terms
    par: np.ndarray
    within: np.ndarray


# built once per objective (the spec's terms and the data's positions do not change)
_LAYOUT_INDEX: weakref.WeakKeyDictionary[Objective, _LayoutIndex] = weakref.WeakKeyDictionary()


def _layout_index(obj: Objective, tw: Terms, tb: Terms) -> _LayoutIndex:
    ix = _LAYOUT_INDEX.get(obj)
    if ix is None:
        p = len(obj.data.names)
        w, b, _ = obj.level_blocks
        wpos, pos = obj.positions[w], obj.positions[b]
        (nw, mw), (nb, mb) = tw.U.shape, tb.U.shape
        zero = nw * mw + nb * mb          # the appended zero
        take = np.full((p, mw + mb), zero)
        take[wpos, :mw] = np.arange(nw * mw).reshape(nw, mw)
        take[pos, mw:] = nw * mw + np.arange(nb * mb).reshape(nb, mb)
        ix = _LayoutIndex(take, np.concatenate([tw.par, tb.par]),
                          np.concatenate([np.ones(mw, bool), np.zeros(mb, bool)]))
        for a in (ix.take, ix.par, ix.within):
            a.flags.writeable = False       # shared by every layout of obj
        _LAYOUT_INDEX[obj] = ix
    return ix


_ZERO = np.zeros(1)


def layout(obj: Objective, bm: list[BlockMoments]) -> Layout:
    spec, npar = obj.spec, obj.spec.npar
    if len(bm) == 1:
        t = block_terms(spec.blocks[0], bm[0], npar, obj.meanstructure)
        return Layout(t.U, t.V, t.par, np.zeros(len(t.par), bool),
                       t.dmu if obj.meanstructure else None, (t,))
    p = len(obj.data.names)
    w, b, _ = obj.level_blocks
    wpos, pos = obj.positions[w], obj.positions[b]
    tw = block_terms(spec.blocks[w], bm[w], npar, True)
    tb = block_terms(spec.blocks[b], bm[b], npar, True)
    ix = _layout_index(obj, tw, tb)
    # each block's terms at its positions, zero elsewhere: one gather per matrix
    U = np.concatenate([tw.U.ravel(), tb.U.ravel(), _ZERO])[ix.take]
    V = np.concatenate([tw.V.ravel(), tb.V.ravel(), _ZERO])[ix.take]
    dmu = np.zeros((p, npar))
    dmu[wpos] += tw.dmu
    dmu[pos] += tb.dmu
    return Layout(U, V, ix.par, ix.within, dmu, (tw, tb))


# ----------------------------------------------------------------------------
# the moment Jacobian in the sandwich's coordinates
# ----------------------------------------------------------------------------

def _vech_rows(U: np.ndarray, V: np.ndarray, Z: np.ndarray) -> np.ndarray:
    """Rows ``dC_ab + dC_ba`` (a > b) and ``dC_aa`` of the lower triangle, per parameter."""
    r, c = np.tril_indices(U.shape[0])
    rows = U[r] * V[c] + U[c] * V[r]
    rows[r == c] *= 0.5
    return rows @ Z


def moment_jacobian(obj: Objective, theta: np.ndarray) -> np.ndarray:
    """Derivatives of the data-level moments with respect to the free parameters.

    Rows, in order: the mean (single level: only with a mean structure), the
    lower triangle of the (within) covariance, and for two levels the lower
    triangle of the between covariance of the between block's observed
    variables (in the order of the between block's positions, ``Objective.positions``). A covariance row (a, b) with
    a > b holds ``dS_ab + dS_ba``, so that a score coordinate ``G[a, b]`` of a
    symmetric derivative ``G`` pairs with it: ``dl/dtheta = scores @ jacobian``.
    """
    theta = np.asarray(theta, dtype=float)
    bm, _ = obj.moments(theta)
    npar = obj.spec.npar
    lay = layout(obj, bm)
    parts = []
    if lay.dmu is not None:
        parts.append(lay.dmu)
    for t in lay.blocks:
        parts.append(_vech_rows(t.U, t.V, indicator(t.par, npar)))
    return np.vstack(parts).reshape(-1, npar)
