"""Adaptive Gauss-Hermite quadrature over a few standard-normal random effects per cluster.

For cluster j the integrand is ``h_j(u) = exp(g_j(u))`` over ``u`` in R^q, where
``g_j`` already contains the standard-normal density of ``u``. The rule is
centred and scaled per cluster at the mode ``u_j = argmax g_j`` with
``S_j S_j' = (-d^2 g_j / du du')^-1`` at the mode (Cholesky factor):

    integral h_j(u) du = |S_j| integral h_j(u_j + S_j z) dz
                       ~ |S_j| sum_k w_k h_j(u_j + S_j z_k) / phi(z_k)

with ``(z_k, w_k)`` the n-point Gauss-Hermite rule for the standard normal
(``z = sqrt(2) x``, ``w = omega / sqrt(pi)`` from the physicists' rule),
a tensor product over the q dimensions (n^q nodes). If ``h_j`` is a normal
density times a polynomial of degree < 2n the rule is exact; the adaptation
makes the integrand close to that. The sum is taken in logs (log-sum-exp).

The mode is found by damped Newton steps on central differences of ``g_j``
(all clusters at once), the curvature from the same stencil; the negative
Hessian's eigenvalues are floored so that a flat or convex stretch still
gives a usable scale.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from itertools import product

import numpy as np
from scipy.special import logsumexp

__all__ = ["GaussHermite", "Adaptation", "adapt", "log_integrals", "agh_points"]

#: g(u) for a batch: (clusters of the items (K,), points (K, q)) -> (K,) values
BatchLog = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True, eq=False)
class GaussHermite:
    """Tensor-product Gauss-Hermite rule for the q-variate standard normal."""

    z: np.ndarray        # (n^q, q) nodes
    log_w: np.ndarray    # (n^q,) log weights
    log_phi: np.ndarray  # (n^q,) log standard-normal density at the nodes

    @staticmethod
    def make(n: int, q: int) -> "GaussHermite":
        x, w = np.polynomial.hermite.hermgauss(n)
        z1, lw1 = np.sqrt(2.0) * x, np.log(w) - 0.5 * np.log(np.pi)
        idx = np.array(list(product(range(n), repeat=q)), dtype=int).reshape(-1, q)
        z = z1[idx]
        return GaussHermite(z, lw1[idx].sum(axis=1),
                            -0.5 * (q * np.log(2 * np.pi) + (z ** 2).sum(axis=1)))


@dataclass(frozen=True, eq=False)
class Adaptation:
    """Per-cluster centre (J, q) and Cholesky scale (J, q, q) of the rule."""

    mode: np.ndarray
    scale: np.ndarray

    @property
    def log_det(self) -> np.ndarray:
        return np.log(np.abs(np.diagonal(self.scale, axis1=1, axis2=2))).sum(axis=1)


def _stencil(g: BatchLog, J: int, u: np.ndarray, h: float) -> tuple[np.ndarray, np.ndarray,
                                                                     np.ndarray]:
    """Value, central-difference gradient and Hessian of g at u (J, q)."""
    q = u.shape[1]
    shifts = [np.zeros(q)]
    for i in range(q):
        e = np.zeros(q)
        e[i] = h
        shifts += [e, -e]
    for i in range(q):
        for k in range(i):
            for si, sk in ((1, 1), (1, -1), (-1, 1), (-1, -1)):
                e = np.zeros(q)
                e[i], e[k] = si * h, sk * h
                shifts.append(e)
    S = np.array(shifts)
    pts = (u[:, None, :] + S[None]).reshape(-1, q)
    jidx = np.repeat(np.arange(J), len(S))
    v = g(jidx, pts).reshape(J, len(S))
    f0 = v[:, 0]
    grad = np.empty((J, q))
    hess = np.empty((J, q, q))
    for i in range(q):
        fp, fm = v[:, 1 + 2 * i], v[:, 2 + 2 * i]
        grad[:, i] = (fp - fm) / (2 * h)
        hess[:, i, i] = (fp - 2 * f0 + fm) / h ** 2
    c = 1 + 2 * q
    for i in range(q):
        for k in range(i):
            pp, pm, mp, mm = (v[:, c + t] for t in range(4))
            hess[:, i, k] = hess[:, k, i] = (pp - pm - mp + mm) / (4 * h * h)
            c += 4
    return f0, grad, hess


def adapt(g: BatchLog, J: int, q: int, *, start: np.ndarray | None = None,
          steps: int = 25, h: float = 1e-3) -> Adaptation:
    """The per-cluster mode of g and the Cholesky factor of its inverse curvature."""
    u = np.zeros((J, q)) if start is None else np.array(start, dtype=float)
    f0, grad, hess = _stencil(g, J, u, h)
    for _ in range(steps):
        w, V = np.linalg.eigh(-hess)
        w = np.maximum(w, 0.05)
        step = np.einsum("jab,jb,jcb,jc->ja", V, 1 / w, V, grad)
        # damped: no step longer than one prior SD, and back off where g falls
        step *= np.minimum(1.0, 1.0 / np.maximum(np.abs(step).max(axis=1), 1e-300))[:, None]
        new = u + step
        # the stencil at the new point also gives its value (the centre) for the test
        fn, gn, hn = _stencil(g, J, new, h)
        worse = ~(fn >= f0 - 1e-9)
        if worse.any():
            bad = np.flatnonzero(worse)
            fb = fn[bad]
            for _ in range(20):
                still = ~(fb >= f0[bad] - 1e-9)
                if not still.any():
                    break
                step[bad[still]] *= 0.5
                new[bad[still]] = u[bad[still]] + step[bad[still]]
                fb[still] = g(bad[still], new[bad[still]])
            still = ~(fb >= f0[bad] - 1e-9)
            new[bad[still]] = u[bad[still]]
            fs, gs, hs = _stencil(_subset(g, bad), len(bad), new[bad], h)
            fn[bad], gn[bad], hn[bad] = fs, gs, hs
        done = np.abs(new - u).max() < 1e-7
        u, f0, grad, hess = new, fn, gn, hn
        if done:
            break
    w, V = np.linalg.eigh(-hess)
    w = np.maximum(w, 0.05)
    cov = np.einsum("jab,jb,jcb->jac", V, 1 / w, V)
    return Adaptation(u, np.linalg.cholesky(cov))


def _subset(g: BatchLog, clusters: np.ndarray) -> BatchLog:
    """g over a subset of the clusters, numbered 0.. in the subset's order."""
    return lambda j, u: g(clusters[j], u)


def agh_points(ad: Adaptation, rule: GaussHermite) -> tuple[np.ndarray, np.ndarray,
                                                            np.ndarray]:
    """Cluster index (J*K,), points u (J*K, q) and log weights (J*K,) of the adapted rule
    (the weights include |S_j| and 1 / phi(z_k))."""
    J, q = ad.mode.shape
    nk = len(rule.z)
    pts = ad.mode[:, None, :] + np.einsum("jab,kb->jka", ad.scale, rule.z)
    lw = ad.log_det[:, None] + (rule.log_w - rule.log_phi)[None, :]
    return np.repeat(np.arange(J), nk), pts.reshape(-1, q), lw.reshape(-1)


def log_integrals(g: BatchLog, ad: Adaptation, rule: GaussHermite) -> np.ndarray:
    """log of integral exp(g_j(u)) du per cluster (J,), by the adapted rule."""
    J = ad.mode.shape[0]
    jidx, pts, lw = agh_points(ad, rule)
    return logsumexp((lw + g(jidx, pts)).reshape(J, -1), axis=1)
