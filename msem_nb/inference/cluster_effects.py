"""The clusters' own estimates in random-slope models: empirical Bayes posterior means and SDs.

As lavaan-dev's ``lavPredict(fit, level = 2, se = "standard")`` for models with
``rv()`` slopes: for every cluster j the posterior mean of each between-level
random effect given the cluster's data at the estimates, and its posterior SD
(the square root of the posterior variance; it holds the parameters fixed at
their estimates, so it is not a standard error of the estimates).

The data of cluster j depend on its between variables only through the random
effects ``r_j`` of :mod:`msem_nb.likelihood.slopes` (between parts of the
within outcomes, the slopes) and its between-only outcomes ``z_j``. Write
``x_j = (r_j, z_j)``. Every modelled between variable ``v`` (latent variables,
slopes, between parts) is jointly normal with ``x`` given the between
covariates ``w_j``: ``(v, x) | w ~ N(m0 + G w_j, Cov)``, so with
``B = Cov_vx Cov_xx^+`` and ``V = Cov_vv - B Cov_xv``

    E(v | data_j)   = m0_v + G_v w_j + B (E(x | data_j) - m0_x - G_x w_j)
    Var(v | data_j) = V + B Var(x | data_j) B'

(the tower rule and the law of total variance, v being independent of the data
given x). ``z_j`` is observed: its posterior mean is its value, its variance 0.

Observed covariates (closed form): given the data r_j is normal (Woodbury, the
quantities of the likelihood: ``C_j``, ``b_j``, prior ``r | t ~ N(H t_j, Phi)``),

    E(r | data_j)   = H t_j + (I + Phi C_j)^-1 Phi b_j
    Var(r | data_j) = (I + Phi C_j)^-1 Phi

Slopes on latent covariates (quadrature, :mod:`msem_nb.likelihood.slopes_latent`):
over the adapted nodes ``u_k`` of cluster j with posterior node probabilities
``pi_jk`` (the rule's weights times the integrand, normalised), the nonlinear
slopes are ``s_k`` at node k and the linear effects are normal given the node
with mean ``mu_jk`` and covariance ``S_jk``; so with ``a_jk = (mu_jk, s_k)``

    E(r | data_j)   = sum_k pi_jk a_jk
    Var(r | data_j) = sum_k pi_jk (blockdiag(S_jk, 0) + a_jk a_jk') - E E'

which is lavaan-dev's mixture (its ``lav_mvn_cl_rs_eb_nl``); lavaan-dev uses a
fixed (not adapted) rule, so the two agree to its quadrature error.

Cluster-specific regression lines (:func:`slope_lines`, observed covariates):
within a cluster the expected outcome given the covariates c and the effects r
is ``a + Pi c + sum_k r_k (K_k0 + K_kc c)`` (the likelihood's quantities); with
r at its posterior mean and the other covariates at their overall means this is
a line in the covariate x. A latent outcome is drawn through its marker
indicator (loading 1: the latent variable's scale).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from msem_nb.errors import ModelSpecificationError
from msem_nb.likelihood.slopes import SlopeObjective
from msem_nb.likelihood.slopes_latent import LatentSlopeObjective
from msem_nb.likelihood.slopes_latent_missing import MissingLatentSlopeObjective
from msem_nb.likelihood.slopes_missing import MissingSlopeObjective
from msem_nb.model.blocks import BETWEEN

__all__ = ["ClusterEffects", "cluster_effects", "closed_form_posterior", "quadrature_posterior",
           "SlopeLines", "slope_lines"]


@dataclass(frozen=True, eq=False)
class ClusterEffects:
    """Posterior of the between-level random effects, one row per cluster.

    Attributes
    ----------
    ids : numpy.ndarray
        The cluster ids (J,), in the fit's cluster order.
    names : tuple of str
        The effects: the between latent variables (random slopes among them) in the
        model's order, then the between parts of the within outcomes.
    mean : numpy.ndarray
        (J, k) posterior means.
    cov : numpy.ndarray
        (J, k, k) posterior covariances.
    prior_mean : numpy.ndarray
        (J, k) the model-implied means given the cluster's between covariates (the
        fixed part: a slope's average, or its prediction from ``s ~ w``).
    prior_var : numpy.ndarray
        (k,) the model-implied variances given the between covariates (a slope's
        variance across clusters).
    """

    ids: np.ndarray
    names: tuple[str, ...]
    mean: np.ndarray
    cov: np.ndarray
    prior_mean: np.ndarray
    prior_var: np.ndarray

    @property
    def sd(self) -> np.ndarray:
        """(J, k) posterior SDs."""
        return np.sqrt(np.clip(np.diagonal(self.cov, axis1=1, axis2=2), 0.0, None))

    def frame(self, cluster: str | None, se: bool = False) -> pd.DataFrame:
        """The posterior means as a DataFrame indexed by cluster id; with `se` one
        more column per effect, ``<name>_se``, holding its posterior SD."""
        index = pd.Index(self.ids, name=cluster)
        out = pd.DataFrame(self.mean, columns=list(self.names), index=index)
        if se:
            sd = pd.DataFrame(self.sd, columns=[f"{v}_se" for v in self.names], index=index)
            out = pd.concat([out, sd], axis=1)
        return out


def closed_form_posterior(obj: SlopeObjective, theta: np.ndarray) -> tuple[np.ndarray,
                                                                           np.ndarray]:
    """Posterior means (J, r) and covariances (J, r, r) of the random effects r of a
    random-slope model on observed covariates (module docstring)."""
    Q = obj.quantities(np.asarray(theta, dtype=float))
    M, t = obj.sdata.M, obj.sdata.t
    K, L, H, phi = Q["K"], Q["L"], Q["H"], Q["phi"]
    W = np.linalg.inv(Q["sigma_w"])
    T = np.einsum("arc,ab,bse->rsce", K, W, K, optimize=True)
    U2 = np.einsum("arc,ae->rce", K, W @ L, optimize=True)
    C = np.einsum("jce,rsce->jrs", M, T, optimize=True)
    m = t @ H.T
    b = np.einsum("jec,rce->jr", M, U2, optimize=True) - np.einsum("jrs,js->jr", C, m)
    IPC = np.eye(len(obj.layout.r)) + phi @ C
    cov = np.linalg.solve(IPC, np.broadcast_to(phi, IPC.shape))
    mean = m + np.einsum("jrs,js->jr", cov, b)
    return mean, 0.5 * (cov + np.swapaxes(cov, 1, 2))


def quadrature_posterior(obj: LatentSlopeObjective,
                         theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Posterior means (J, r) and covariances (J, r, r) of all random effects r (the
    linear ones, then the slopes on latent covariates), mixed over the nodes."""
    w, s, mu, S = obj.node_posteriors(theta)
    J, K, rl = mu.shape
    q = s.shape[2]
    a = np.concatenate([mu, s], axis=2)                       # (J, K, r)
    mean = np.einsum("jk,jkr->jr", w, a)
    second = np.einsum("jk,jkr,jks->jrs", w, a, a)
    second[:, :rl, :rl] += np.einsum("jk,jkrs->jrs", w, S)
    cov = second - mean[:, :, None] * mean[:, None, :]
    assert cov.shape == (J, rl + q, rl + q)
    return mean, 0.5 * (cov + np.swapaxes(cov, 1, 2))


def _complete_only(obj: SlopeObjective) -> None:
    # the posterior here is built from the complete-data cluster statistics; with missing
    # outcome values those hold zeros where the values are missing
    if isinstance(obj, (MissingSlopeObjective, MissingLatentSlopeObjective)):
        raise ModelSpecificationError(
            "the clusters' estimates of a random-slope model fitted with missing outcome "
            "values (FIML) are not available yet; to get them, fit the rows with complete "
            "outcomes (missing='listwise')")


def cluster_effects(obj: SlopeObjective, theta: np.ndarray,
                    ids: np.ndarray | None = None) -> ClusterEffects:
    """Empirical Bayes estimates of every between-level random effect per cluster.

    Parameters
    ----------
    obj : SlopeObjective
        The random-slope objective of a fit (``fit.estimation.objective``); a
        :class:`~msem_nb.likelihood.slopes_latent.LatentSlopeObjective` for slopes on
        latent covariates.
    theta : numpy.ndarray
        The parameters (the estimates).
    ids : numpy.ndarray, optional
        The cluster ids (default: the data's).

    Returns
    -------
    ClusterEffects
    """
    if not isinstance(obj, SlopeObjective):
        raise ModelSpecificationError(
            "the clusters' posterior estimates are computed for random-slope models")
    _complete_only(obj)
    theta = np.asarray(theta, dtype=float)
    lay = obj.layout
    if isinstance(obj, LatentSlopeObjective):
        post_r, cov_r = quadrature_posterior(obj, theta)
    else:
        post_r, cov_r = closed_form_posterior(obj, theta)
    names, m0, G, cov = obj.between_joint(theta)
    t = obj.sdata.t
    qw = len(lay.w)
    w, z = t[:, 1:1 + qw], t[:, 1 + qw:]
    xi = [names.index(v) for v in lay.r + lay.z]
    J, nr, nx = len(t), len(lay.r), len(lay.r) + len(lay.z)
    post_x = np.concatenate([post_r, z], axis=1)
    cov_x = np.zeros((J, nx, nx))
    cov_x[:, :nr, :nr] = cov_r
    spec = obj.spec.blocks[obj.spec.block_of(BETWEEN)]
    lv = [v for v in spec.names[spec.n_ov:] if v in names]
    parts = [v for v in lay.r if v not in lv and v in spec.ov]
    out = lv + parts
    vi = [names.index(v) for v in out]
    prior = m0[None, :] + w @ G.T                                  # (J, all)
    cxx = cov[np.ix_(xi, xi)]
    Bm = cov[np.ix_(vi, xi)] @ np.linalg.pinv(cxx, rcond=1e-12, hermitian=True)
    V = cov[np.ix_(vi, vi)] - Bm @ cov[np.ix_(xi, vi)]
    mean = prior[:, vi] + (post_x - prior[:, xi]) @ Bm.T
    pcov = V[None] + np.einsum("ab,jbc,dc->jad", Bm, cov_x, Bm)
    pcov = 0.5 * (pcov + np.swapaxes(pcov, 1, 2))
    ids = np.asarray(obj.data.cluster_ids if ids is None else ids)
    return ClusterEffects(ids, tuple(out), mean, pcov, prior[:, vi],
                          np.diag(cov)[vi].copy())



@dataclass(frozen=True, eq=False)
class SlopeLines:
    """Cluster-specific regression lines ``intercept_j + slope_j x`` of one random slope.

    ``x_range`` (J, 2) is each cluster's observed range of x; ``points`` (N, 3) the
    data rows (cluster position, x, outcome); ``average`` the line of the fixed part
    (the effects at their model-implied means, averaged over the clusters);
    ``outcome`` is the variable drawn: the slope's outcome, or the marker indicator
    of a latent outcome (then ``latent`` names the latent variable).
    """

    slope: str
    covariate: str
    outcome: str
    latent: str | None
    ids: np.ndarray
    intercept: np.ndarray
    slopes: np.ndarray
    x_range: np.ndarray
    points: np.ndarray
    average: tuple[float, float]


def slope_lines(obj: SlopeObjective, theta: np.ndarray, slope: str,
                marker: str | None = None) -> SlopeLines:
    """The clusters' regression lines of the outcome of `slope` on its covariate.

    Parameters
    ----------
    obj : SlopeObjective
        A random-slope objective with `slope` on an observed covariate.
    theta : numpy.ndarray
    slope : str
    marker : str, optional
        The indicator drawn for a latent outcome (its marker).

    Returns
    -------
    SlopeLines
    """
    _complete_only(obj)
    lay = obj.layout
    if isinstance(obj, LatentSlopeObjective) and slope in obj.nl:
        y, x = obj.nl[slope]
        raise ModelSpecificationError(
            f"the covariate of {slope} ({x}) is latent at the within level, so there are no "
            f"values of {x} to draw {y}'s lines over; see the caterpillar plot of {slope}")
    if slope not in lay.slopes:
        raise ModelSpecificationError(f"{slope!r} is not a random slope of this model; its "
                                      f"slopes: {', '.join(lay.slopes) or 'none'}")
    if isinstance(obj, LatentSlopeObjective):
        raise ModelSpecificationError(
            "regression lines are drawn for models whose random slopes are all on observed "
            "covariates; this model also has slopes on latent covariates")
    y, x = lay.slopes[slope]
    latent = None
    if y not in lay.ys:
        latent, y = y, marker if marker in lay.ys else None
        if y is None:
            raise ModelSpecificationError(
                f"{latent} has no observed marker indicator at the within level to draw")
    theta = np.asarray(theta, dtype=float)
    Q = obj.quantities(theta)
    i = lay.ys.index(y)
    q = len(lay.cond)
    xc = 1 + lay.cond.index(x)
    a, Pi, K = -Q["L"][i, 0], -Q["L"][i, 1:1 + q], Q["K"][i]       # K: (r, d)
    post, _ = closed_form_posterior(obj, theta)
    data = obj.data
    rows = np.asarray(data.rows)
    cbar = rows[:, [data.within.index(v) for v in lay.cond]].mean(axis=0)
    c0 = np.concatenate([[1.0], cbar, np.zeros(len(lay.ys))])
    c0[xc] = 0.0

    def line(r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        level = a + Pi @ c0[1:1 + q] + r @ (K @ c0)
        return level, Pi[xc - 1] + r @ K[:, xc]

    intercept, slopes = line(post)
    prior = obj.sdata.t @ obj.quantities(theta)["H"].T
    avg = line(prior.mean(axis=0))
    xs = rows[:, data.within.index(x)]
    offsets = np.asarray(data.offsets)
    x_range = np.stack([np.minimum.reduceat(xs, offsets), np.maximum.reduceat(xs, offsets)],
                       axis=1)
    which = np.repeat(np.arange(len(offsets)), np.asarray(data.cluster_sizes))
    points = np.stack([which, xs, rows[:, data.within.index(y)]], axis=1)
    return SlopeLines(slope, x, y, latent, np.asarray(data.cluster_ids), intercept, slopes,
                      x_range, points, (float(avg[0]), float(avg[1])))
