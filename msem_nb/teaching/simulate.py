"""Draw data from a two-level model whose parameter values are written in the syntax.

The model is read with the same parser and parameter-table rules as
:func:`msem_nb.fit`, so ``y ~ 0.3*x`` in ``level: within`` means exactly
what it means when fitting. The values are put into the RAM matrices of each
block (:mod:`msem_nb.model.spec`) and the implied moments (:mod:`msem_nb.model.implied`)
give the population Sigma_W, Sigma_B and means, block by block; rows are
then drawn as a within part (the lowest level's block) plus the between
part of their cluster (the between block).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from msem_nb.errors import ModelSpecificationError
from msem_nb.model.blocks import BETWEEN, WITHIN
from msem_nb.model.implied import block_moments
from msem_nb.model.partable import ParTable, build_partable
from msem_nb.model.spec import build_spec
from msem_nb.syntax import parse

__all__ = ["population_moments", "simulate", "population_table", "population_values",
           "table_moments", "cluster_sizes", "draw_data"]


def _default_value(rec: dict) -> float:
    """Value of a parameter the syntax leaves free (see :func:`simulate`)."""
    op = rec["op"]
    if op == "~~" and rec["lhs"] == rec["rhs"]:
        return 1.0
    if op == "=~":
        return 1.0
    return 0.0  # paths, covariances, intercepts and means


def _theta(pt: ParTable) -> np.ndarray:
    theta = np.zeros(pt.npar)
    seen = set()
    for rec in pt.records:
        k = int(rec["free"]) - 1
        if k < 0 or k in seen:
            continue
        seen.add(k)
        theta[k] = _default_value(rec)
    return theta


def population_table(model: str) -> ParTable:
    """The parameter table of a model with values in its syntax (covariates random).

    Built with a mean structure and ``fixed_x=False``, so that every moment of
    the population, covariates included, is a row; the values are those of
    :func:`population_values`.
    """
    parsed = parse(model)
    with warnings.catch_warnings():
        # giving an exogenous covariate's variance is the normal case here,
        # not the surprise the fitting code warns about
        warnings.filterwarnings("ignore", message=".*treated as random variables.*")
        pt = build_partable(parsed, meanstructure=True, fixed_x=False)
    if pt.slopes:
        raise ModelSpecificationError(
            "simulate() does not draw random slopes yet; write the model without '|' "
            "statements (random intercepts only)")
    return pt


def population_values(pt: ParTable) -> np.ndarray:
    """The population value of every row of `pt`: the number written in the syntax,
    or the default of a parameter left free (see :func:`simulate`)."""
    theta = _theta(pt)
    out = np.empty(len(pt.records))
    for i, rec in enumerate(pt.records):
        k = int(rec["free"]) - 1
        if k >= 0:
            out[i] = theta[k]
        else:
            u = rec["ustart"]
            out[i] = 0.0 if u is None or not np.isfinite(u) else float(u)
    return out


def table_moments(pt: ParTable, values: np.ndarray | None = None) -> dict:
    """Population moments of `pt` with row values `values` (default
    :func:`population_values`); the dictionary of :func:`population_moments`.

    Raises ``ModelSpecificationError`` when a level's implied covariance
    matrix is not positive semidefinite.
    """
    values = population_values(pt) if values is None else np.asarray(values, dtype=float)
    theta = np.zeros(pt.npar)
    fixed: dict[int, float] = {}
    for i, rec in enumerate(pt.records):
        k = int(rec["free"]) - 1
        if k >= 0:
            theta[k] = values[i]
        else:
            fixed[i] = float(values[i])
    spec = build_spec(pt, fixed)
    out = {}
    # variances of the lowest level and of the levels above it, for the ICC
    vw, vb = {}, {}
    for b, bs in enumerate(spec.blocks):
        # a single-level model's one block is reported as "within"
        key = bs.key.name or WITHIN
        bm = block_moments(bs, theta)
        names = tuple(bs.names[: bs.n_ov])
        cov, mean = bm.cov.copy(), bm.mean.copy()
        w = np.linalg.eigvalsh(0.5 * (cov + cov.T)) if len(cov) else np.zeros(1)
        if w.min() < -1e-10 * max(1.0, np.abs(w).max()):
            raise ModelSpecificationError(
                f"the {key} covariance matrix implied by these values is not positive "
                "(semi)definite (a residual variance is negative or a covariance exceeds its "
                "variances); check the values in the syntax")
        out[key] = (names, mean, cov)
        (vw if spec.is_lowest(b) else vb).update({v: cov[i, i] for i, v in enumerate(names)})
    names = pt.ov_names
    icc = {v: vb.get(v, 0.0) / (vw.get(v, 0.0) + vb.get(v, 0.0))
           if vw.get(v, 0.0) + vb.get(v, 0.0) > 0 else np.nan for v in names}
    out["icc"] = pd.Series(icc, name="icc")
    return out


def population_moments(model: str) -> dict:
    """Population moments of a model with values in its syntax.

    Parameters
    ----------
    model : str
        Model syntax with values (``y ~ 0.3*x``); see :func:`simulate` for
        the values of parameters left unspecified.

    Returns
    -------
    dict
        ``within`` and ``between``: (names, mean, covariance) of the observed
        variables of each block (a single-level model has only ``within``),
        ``icc``: a :class:`pandas.Series` of Sigma_B / (Sigma_W + Sigma_B)
        for variables at both levels (1 for between-only, 0 for within-only
        variables).
    """
    return table_moments(population_table(model))


def _draw(rng: np.random.Generator, mean: np.ndarray, cov: np.ndarray, n: int) -> np.ndarray:
    # eigen square root: works for positive semidefinite matrices, e.g. a
    # variance fixed at zero, where a Cholesky factor would fail
    w, V = np.linalg.eigh(0.5 * (cov + cov.T))
    root = V * np.sqrt(np.clip(w, 0.0, None))
    return mean + rng.standard_normal((n, len(mean))) @ root.T


def cluster_sizes(rng: np.random.Generator, n_clusters: int, cluster_size) -> np.ndarray:
    """The size of each of `n_clusters` clusters: `cluster_size` rows each, or drawn
    uniformly from an inclusive ``(min, max)`` range with `rng`."""
    n_clusters = int(n_clusters)
    if n_clusters < 1:
        raise ValueError("n_clusters must be at least 1")
    if np.ndim(cluster_size) == 0:
        size = int(cluster_size)
        if size < 1:
            raise ValueError("cluster_size must be at least 1")
        return np.full(n_clusters, size)
    lo, hi = (int(v) for v in cluster_size)
    if lo < 1 or hi < lo:
        raise ValueError("cluster_size must be an int or (min, max) with 1 <= min <= max")
    return rng.integers(lo, hi + 1, size=n_clusters)


def draw_data(rng: np.random.Generator, moments: dict, sizes: np.ndarray,
              cluster: str = "cluster") -> pd.DataFrame:
    """One data set from population `moments` (:func:`table_moments`) with clusters
    of `sizes`: a within draw per row plus the between draw of its cluster."""
    n_clusters = len(sizes)
    ids = np.repeat(np.arange(1, n_clusters + 1), sizes)
    n = len(ids)
    values: dict[str, np.ndarray] = {}
    # one draw per row for the lowest level, one per cluster for the between
    # level; a variable's value is the sum of its parts
    for level, units in ((WITHIN, None), (BETWEEN, ids - 1)):
        if level not in moments:
            continue
        names, mean, cov = moments[level]
        if not names:
            continue
        draw = _draw(rng, mean, cov, n if units is None else n_clusters)
        if units is not None:
            draw = draw[units]
        for i, v in enumerate(names):
            values[v] = values[v] + draw[:, i] if v in values else draw[:, i]
    order = [v for v in moments["icc"].index if v in values]
    if cluster in order:
        raise ModelSpecificationError(f"'{cluster}' is a model variable; pass another "
                                      "cluster= name for the id column")
    out = pd.DataFrame({v: values[v] for v in order})
    out[cluster] = ids
    return out


def simulate(model: str, n_clusters: int, cluster_size, seed=None, *,
             cluster: str = "cluster") -> pd.DataFrame:
    """Simulate two-level data from a model with values in its syntax.

    Parameters
    ----------
    model : str
        lavaan-style syntax where numbers are the population values, e.g.
        ``level: within  y ~ 0.3*x  y ~~ 1*y  level: between  y ~ 0.8*x
        x ~~ 0.1*x``. Every variable named in both blocks gets a within and
        a between part; a variable named only in ``level: between`` is
        constant within clusters; one named only in ``level: within`` has no
        cluster component. A model without level blocks gives independent
        rows (still with a cluster column).
    n_clusters : int
        Number of clusters J.
    cluster_size : int or (int, int)
        Rows per cluster, or an inclusive ``(min, max)`` range from which each
        cluster's size is drawn uniformly.
    seed : int or numpy.random.Generator, optional
        Seed for :func:`numpy.random.default_rng`; the same seed gives the
        same data.
    cluster : str, default "cluster"
        Name of the cluster id column (ids ``1..J``).

    Returns
    -------
    pandas.DataFrame
        One row per level-1 unit: the observed variables of the model, then
        the cluster column.

    Notes
    -----
    Parameters the syntax does not fix to a value take these values:
    (residual) variances of observed and latent variables 1, at each level
    where the variable appears (so a variable named in both blocks without
    a between variance has an ICC near .5 -- give ``x ~~ 0.1*x`` in the
    between block for a realistic one); factor loadings 1; regression paths,
    covariances (including those among covariates), intercepts and means 0.
    Labels are allowed and ignored; ``:=`` and constraints play no role.
    Random slopes are not simulated.

    Examples
    --------
    >>> model = '''
    ... level: within
    ...   y ~ 0.2*x
    ... level: between
    ...   y ~ 0.8*x
    ...   x ~~ 0.1*x
    ...   y ~~ 0.2*y
    ... '''
    >>> df = simulate(model, n_clusters=100, cluster_size=5, seed=1)
    >>> df.shape
    (500, 3)
    """
    rng = np.random.default_rng(seed)
    sizes = cluster_sizes(rng, n_clusters, cluster_size)
    return draw_data(rng, population_moments(model), sizes, cluster)
