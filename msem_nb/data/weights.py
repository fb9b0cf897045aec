"""Sampling weights of single-level data, as lavaan's ``sampling.weights``.

With weights ``w_i`` normalised to sum to the number of rows N (lavaan's
``sampling.weights.normalization = "total"``), the pseudo log-likelihood is

    l_w(theta) = sum_i w_i log f(y_i; mu, Sigma)
               = -N/2 [p log 2pi + log|Sigma| + tr(Sigma^-1 (S_w + (m_w - mu)(m_w - mu)'))]

with the weighted mean ``m_w = sum w_i y_i / N`` and covariance
``S_w = sum w_i (y_i - m_w)(y_i - m_w)' / N``: the ordinary normal
likelihood of the weighted sufficient statistics, so every single-level
estimator, saturated model and fit measure applies to
:class:`WeightedSingleData` unchanged. Standard errors are the sandwich of
pseudo-ML: the bread is the observed information of ``l_w``, the meat the
sum of the outer products of the weighted row scores ``w_i d log f_i``
(:mod:`msem_nb.estimation.sandwich`; the scaled test likewise,
:mod:`msem_nb.inference.robust`). All weights equal give the unweighted fit.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from msem_nb.data.complete import SingleData
from msem_nb.data.prepare import prepare_data
from msem_nb.errors import DataError

__all__ = ["WeightedSingleData", "weighted_single_data", "row_weights"]


@dataclass(frozen=True, eq=False)
class WeightedSingleData(SingleData):
    """Single-level data with sampling weights: weighted mean and covariance (divisor N),
    the rows, and each row's weight (summing to ``nobs``)."""

    weights: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)
    weight_column: Hashable = None

    def subset(self, names: Sequence[str]) -> WeightedSingleData:
        """Statistics of a subset of the variables (same rows and weights)."""
        idx = [self.names.index(v) for v in names]
        rows = None if self.rows is None else self.rows[:, idx]
        return WeightedSingleData(tuple(names), self.nobs, self.mean[idx],
                                  self.cov[np.ix_(idx, idx)], self.n_dropped, rows,
                                  self.weights, self.weight_column)


def row_weights(data: object) -> np.ndarray | None:
    """The rows' sampling weights of prepared data, or None for unweighted data."""
    w = getattr(data, "weights", None)
    return w if isinstance(w, np.ndarray) and len(w) else None


def weighted_single_data(df: pd.DataFrame, names: Sequence[str], weights: Hashable,
                         exogenous: Sequence[str] = ()) -> WeightedSingleData:
    """Validate the data and the weight column and compute the weighted statistics.

    Rows with a missing model value are dropped (listwise), as without weights.

    Raises
    ------
    DataError
        A weight column that is missing, not numeric, missing or negative in a
        used row, or zero in every row; and what :func:`prepare_data` refuses.
    """
    if not isinstance(df, pd.DataFrame):
        raise DataError(f"data must be a pandas DataFrame, not {type(df).__name__}")
    if weights not in df.columns:
        cols = ", ".join(map(str, df.columns))
        raise DataError(f"weight column '{weights}' not found in the data; the columns are: "
                        f"{cols}")
    if weights in names:
        raise DataError(f"the weight column '{weights}' is also a model variable")
    w = pd.to_numeric(df[weights], errors="coerce")
    bad = w.isna() & df[weights].notna()
    if bad.any():
        raise DataError(f"weight column '{weights}' is not numeric (e.g. value "
                        f"{df[weights][bad].iloc[0]!r}); convert it with pandas.to_numeric")
    used = [v for v in names if v in df.columns]
    complete = df[used].notna().all(axis=1).to_numpy()
    n_dropped = int((~complete).sum())
    wk = w.to_numpy(dtype=float)[complete]
    if np.isnan(wk).any():
        raise DataError(f"weight column '{weights}' has missing values in rows that are used; "
                        "give every row a weight, or drop those rows")
    if (wk < 0).any() or not np.isfinite(wk).all():
        raise DataError(f"weight column '{weights}' has negative or infinite values; sampling "
                        "weights are positive numbers")
    if wk.sum() <= 0:
        raise DataError(f"weight column '{weights}' is zero in every row")
    plain = prepare_data(df.loc[complete], names, None, missing="listwise",
                         exogenous=exogenous)
    assert isinstance(plain, SingleData) and plain.rows is not None
    n = plain.nobs
    wn = wk * n / wk.sum()          # lavaan's normalisation: the weights sum to N
    rows = plain.rows
    mean = wn @ rows / n
    dev = rows - mean
    cov = (dev * wn[:, None]).T @ dev / n
    return WeightedSingleData(plain.names, n, mean, cov, n_dropped + plain.n_dropped, rows,
                              wn, weights)
