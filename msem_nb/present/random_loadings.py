"""How random loadings are shown: where their average and variance are.

A random loading ``f =~ y1 + rv("l2")*y2`` is the random slope ``l2 | y2 ~ f``
(:mod:`msem_nb.model.slope_rules`): in ``fit.estimates`` its declaration is the
``y2 |~ f`` row (no estimate of its own), the average loading is the mean of
``l2`` (the ``l2 ~1`` row at the between level) and its variance ``l2 ~~ l2``.
Summaries show the average where loadings are looked for as well: a row
``y2 [random l2]`` among ``f``'s loadings (a copy of the ``l2 ~1`` row, so
estimate, standard error, test and interval are the mean's; no Std.all, as for
random slopes), and a sentence saying where the mean and variance are.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["with_average_loadings", "loading_notes", "loading_label", "random_loadings_of"]


def random_loadings_of(fit) -> dict[str, tuple[str, str]]:
    """Random loadings of a fit: name -> (factor, indicator); empty without them."""
    pt = fit.partable
    return dict(getattr(pt, "random_loadings", {}) or {})


def loading_label(indicator: str, name: str) -> str:
    """What a random loading's average row is called among the loadings."""
    return f"{indicator} [random {name}]"


def _mean_row(est: pd.DataFrame, name: str) -> pd.Series | None:
    rows = est[(est["lhs"] == name) & (est["op"] == "~1")]
    return None if not len(rows) else rows.iloc[0]


def with_average_loadings(fit, est: pd.DataFrame, level: str) -> pd.DataFrame:
    """`est` with, after the loadings of each factor of `level` that has random
    loadings, one row per random loading holding its average (the mean of its
    latent variable). The added rows have negative index labels, so that they are
    never taken for rows of ``fit.estimates`` (flags, improper solutions)."""
    loads = random_loadings_of(fit)
    if not loads:
        return est
    rows = est[est["level"] == level]
    factors = set(rows.loc[rows["op"] == "=~", "lhs"])
    extra: dict[str, list[pd.Series]] = {}
    k = -1
    for name, (f, y) in loads.items():
        mean = _mean_row(est, name)
        if f not in factors or mean is None:
            continue
        row = mean.copy()
        row["lhs"], row["op"], row["rhs"], row["level"] = f, "=~", loading_label(y, name), level
        if "std_all" in row:
            row["std_all"] = np.nan
        row.name = k
        k -= 1
        extra.setdefault(f, []).append(row)
    if not extra:
        return est
    pieces = []
    for f, added in extra.items():
        last = rows.index[(rows["op"] == "=~") & (rows["lhs"] == f)][-1]
        pieces.append((est.index.get_loc(last), pd.DataFrame(added)))
    out = est
    # insert from the bottom up so that earlier positions stay valid
    for pos, frame in sorted(pieces, key=lambda t: -int(t[0])):
        out = pd.concat([out.iloc[:pos + 1], frame.astype(out.dtypes.to_dict(), errors="ignore"),
                         out.iloc[pos + 1:]])
    return out


def loading_notes(fit) -> list[str]:
    """One sentence per random loading: what varies, where its mean and variance are."""
    loads = random_loadings_of(fit)
    if not loads:
        return []
    est = fit.estimates
    out = []
    for name, (f, y) in loads.items():
        mean = _mean_row(est, name)
        var = est[(est["lhs"] == name) & (est["op"] == "~~") & (est["rhs"] == name)]
        avg = "" if mean is None else f" = {mean['est']:.3f}"
        v = "" if not len(var) else f" = {var.iloc[0]['est']:.3f}"
        out.append(f"The loading of {y} on {f} varies over clusters (random loading {name}): "
                   f"its average is the mean of {name} ({name} ~1 at the between level{avg}, "
                   f"shown as '{loading_label(y, name)}' among the loadings of {f}), its "
                   f"variance is {name} ~~ {name}{v}.")
    return out
