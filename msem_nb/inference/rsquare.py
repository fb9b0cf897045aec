"""R-square of the endogenous variables per level, as ``lavInspect(fit, "r2")``.

For a variable with residual variance ``theta`` (the diagonal of the RAM
``S``) and model-implied variance ``sigma^2`` in its block,

    R^2 = 1 - theta / sigma^2.

Endogenous are the indicators of a latent variable and the outcomes of
regressions in that block (observed first, then latent, in block order).
Outcomes with a random slope and the slopes themselves get NaN: their
variance changes with the covariate, so one R^2 does not describe them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["r_squared"]


def r_squared(pt, spec, block_moments) -> pd.DataFrame:
    """R^2 of every endogenous variable of every block.

    Parameters
    ----------
    pt : ParTable
    spec : ModelSpec
    block_moments : list of BlockMoments
        The implied moments at the estimates.

    Returns
    -------
    pandas.DataFrame
        Columns level, variable, r2 (one row per endogenous variable and block);
        with several groups also group (the group's number).
    """
    slopes = pt.slopes
    random = set(slopes) | {y for y, _ in slopes.values()}
    rows = []
    for b, (bs, bm) in enumerate(zip(spec.blocks, block_moments)):
        recs = [r for r in pt.records if r["block"] == b]
        endo = {r["rhs"] for r in recs if r["op"] == "=~"} | \
            {r["lhs"] for r in recs if r["op"] in ("~", "|~")}
        total = np.diag(bm.cov_all)
        resid = np.diag(bm.S)
        for i, v in enumerate(bs.names):
            if v not in endo:
                continue
            with np.errstate(divide="ignore", invalid="ignore"):
                r2 = float(1.0 - resid[i] / total[i]) if v not in random else float("nan")
            rows.append((bs.key.name, v, r2 if np.isfinite(r2) else float("nan"), bs.key.group))
    out = pd.DataFrame(rows, columns=["level", "variable", "r2", "group"])
    # several groups: the group number (1-based) says whose R-square it is
    return out if len(spec.groups) > 1 else out.drop(columns="group")
