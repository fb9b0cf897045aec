"""The quantities of Muthen & Muthen (2002) per design and parameter.

For one design with R replications, of which the set U converged with
standard errors ("used"), and a parameter with true value theta:

    mean      = mean of est_r over U
    bias      = mean - theta;  relative bias = bias / theta  (NaN for theta = 0)
    SD        = standard deviation of est_r over U (n - 1 denominator)
    mean SE   = mean of se_r over U;  SE/SD ratio = mean SE / SD
    coverage  = share of r in U whose 95% Wald interval est_r -/+ 1.96 se_r holds theta
    power     = share of r in U with two-sided Wald p-value p_r < alpha
    converged = |U| / R;  improper = share of the R replications with an
                improper solution (negative variance, correlation beyond 1, ...)

A p-value or interval that is NaN in a used replication (a parameter whose
SE is zero) counts as not rejected / not covering. The true value is NaN
when the population has no such parameter (then bias, relative bias and
coverage are NaN). ``failed`` counts replications that raised; they are in
R but never in U.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from msem_nb.planning.grid import Design, param_name, size_label
from msem_nb.planning.study import FAILED, NOT_CONVERGED, OK, ChunkResult

__all__ = ["summarize", "combine", "TABLE_COLUMNS"]

TABLE_COLUMNS = ["design", "n_clusters", "cluster_size", "n_units", "parameter", "lhs", "op",
                 "rhs", "level", "true", "mean_est", "bias", "rel_bias", "sd_est", "mean_se",
                 "se_sd_ratio", "coverage", "power", "converged", "improper", "reps", "used",
                 "not_converged", "failed"]


def combine(chunks: Sequence[ChunkResult]) -> dict[str, np.ndarray]:
    """The arrays of a design's chunks, in replication order."""
    chunks = sorted(chunks, key=lambda c: c.start)
    out = {k: np.concatenate([c.arrays()[k] for c in chunks]) for k in chunks[0].arrays()}
    return out


def _share(mask: np.ndarray) -> float:
    return float(mask.mean()) if len(mask) else np.nan


def summarize(designs: Sequence[Design], results: dict[int, dict[str, np.ndarray]],
              rows: Sequence[dict], report_rows: Sequence[int],
              truths: Sequence[np.ndarray], alpha: float,
              vary_names: Sequence[str]) -> pd.DataFrame:
    """The tidy table: one row per design and reported parameter (module docstring)."""
    out = []
    for d in designs:
        arr = results[d.index]
        status, improper = arr["status"], arr["improper"]
        used = status == OK
        n_used = int(used.sum())
        base = {"design": d.index + 1, "n_clusters": d.n_clusters,
                "cluster_size": size_label(d.cluster_size), "n_units": d.n_units}
        base.update({name: value for name, value in d.values})
        common = {"converged": _share(used), "improper": _share(improper),
                  "reps": len(status), "used": n_used,
                  "not_converged": int((status == NOT_CONVERGED).sum()),
                  "failed": int((status == FAILED).sum())}
        truth = truths[d.scenario]
        for j in report_rows:
            r = rows[j]
            t = float(truth[j])
            est = arr["est"][used, j]
            se = arr["se"][used, j]
            with np.errstate(invalid="ignore", divide="ignore"):
                mean = float(est.mean()) if n_used else np.nan
                sd = float(est.std(ddof=1)) if n_used > 1 else np.nan
                mean_se = float(np.nanmean(se)) if n_used and np.isfinite(se).any() else np.nan
                bias = mean - t
                rel = bias / t if np.isfinite(t) and t != 0 else np.nan
                covered = (arr["lower"][used, j] <= t) & (t <= arr["upper"][used, j])
                coverage = _share(covered) if np.isfinite(t) else np.nan
                power = _share(arr["pvalue"][used, j] < alpha)
                ratio = mean_se / sd if sd > 0 else np.nan
            out.append({**base,
                        "parameter": param_name(r["lhs"], r["op"], r["rhs"], r["level"]),
                        "lhs": r["lhs"], "op": r["op"], "rhs": r["rhs"], "level": r["level"],
                        "true": t, "mean_est": mean, "bias": bias, "rel_bias": rel,
                        "sd_est": sd, "mean_se": mean_se, "se_sd_ratio": ratio,
                        "coverage": coverage, "power": power, **common})
    cols = TABLE_COLUMNS[:4] + list(vary_names) + TABLE_COLUMNS[4:]
    return pd.DataFrame(out, columns=cols)
