"""The single-level saturated model on incomplete data (FIML).

Maximises the FIML log-likelihood of :mod:`msem_nb.likelihood.missing` over
a free mean and the Cholesky factor of a free covariance, from
available-case start values.
"""

from __future__ import annotations

import numpy as np

from msem_nb.data.missing import MissingSingleData
from msem_nb.estimation.optimize import maximize
from msem_nb.likelihood.missing import loglik_single_missing

# ----------------------------------------------------------------------------
# saturated model and covariate terms
# ----------------------------------------------------------------------------

def fit_saturated_single_missing(data: MissingSingleData
                                 ) -> tuple[np.ndarray, np.ndarray, float, bool]:
    """ML estimates of a free mean and covariance from incomplete rows.

    Maximised over the mean and the Cholesky factor of the covariance with
    the analytic gradient, from available-case moments.

    Returns
    -------
    (mu, sigma, loglik, converged)
    """

    p = len(data.names)
    il = np.tril_indices(p)
    L0 = np.linalg.cholesky(data.cov)
    x0 = np.concatenate([data.mean, L0[il]])

    def unpack(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        L = np.zeros((p, p))
        L[il] = x[p:]
        return x[:p], L

    def fun_grad(x: np.ndarray) -> tuple[float, np.ndarray | None]:
        mu, L = unpack(x)
        ll, g = loglik_single_missing(data, mu, L @ L.T)
        if g is None:
            return ll, None
        return ll, np.concatenate([g[0], (2.0 * g[1] @ L)[il]])

    res = maximize(fun_grad, x0, scale=data.nobs, gtol=1e-10, hessian=False)
    mu, L = unpack(res.x)
    return mu, L @ L.T, res.fun, res.converged
