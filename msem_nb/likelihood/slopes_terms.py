"""Pieces of the random-slope likelihood shared by its complete-data form
(:mod:`msem_nb.likelihood.slopes`) and its FIML form
(:mod:`msem_nb.likelihood.slopes_missing`).

The between-only outcomes z (modelled at the between level, no within part) enter
each cluster's likelihood as ``z_j | w_j ~ N(H_z t_wj, Phi_zz)`` with
``t_wj = (1, w_j)``, separately from the within outcomes' part:

    l_z = -1/2 sum_j (p_z log 2 pi + log|Phi_zz| + dz_j' Phi_zz^-1 dz_j),
    dz_j = z_j - H_z t_wj,
    d l_z / d Phi_zz = -1/2 (J Phi_zz^-1 - Phi_zz^-1 dz' dz Phi_zz^-1),
    d l_z / d H_z = Phi_zz^-1 dz' t_w.

The random effects r_j ~ N(m_j = H t_j, Phi) enter through Woodbury: with the
cluster's cross products C_j, u_j and ``b_j = u_j - C_j m_j``,
``E_j = (I + Phi C_j)^-1``, ``Pinv_j = E_j Phi`` and ``h_j = Pinv_j b_j``, the
derivatives with respect to Phi, H, C_j and u_j are those of
:func:`effect_derivatives` (the same in both forms: FIML changes only how C_j and
u_j are built from the rows).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from msem_nb.likelihood.complete import LOG2PI

__all__ = ["BetweenOnlyPart", "between_only_part", "effect_derivatives"]


@dataclass(frozen=True, eq=False)
class BetweenOnlyPart:
    """The between-only outcomes' log density given the covariates,
    ``z_j | w_j ~ N(H_z t_wj, Phi_zz)``: its sum over clusters, per-cluster terms (when
    asked for), and what its derivatives need (``Phi_zz^-1``, the residuals ``dz``, ``t_w``)."""

    loglik: float
    terms: np.ndarray | None
    zi: np.ndarray
    dz: np.ndarray
    tw: np.ndarray

    def gradients(self) -> dict[str, np.ndarray]:
        """d loglik / d Phi_zz and d loglik / d H_z."""
        zi, dz = self.zi, self.dz
        return {"phi_zz": -0.5 * (len(dz) * zi - zi @ dz.T @ dz @ zi),
                "H_z": zi @ dz.T @ self.tw}


def between_only_part(Q: Mapping[str, np.ndarray], t: np.ndarray, nw: int,
                      per_cluster: bool) -> BetweenOnlyPart | None:
    """:class:`BetweenOnlyPart` from the quantities ``Q`` (``phi_zz``, ``H_z``) and the
    clusters' ``t = (1, w, z)`` with `nw` between covariates; None when ``Phi_zz`` is not
    positive definite."""
    try:
        Lz = np.linalg.cholesky(Q["phi_zz"])
    except np.linalg.LinAlgError:
        return None
    zi = np.linalg.inv(Q["phi_zz"])
    tw = t[:, : 1 + nw]
    dz = t[:, 1 + nw:] - tw @ Q["H_z"].T
    const = dz.shape[1] * LOG2PI + 2 * np.log(np.diag(Lz)).sum()
    ll = -0.5 * (len(dz) * const + np.einsum("jr,rs,js->", dz, zi, dz))
    terms = -0.5 * (const + np.einsum("jr,rs,js->j", dz, zi, dz)) if per_cluster else None
    return BetweenOnlyPart(float(ll), terms, zi, dz, tw)


def effect_derivatives(C: np.ndarray, E: np.ndarray, Pinv: np.ndarray, h: np.ndarray,
                       b: np.ndarray, m: np.ndarray, t: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The random effects' part of the gradient per cluster, shared by the complete-data
    and FIML forms: with ``E = (I + Phi C)^-1``, ``Pinv = E Phi``, ``h = Pinv b`` and the
    effects' means ``m = H t``, returns ``d/d Phi`` and ``d/d H`` (summed over clusters)
    and the per-cluster derivatives with respect to ``C_j`` and ``u_j``."""
    D_P = -0.5 * (Pinv + h[:, :, None] * h[:, None, :])
    CE = C @ E
    gb = np.einsum("jsr,js->jr", E, b)
    g_phi = -0.5 * (0.5 * (CE + np.swapaxes(CE, 1, 2))
                    - gb[:, :, None] * gb[:, None, :]).sum(axis=0)
    D_C = D_P - h[:, :, None] * m[:, None, :] - 0.5 * m[:, :, None] * m[:, None, :]
    D_u = h + m
    g_H = (b - np.einsum("jrs,js->jr", C, h)).T @ t
    return g_phi, g_H, D_C, D_u
