"""The conditional log-likelihood of a cluster given its nonlinear slopes, and its gradient.

:mod:`msem_nb.likelihood.slopes_latent` integrates the slopes on latent covariates
``s = mu_s + L_ss u`` by quadrature over ``u``; at each item (cluster j, node u)
it needs

    log f(y_j | u) = -1/2 [ n_j p_y log 2 pi + n_j log|Sigma_W(s)| + log|I + Phi_c C|
                            + q0 - 2 uu'm + m'C m - b'(Phi_c^-1 + C)^-1 b ]

with, for the within model at ``A_W(s) = A_EE + sum_e s_e E_e`` and
``F(s) = [(I - A_W(s))^-1]_(y rows)``: ``a = F alpha_E``, ``Pi = F A_EC``,
``Sigma_W = F S_EE F'``, ``L = [-a, -Pi, I]``, ``K_c`` (p_y x r) the columns of the
linear random effects on the cross-product column c (1s for the between parts,
columns of F for slopes on observed covariates), ``W = Sigma_W^-1`` and the
cluster's cross products ``M`` of ``v = (1, c, y)``:

    C  = sum_ce M_ce K_c' W K_e,   uu = sum_c K_c' W (L M)_c,   q0 = tr(W L M L')
    m  = mu_r + L_rs u,            b = uu - C m

(Woodbury as in :mod:`msem_nb.likelihood.slopes`, written compactly: only the
columns c that carry a random effect enter). Its derivatives follow the same
chain as ``SlopeObjective``: with ``V = (Phi_c^-1 + C)^-1 = (I + Phi_c C)^-1 Phi_c``,
``h = V b`` and ``E = (I + Phi_c C)^-1``,

    d/d uu = h + m,   d/d m = b - C h,   d/d C = -1/2 (V + h h') - h m' - 1/2 m m'
    d/d Phi_c = -1/2 (sym(C E) - E'b b'E),  d/d Sigma_W = -n/2 W - W G_W W

then to ``F`` (``dF = F dA B``: ``d/d A_EE = F' G_F B'``) and to the slope values
``s`` through the cells ``E_e``. With the adaptation held fixed the quadrature sum
``l_j = log sum_k w_jk exp(g_j(u_jk))`` has the gradient ``sum_k pi_jk d g_j(u_jk)``
(``pi_jk`` the normalised node weights: the posterior of u at the nodes), which
:class:`~msem_nb.likelihood.slopes_latent.LatentSlopeObjective` takes back to theta
(the Cholesky factor of the random-effect covariance by the reverse-mode rule
``P_bar = L^-T Phi(L' L_bar) L^-1``, ``Phi`` the lower triangle with half the diagonal,
then ``SlopeObjective.pullback``). ``tests/test_slopes_lavdev.py`` checks the result
against differences of the same function.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from msem_nb.likelihood.complete import LOG2PI

__all__ = ["ItemStructure", "item_terms", "cholesky_backward", "GRAD_KEYS"]

#: the per-item gradients :func:`item_terms` returns (with respect to the pieces of
#: ``LatentSlopeObjective``'s ``_pieces``: A_EE, A_EC, S_EE, alpha_E, the slopes s,
#: the linear effects' conditional mean m and covariance Phi_c)
GRAD_KEYS = ("AEE", "AEC", "SEE", "aE", "s", "m", "phi_c")


@dataclass(frozen=True, eq=False)
class ItemStructure:
    """Where the random effects sit in the within model (fixed for a model)."""

    cells: tuple[tuple[int, int], ...]           # (outcome, covariate) of each slope s_e
    yrows: tuple[int, ...]                       # rows of F among the modelled variables
    k_int: tuple[tuple[int, int], ...]           # (outcome row, effect) with a 1 in column 0
    k_slope: tuple[tuple[int, int, int], ...]    # (F column, effect, cross-product column)
    cset: tuple[int, ...]                        # cross-product columns carrying effects
    py: int
    r: int                                       # linear random effects
    q: int                                       # nonlinear slopes

    @staticmethod
    def make(cells: list[tuple[int, int]], yrows: list[int], k_int: list[tuple[int, int]],
             k_slope: list[tuple[int, int, int]], py: int, r: int,
             q: int) -> "ItemStructure":
        cset = sorted(({0} if k_int else set()) | {c for _, _, c in k_slope})
        return ItemStructure(tuple(cells), tuple(yrows), tuple(k_int), tuple(k_slope),
                             tuple(cset), py, r, q)


def _rmul(X: np.ndarray, C: np.ndarray) -> np.ndarray:
    """X @ C for a stack X (..., a, b) and one matrix C (b, c): a single product."""
    rows = int(np.prod(X.shape[:-1]))
    return (X.reshape(rows, X.shape[-1]) @ C).reshape(X.shape[:-1] + (C.shape[-1],))


def _slope_inverse(B0: np.ndarray, st: ItemStructure, s: np.ndarray) -> np.ndarray:
    """``(I - A_EE - Y S X')^-1`` per item from ``B0 = (I - A_EE)^-1`` (Woodbury:
    ``B0 + B0 Y (I - S X'B0 Y)^-1 S X' B0``, S = diag(s), Y and X the cells' columns)."""
    ys = [yi for yi, _ in st.cells]
    xs = [xi for _, xi in st.cells]
    U, Vt, Bxy = B0[:, ys], B0[xs, :], B0[np.ix_(xs, ys)]
    if st.q == 1:
        with np.errstate(divide="ignore", invalid="ignore"):
            T = (s[:, 0] / (1.0 - s[:, 0] * Bxy[0, 0]))[:, None, None]
    else:
        S = s[:, :, None] * np.eye(st.q)
        T = np.linalg.solve(np.eye(st.q) - S @ Bxy, S)
    return B0 + np.einsum("aq,kqp,pb->kab", U, T, Vt)


def _k_columns(st: ItemStructure, FE: np.ndarray) -> np.ndarray:
    """(K, nc, p_y, r): the K_c of the columns in ``st.cset``."""
    nK = FE.shape[0]
    Kt = np.zeros((nK, len(st.cset), st.py, st.r))
    for a_i, kk in st.k_int:
        Kt[:, 0, a_i, kk] = 1.0
    for e_pos, kk, c in st.k_slope:
        Kt[:, st.cset.index(c), :, kk] = FE[:, :, e_pos]
    return Kt


def item_terms(P: dict[str, np.ndarray], st: ItemStructure, M: np.ndarray, n: np.ndarray,
               jidx: np.ndarray, u: np.ndarray, gradient: bool = False
               ) -> tuple[np.ndarray, dict[str, np.ndarray] | None]:
    """``log f(y_j | u)`` (without the density of u) for items (cluster jidx[k], u[k]).

    Parameters
    ----------
    P : dict
        The pieces at theta (``LatentSlopeObjective._pieces``).
    M, n : arrays
        The items' cross products (K, d, d) and cluster sizes (K,).
    gradient : bool
        Also return the per-item derivatives named in :data:`GRAD_KEYS` (finite items
        only; rows of items whose value is -inf are zero).

    Returns
    -------
    (K,) values (-inf where the within covariance is not positive definite) and the
    derivatives or None.
    """
    py, r = st.py, st.r
    nK = len(jidx)
    s = P["mu_s"][jidx] + u @ P["Lss"].T
    B = _slope_inverse(P["B0"], st, s)
    FE = B[:, list(st.yrows)]                                   # (K, py, k)
    a = FE @ P["aE"]
    Pi = _rmul(FE, P["AEC"])
    FS = _rmul(FE, P["SEE"])
    sig = FS @ np.swapaxes(FE, 1, 2)
    if not np.isfinite(sig).all():      # I - A_W(s) singular at some item
        return np.full(nK, -np.inf), None
    try:
        Lw = np.linalg.cholesky(sig)
    except np.linalg.LinAlgError:
        return np.full(nK, -np.inf), None
    logdet_w = 2 * np.log(np.diagonal(Lw, axis1=1, axis2=2)).sum(axis=1)
    W = np.linalg.inv(sig)
    L = np.concatenate([-a[:, :, None], -Pi, np.broadcast_to(np.eye(py), (nK, py, py))],
                       axis=2)
    cs = list(st.cset)
    Kt = _k_columns(st, FE)
    Mc = M[:, cs][:, :, cs]
    WK = np.einsum("kab,kcbr->kcar", W, Kt)
    C = np.einsum("kce,kcar,keas->krs", Mc, Kt, WK)
    LM = L @ M                                                  # (K, py, d)
    WLM = W @ LM
    uu = np.einsum("kcar,kac->kr", Kt, WLM[:, :, cs])
    LML = LM @ np.swapaxes(L, 1, 2)
    q0 = np.einsum("kab,kab->k", W, LML)
    phi_c = P["phi_c"]
    m = P["mu_r"][jidx] + u @ P["Lrs"].T
    Cm = np.einsum("krs,ks->kr", C, m)
    b = uu - Cm
    qq = q0 - 2 * np.einsum("kr,kr->k", uu, m) + np.einsum("kr,kr->k", m, Cm)
    IPC = np.eye(r) + np.swapaxes(_rmul(C, phi_c), 1, 2)     # I + Phi_c C
    sign, logdet_ipc = np.linalg.slogdet(IPC)
    Einv = np.linalg.inv(IPC)
    V = _rmul(Einv, phi_c)
    V = 0.5 * (V + np.swapaxes(V, 1, 2))
    h = np.einsum("krs,ks->kr", V, b)
    ll = -0.5 * (n * py * LOG2PI + n * logdet_w + logdet_ipc + qq
                 - np.einsum("kr,kr->k", b, h))
    ll = np.where(sign > 0, ll, -np.inf)
    if not gradient:
        return ll, None

    D_u = h + m
    D_m = b - np.einsum("krs,ks->kr", C, h)
    D_C = (-0.5 * (V + h[:, :, None] * h[:, None, :]) - h[:, :, None] * m[:, None, :]
           - 0.5 * m[:, :, None] * m[:, None, :])
    CE = C @ Einv
    gb = np.einsum("ksr,ks->kr", Einv, b)
    g_phi = -0.5 * (0.5 * (CE + np.swapaxes(CE, 1, 2)) - gb[:, :, None] * gb[:, None, :])
    KD = np.einsum("kcar,kr->kca", Kt, D_u)                     # K_c D_u
    KDC = Kt @ (D_C + np.swapaxes(D_C, 1, 2))[:, None]          # K_e (D_C + D_C')
    g_W = (-0.5 * LML + np.einsum("kca,kbc->kab", KD, LM[:, :, cs])
           + np.einsum("kce,kcar,kebr->kab", Mc, Kt @ D_C[:, None], Kt))
    g_L = -WLM + np.einsum("kab,kcb,kcd->kad", W, KD, M[:, cs])
    g_K = (np.einsum("kac,kr->kcar", WLM[:, :, cs], D_u)
           + np.einsum("kce,kab,kebr->kcar", Mc, W, KDC))
    g_sig = -0.5 * n[:, None, None] * W - W @ g_W @ W
    nc = Pi.shape[2]
    g_a, g_Pi = -g_L[:, :, 0], -g_L[:, :, 1:1 + nc]
    g_FE = (g_a[:, :, None] * P["aE"][None, None, :] + _rmul(g_Pi, P["AEC"].T)
            + (g_sig + np.swapaxes(g_sig, 1, 2)) @ FS)
    for e_pos, kk, c in st.k_slope:
        g_FE[:, :, e_pos] += g_K[:, cs.index(c), :, kk]
    FEt = np.swapaxes(FE, 1, 2)
    g_AEE = FEt @ g_FE @ np.swapaxes(B, 1, 2)
    grads = {"AEE": g_AEE, "AEC": FEt @ g_Pi, "SEE": FEt @ g_sig @ FE,
             "aE": np.einsum("kea,ka->ke", FEt, g_a),
             "s": np.stack([g_AEE[:, yi, xi] for yi, xi in st.cells], axis=1),
             "m": D_m, "phi_c": g_phi}
    bad = ~np.isfinite(ll)
    if bad.any():
        for v in grads.values():
            v[bad] = 0.0
    return ll, grads


def cholesky_backward(Lc: np.ndarray, Lbar: np.ndarray) -> np.ndarray:
    """Derivatives with respect to a symmetric P = Lc Lc' (entries taken as independent,
    symmetrised) from derivatives ``Lbar`` (..., n, n) with respect to its lower Cholesky
    factor (only their lower triangles count): ``L^-T Phi(L' Lbar) L^-1``."""
    A = Lc.T @ np.tril(Lbar)
    Phi = np.tril(A)
    idx = np.arange(Lc.shape[0])
    Phi[..., idx, idx] *= 0.5
    Linv = np.linalg.inv(Lc)
    X = Linv.T @ Phi @ Linv
    return 0.5 * (X + np.swapaxes(X, -1, -2))
