"""Replicate data sets for the bootstrap and the jackknife, and their refits.

A :class:`Replicator` holds what a worker process needs to build one
replicate data set and refit the model on it: the rows of the prepared data,
the fitted model's implied moments and the fit options. It is a plain
picklable object, and :func:`run_task` is a module-level function, so both
can go to a ``ProcessPoolExecutor``.

Data sets
---------
* Cluster bootstrap: whole clusters drawn with replacement (a cluster drawn
  twice enters as two clusters); single-level data: rows.
* Parametric bootstrap: data drawn from the fitted model, keeping the
  number of clusters and every cluster size. With ``covariates="fixed"``
  (the default, matching ``fixed_x``) the exogenous covariates keep their
  observed values and the other variables are drawn from their conditional
  distribution given them; with ``covariates="random"`` everything is drawn
  from the implied moments (covariate moments at their sample values).
* Jackknife: the data less one group of clusters (rows).

Two-level draws use the decomposition the likelihood rests on: the cluster
vector (cluster means of the within variables, values of the between-only
ones) of a cluster of size n is N(mu, Sigma_B + Sigma_W / n), independent of
the deviations from the cluster means, which are centred iid N(0, Sigma_W)
draws. Conditioning on the covariates is done in each part separately.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd

from msem_nb.data.complete import ClusterData
from msem_nb.estimation.options import FitOptions
from msem_nb.estimation.pipeline import fit_prepared, prepare
from msem_nb.inference.defined import defined_draws
from msem_nb.messages import collecting
from msem_nb.model.partable import ParTable

__all__ = ["Replicator", "run_task", "set_replicator", "conditional", "psd_sqrt"]


def psd_sqrt(S: np.ndarray) -> np.ndarray:
    """A matrix square root L (L L' = S) that tolerates singular S."""
    w, V = np.linalg.eigh((S + S.T) / 2)
    return V * np.sqrt(np.clip(w, 0.0, None))


def conditional(S: np.ndarray, y: np.ndarray, x: np.ndarray):
    """Regression matrix B and the root of the residual covariance of the
    y-part of N(., S) given its x-part: y | x ~ N(B x, L L')."""
    if len(x) == 0:
        return np.zeros((len(y), 0)), psd_sqrt(S[np.ix_(y, y)])
    Sxx = S[np.ix_(x, x)]
    Syx = S[np.ix_(y, x)]
    B = np.linalg.solve(Sxx, Syx.T).T
    return B, psd_sqrt(S[np.ix_(y, y)] - B @ Syx.T)


def fixed_covariates(pt, names) -> list[str]:
    """Covariates whose moments are fixed (fixed.x) in every block they are in."""
    tab = pt.table
    exo = tab[tab["exo"].astype(bool) & (tab["op"] == "~~") & (tab["lhs"] == tab["rhs"])]
    fixed_in = set(zip(exo["lhs"], exo["block"]))
    out = []
    for v in names:
        blocks = [b for b, bv in enumerate(pt.blocks) if v in bv.ov]
        if blocks and all((v, b) in fixed_in for b in blocks):
            out.append(v)
    return out


@dataclass(eq=False)
class Replicator:
    """Everything needed to build replicate data sets and refit a model.

    Built by :meth:`from_fit`: the fitted parameter table and options (a
    refit goes straight to :func:`~msem_nb.estimation.pipeline.fit_prepared`,
    without parsing the syntax again) and plain arrays.
    """

    partable: ParTable
    cluster: str | None
    fit_options: FitOptions
    start: np.ndarray
    names: tuple            # data variables: within (or all) then between-only
    p_within: int
    rows: np.ndarray        # (N, p_within) rows, sorted by cluster when clustered
    offsets: np.ndarray | None
    sizes: np.ndarray | None
    between_values: np.ndarray | None   # (J, p - p_within) between-only values
    # parametric bootstrap: implied moments and which variables are kept
    mu: np.ndarray | None = None
    sigma_w: np.ndarray | None = None
    sigma_b: np.ndarray | None = None
    keep: tuple = ()
    jackknife_groups: list | None = None

    @classmethod
    def from_fit(cls, fit, covariates: str | None = None) -> "Replicator":
        """Collect the data and options of `fit`; `covariates` ("fixed" or
        "random") also sets up the parametric bootstrap."""
        data = fit.data
        pt = fit.partable
        # Point estimates only: MLR's are ML's, and its sandwich would cost time
        # (MUML refits by MUML, on its table with the covariates' moments free).
        # The stored rows are already centred; centring again is part of the
        # estimator (cluster centring of whole clusters is a no-op, grand
        # centring of a resample gives what raw data would), so the options
        # keep it.
        estimator = "ML" if fit.options.estimator == "MLR" else fit.options.estimator
        opts = dataclasses.replace(fit.options, estimator=estimator, control={})
        if getattr(data, "rows", None) is None:
            raise NotImplementedError(
                "this fit keeps no data rows to resample; refit it with the current version")
        if isinstance(data, ClusterData):
            names, pw = tuple(data.names), data.p_within
            rows = np.asarray(data.rows, dtype=float)
            offsets = np.asarray(data.offsets)
            sizes = np.asarray(data.cluster_sizes)
            between = np.asarray(data.cluster_vectors, dtype=float)[:, pw:]
        else:
            names, pw = tuple(data.names), len(data.names)
            rows = np.asarray(data.rows, dtype=float)
            offsets = sizes = between = None
        rep = cls(pt, fit.cluster, opts, np.array(fit.estimation.theta, dtype=float),
                  names, pw, rows, offsets, sizes, between)
        if covariates is not None:
            rep._set_parametric(fit, covariates)
        return rep

    # -- sizes ---------------------------------------------------------
    @property
    def clustered(self) -> bool:
        return self.offsets is not None

    @property
    def n_units(self) -> int:
        """Resampling units: clusters, or rows of single-level data."""
        return len(self.sizes) if self.clustered else len(self.rows)

    # -- parametric set-up ---------------------------------------------
    def _set_parametric(self, fit, covariates: str) -> None:
        if covariates not in ("fixed", "random"):
            raise ValueError("covariates must be 'fixed' or 'random'")
        pt = fit.partable
        if getattr(pt, "slopes", ()) or (pt.table["op"] == "|~").any():
            raise NotImplementedError(
                "the parametric bootstrap does not simulate random slopes yet; "
                "use type='cluster'")
        if np.isnan(self.rows).any() or (self.between_values is not None
                                         and np.isnan(self.between_values).any()):
            raise NotImplementedError(
                "the parametric bootstrap needs complete data; use type='cluster'")
        _, mom = fit.estimation.objective.moments(fit.estimation.theta)
        if self.clustered:
            if len(mom) != 3:
                raise NotImplementedError("the parametric bootstrap supports random-intercept "
                                          "two-level models only")
            self.mu, self.sigma_w, self.sigma_b = (np.asarray(m, dtype=float) for m in mom)
        else:
            mu, sigma = mom
            # Without a mean structure the means are saturated at the sample means.
            self.mu = np.asarray(fit.data.mean if mu is None else mu, dtype=float)
            self.sigma_w = np.asarray(sigma, dtype=float)
        self.keep = tuple(fixed_covariates(pt, self.names)) if covariates == "fixed" else ()

    # -- data sets -----------------------------------------------------
    def _frame(self, within: np.ndarray, between: np.ndarray | None,
               sizes: np.ndarray | None) -> pd.DataFrame:
        cols = {v: within[:, k] for k, v in enumerate(self.names[: self.p_within])}
        if sizes is not None:
            for k, v in enumerate(self.names[self.p_within:]):
                cols[v] = np.repeat(between[:, k], sizes)
            cols[self.cluster] = np.repeat(np.arange(len(sizes)), sizes)
        return pd.DataFrame(cols)

    def _cluster_rows(self, units: np.ndarray):
        """Rows of clusters `units` (repeats allowed), in that order."""
        sizes = self.sizes[units]
        starts = self.offsets[units]
        # index of every row: each cluster's start plus 0..size-1
        idx = np.repeat(starts - np.concatenate(([0], np.cumsum(sizes)[:-1])), sizes) \
            + np.arange(sizes.sum())
        return self.rows[idx], self.between_values[units], sizes

    def subset(self, units: np.ndarray) -> pd.DataFrame:
        """The data restricted to clusters (rows) `units`, repeats as new clusters."""
        if self.clustered:
            return self._frame(*self._cluster_rows(units))
        return self._frame(self.rows[units], None, None)

    def resample(self, rng: np.random.Generator) -> pd.DataFrame:
        """A cluster-bootstrap data set (rows for single-level data)."""
        return self.subset(rng.integers(0, self.n_units, self.n_units))

    def jackknife(self, group: int) -> pd.DataFrame:
        """The data without the units of jackknife group `group`."""
        drop = np.zeros(self.n_units, dtype=bool)
        drop[self.jackknife_groups[group]] = True
        return self.subset(np.flatnonzero(~drop))

    def simulate(self, rng: np.random.Generator) -> pd.DataFrame:
        """A parametric-bootstrap data set (see the module docstring)."""
        if self.mu is None:
            raise RuntimeError("the replicator was not set up for the parametric bootstrap")
        if self.clustered:
            return self._simulate_twolevel(rng)
        p = len(self.names)
        x = np.array([self.names.index(v) for v in self.keep], dtype=int)
        y = np.setdiff1d(np.arange(p), x)
        B, L = conditional(self.sigma_w, y, x)
        out = self.rows.copy()
        z = rng.standard_normal((len(out), len(y)))
        out[:, y] = self.mu[y] + (self.rows[:, x] - self.mu[x]) @ B.T + z @ L.T
        return self._frame(out, None, None)

    def _simulate_twolevel(self, rng: np.random.Generator) -> pd.DataFrame:
        pw, p = self.p_within, len(self.names)
        J, sizes, offsets = len(self.sizes), self.sizes, self.offsets
        x = np.array([self.names.index(v) for v in self.keep], dtype=int)
        y = np.setdiff1d(np.arange(p), x)
        xw, yw = x[x < pw], y[y < pw]
        # observed cluster vectors: cluster means of within variables, between-only values
        cmeans = np.add.reduceat(self.rows, offsets, axis=0) / sizes[:, None]
        vec = np.hstack([cmeans, self.between_values])

        # cluster part, per distinct cluster size
        new_vec = vec.copy()
        z = rng.standard_normal((J, len(y)))
        for n in np.unique(sizes):
            sel = sizes == n
            omega = self.sigma_b.copy()
            omega[:pw, :pw] += self.sigma_w / n
            B, L = conditional(omega, y, x)
            new_vec[np.ix_(sel, y)] = (self.mu[y] + (vec[np.ix_(sel, x)] - self.mu[x]) @ B.T
                                       + z[sel] @ L.T)

        # within part: deviations from the cluster means
        Bw, Lw = conditional(self.sigma_w, yw, xw)
        u = rng.standard_normal((len(self.rows), len(yw))) @ Lw.T
        u -= np.repeat(np.add.reduceat(u, offsets, axis=0) / sizes[:, None], sizes, axis=0)
        dev_x = self.rows[:, xw] - np.repeat(cmeans[:, xw], sizes, axis=0)
        within = self.rows.copy()
        within[:, yw] = np.repeat(new_vec[:, yw], sizes, axis=0) + dev_x @ Bw.T + u
        return self._frame(within, new_vec[:, pw:], sizes)

    # -- refit -----------------------------------------------------------
    def refit(self, df: pd.DataFrame):
        """Fit the model to `df` starting at the original estimates.

        Returns the free parameter vector followed by the defined
        parameters, or raises when the fit fails or does not converge.
        """
        pt = self.partable
        # a failed replicate is counted by the caller, not warned about
        with collecting(quiet=True):
            data, _ = prepare(pt, df, self.cluster, self.fit_options)
            est = fit_prepared(pt, data, self.fit_options.with_control(start=self.start, se=False))
        if not est.converged:
            raise RuntimeError("did not converge")
        theta = np.asarray(est.theta, dtype=float)
        defined = defined_draws(pt, theta[None, :], est.fixed_values)[0]
        return np.concatenate([theta, defined])


# ---------------------------------------------------------------------------
# Worker side. With n_jobs > 1 each process receives the replicator once (via
# the pool initializer) and then only small task tuples.
# ---------------------------------------------------------------------------

_REPLICATOR: Replicator | None = None


def set_replicator(rep: Replicator | None) -> None:
    """Install the replicator that :func:`run_task` uses in this process."""
    global _REPLICATOR
    _REPLICATOR = rep


def run_task(task):
    """Run one replicate.

    Parameters
    ----------
    task : tuple
        ``(kind, index, arg)``: kind "cluster" or "parametric" with a
        ``numpy.random.SeedSequence`` as arg, or "jackknife" with the group
        number.

    Returns
    -------
    tuple
        ``(kind, index, values or None, reason or None)``.
    """
    kind, index, arg = task
    rep = _REPLICATOR
    try:
        if kind == "jackknife":
            df = rep.jackknife(arg)
        else:
            rng = np.random.default_rng(arg)
            df = rep.resample(rng) if kind == "cluster" else rep.simulate(rng)
        values = rep.refit(df)
    except Exception as exc:  # noqa: BLE001 - any failed refit is a failed replicate
        return kind, index, None, f"{type(exc).__name__}: {exc}"
    return kind, index, values, None


def run_batch(tasks):
    """:func:`run_task` over a list; one pool round trip for several replicates."""
    return [run_task(t) for t in tasks]
