"""Centring covariates before a fit: at the grand mean or at each cluster's mean.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping

import pandas as pd

from msem_nb.data.prepare import check_duplicate_columns
from msem_nb.errors import DataError, ModelSpecificationError


def center_columns(data: pd.DataFrame, center: Mapping[str, str],
                   cluster: Hashable | None) -> tuple[pd.DataFrame, dict[str, str]]:
    """A copy of `data` with the named columns centred; returns (data, record).

    `center` maps a column to ``"grand"`` (minus the column's mean) or
    ``"cluster"`` (minus its mean in each cluster of the `cluster` column);
    the record maps each centred column to how it was centred.
    """
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"data must be a pandas DataFrame, not {type(data).__name__}")
    used: list[Hashable] = [*center, *([cluster] if cluster is not None else [])]
    check_duplicate_columns(data, used)
    out = data.copy()
    record: dict[str, str] = {}
    for col, how in center.items():
        if col not in out.columns:
            raise DataError(f"cannot centre '{col}': not a column; the columns are: "
                            f"{', '.join(map(str, out.columns))}")
        values = pd.to_numeric(out[col], errors="coerce")
        if how == "grand":
            out[col] = values - values.mean()
        elif how == "cluster":
            if cluster is None:
                raise ModelSpecificationError(
                    f"center={{'{col}': 'cluster'}} needs a cluster column; pass cluster='...'")
            out[col] = values - values.groupby(out[cluster]).transform("mean")
        else:
            raise ModelSpecificationError(
                f"center['{col}'] must be 'cluster' or 'grand', not {how!r}")
        record[col] = how
    return out, record
