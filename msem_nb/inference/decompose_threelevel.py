"""Variance decomposition at three levels (rows in classes in schools).

:func:`decompose_threelevel` (``ms.decompose(df, cluster=["class", "school"])``)
fits the saturated three-level model (:mod:`msem_nb.estimation.saturated_threelevel`)
to every variable and splits its variance into

    sigma_1^2 (rows within classes) + sigma_2^2 (classes within schools) + sigma_3^2 (schools)

Shares: ``icc2 = sigma_2^2 / total`` and ``icc3 = sigma_3^2 / total``. Two rows of
one class correlate ``icc = icc2 + icc3``, two rows of one school in different
classes ``icc3``; the design effect of a mean over a sample with ``nbar`` rows per
class and ``mbar`` classes per school is

    deff = 1 + (nbar - 1) (icc2 + icc3) + nbar (mbar - 1) icc3

A variable constant within schools has only a level-3 part, one constant within
classes (but not schools) parts at levels 2 and 3, every other variable parts at
all three levels. ML variances at or below zero (the boundary) are set to zero,
with a note. The suggested roles name the levels with a share of at least 1%.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from msem_nb.data.threelevel import threelevel_data
from msem_nb.errors import DataError, DataWarning
from msem_nb.estimation.saturated_threelevel import fit_saturated_threelevel
from msem_nb.format import num
from msem_nb.inference.decompose_input import classify, resolve_variables
from msem_nb.messages import notify

__all__ = ["ThreeLevelDecomposition", "decompose_threelevel"]

# A level's share below this is read as no variance at that level (suggested roles).
_LOW = 0.01
LEVEL_LABELS = ("level 1 (rows)", "level 2 (classes)", "level 3 (schools)")


def _corr(cov: pd.DataFrame) -> pd.DataFrame:
    c = cov.to_numpy()
    sd = np.sqrt(np.clip(np.diag(c), 0.0, None))
    sd[sd <= 0] = np.nan
    r = c / np.outer(sd, sd)
    ok = np.isfinite(sd)
    r[ok, ok] = 1.0
    return pd.DataFrame(r, index=cov.index, columns=cov.columns)


@dataclass(frozen=True, eq=False)
class ThreeLevelDecomposition:
    """Level-1 / level-2 / level-3 decomposition of the variables of nested data.

    Built by :func:`decompose_threelevel`. Vectors are :class:`pandas.Series`,
    matrices :class:`pandas.DataFrame`, labelled by variable in input order.

    Attributes
    ----------
    names : tuple
    cluster : (str, str)
        The class and the school column.
    shares : pandas.DataFrame
        Per variable the share of its variance at ``level1``, ``level2`` and
        ``level3`` (rows sum to 1).
    icc2, icc3, icc, design_effect : pandas.Series
        Level-2 and level-3 shares, their sum (the correlation of two rows of
        one class) and the design effect (module docstring).
    sigma_1, sigma_2, sigma_3 : pandas.DataFrame
        ML covariance matrices of the saturated three-level model (zero rows
        for a level at which a variable has no part).
    cluster_sizes : dict
        ``N``, ``J`` (classes), ``K`` (schools), ``rows_per_class`` and
        ``classes_per_school`` (each min, median, mean, max).
    missingness, roles, notes : as :class:`msem_nb.inference.decompose.Decomposition`
    """

    names: tuple
    cluster: tuple
    shares: pd.DataFrame
    icc2: pd.Series
    icc3: pd.Series
    icc: pd.Series
    design_effect: pd.Series
    sigma_1: pd.DataFrame
    sigma_2: pd.DataFrame
    sigma_3: pd.DataFrame
    cluster_sizes: dict
    missingness: pd.DataFrame
    roles: pd.DataFrame
    notes: list

    nlevels = 3

    @cached_property
    def level1_corr(self) -> pd.DataFrame:
        """Correlations within classes (level 1)."""
        return _corr(self.sigma_1)

    @cached_property
    def level2_corr(self) -> pd.DataFrame:
        """Correlations of the class parts (level 2)."""
        return _corr(self.sigma_2)

    @cached_property
    def level3_corr(self) -> pd.DataFrame:
        """Correlations of the school parts (level 3)."""
        return _corr(self.sigma_3)

    @cached_property
    def total_corr(self) -> pd.DataFrame:
        """Correlations of ``sigma_1 + sigma_2 + sigma_3``."""
        return _corr(self.sigma_1 + self.sigma_2 + self.sigma_3)

    def correlations(self) -> dict[str, pd.DataFrame]:
        """The three level correlation matrices by level label, lowest first."""
        return dict(zip(LEVEL_LABELS, (self.level1_corr, self.level2_corr, self.level3_corr)))

    def table(self) -> pd.DataFrame:
        """One row per variable: the three shares, ICCs, design effect, role, reason."""
        out = self.shares.copy()
        out["icc"] = self.icc
        out["design_effect"] = self.design_effect
        roles = self.roles.set_index("variable")
        out["role"] = roles["role"]
        out["reason"] = roles["reason"]
        return out

    def _size_line(self) -> str:
        s = self.cluster_sizes
        r, c = s["rows_per_class"], s["classes_per_school"]
        return (f"N = {s['N']} rows in J = {s['J']} classes in K = {s['K']} schools "
                f"({r['min']} to {r['max']} rows per class, mean {r['mean']:.1f}; "
                f"{c['min']} to {c['max']} classes per school, mean {c['mean']:.1f})")

    def summary(self) -> str:
        """A plain-text report of the decomposition."""
        t = self.table()
        width = max([8] + [len(str(v)) for v in t.index])
        lines = [f"Variance decomposition by class '{self.cluster[0]}' in school "
                 f"'{self.cluster[1]}'", self._size_line(), "",
                 f"{'variable':<{width}}  {'level 1':>7}  {'level 2':>7}  {'level 3':>7}  "
                 f"{'deff':>6}  role"]
        for v, row in t.iterrows():
            lines.append(f"{str(v):<{width}}  {num(row.level1, '7.3f'):>7}  "
                         f"{num(row.level2, '7.3f'):>7}  {num(row.level3, '7.3f'):>7}  "
                         f"{num(row.design_effect, '6.2f'):>6}  {row.role} ({row.reason})")
        if self.notes:
            lines += ["", "Notes:"] + [f"  - {n}" for n in self.notes]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        esc = html.escape
        head = "".join(f"<th>{h}</th>" for h in ("variable", "level 1", "level 2", "level 3",
                                                 "design effect", "suggested role"))
        rows = []
        for v, row in self.table().iterrows():
            cells = [esc(str(v)), num(row.level1, ".3f"), num(row.level2, ".3f"),
                     num(row.level3, ".3f"), num(row.design_effect, ".2f"),
                     esc(f"{row.role} ({row.reason})")]
            rows.append("<tr>" + "".join(
                f"<td style='text-align:{'left' if k in (0, 5) else 'right'}'>{c}</td>"
                for k, c in enumerate(cells)) + "</tr>")
        notes = ""
        if self.notes:
            notes = "<ul>" + "".join(f"<li>{esc(n)}</li>" for n in self.notes) + "</ul>"
        return ("<div class='msem-decomposition'>"
                f"<p><b>Variance decomposition</b> by class '{esc(str(self.cluster[0]))}' in "
                f"school '{esc(str(self.cluster[1]))}': {esc(self._size_line())}</p>"
                f"<p>Shares of each variable's variance at each level:</p>"
                f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
                f"{notes}</div>")


def _stats(x: np.ndarray) -> dict:
    return {"min": int(x.min()), "median": float(np.median(x)), "mean": float(x.mean()),
            "max": int(x.max())}


def _role(share: np.ndarray, kind: str) -> tuple[str, str]:
    levels = [k + 1 for k in range(3) if share[k] >= _LOW]
    text = {(1,): "level 1 only", (2,): "level 2 only", (3,): "level 3 only",
            (1, 2): "levels 1 and 2", (1, 3): "levels 1 and 3", (2, 3): "levels 2 and 3",
            (1, 2, 3): "all three levels", (): "none"}[tuple(levels)]
    shares = ", ".join(f"{num(s, '.2f')}" for s in share)
    if kind == "school":
        return text, "constant within schools: a school-level variable"
    if kind == "class":
        return text, f"constant within classes; shares at levels 1, 2, 3: {shares}"
    return text, f"shares at levels 1, 2, 3: {shares}"


def decompose_threelevel(data: pd.DataFrame, cluster: tuple, variables=None,
                         missing: str = "listwise") -> ThreeLevelDecomposition:
    """Split each variable's variance into level-1, level-2 and level-3 parts.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per level-1 unit.
    cluster : (str, str)
        The class column and the school column, lowest level first.
    variables : sequence of str, optional
        Columns to decompose; default all numeric columns except the cluster
        columns (as :func:`msem_nb.inference.decompose.decompose`).
    missing : {"listwise"}

    Returns
    -------
    ThreeLevelDecomposition

    Raises
    ------
    DataError
        As :func:`msem_nb.inference.decompose.decompose`, and a class found in
        two schools (named).
    """
    col_c, col_s = cluster
    names, converted, notes = resolve_variables(data, (col_c, col_s), variables)
    if missing != "listwise":
        raise DataError(f"missing='{missing}' is not available for decompose; "
                        "use missing='listwise'")
    frame = data[list(names)].copy()
    for v, values in converted.items():
        frame[v] = values.to_numpy()
    frame = frame.astype(float)
    for col in (col_c, col_s):
        if data[col].isna().any():
            raise DataError(f"cluster column '{col}' has missing ids; drop those rows or give "
                            "them ids")
    isna = frame.isna().to_numpy()
    n_input = len(frame)
    n_missing = isna.sum(axis=0)
    keep = ~isna.any(axis=1)
    if not keep.all():
        n_dropped = int(n_input - keep.sum())
        notify(f"{n_dropped} of {n_input} rows have missing values and were dropped "
               "(missing='listwise')", DataWarning, stacklevel=3)
        notes.append(f"{n_dropped} of {n_input} rows had missing values and were left out")
        frame = frame[keep]
    if len(frame) == 0:
        raise DataError("no rows left after removing rows with missing values")
    cids = data[col_c].to_numpy()[keep]
    sids = data[col_s].to_numpy()[keep]
    constant, by_class, near_c, _, _ = classify(frame, cids)
    _, by_school, near_s, _, _ = classify(frame, sids)
    for k in np.flatnonzero(near_s & ~by_school):
        frame[names[k]] = frame.groupby(sids, sort=False)[names[k]].transform("mean")
    by_school |= near_s
    for k in np.flatnonzero(near_c & ~by_class & ~by_school):
        frame[names[k]] = frame.groupby(cids, sort=False)[names[k]].transform("mean")
    by_class |= near_c
    kind = np.where(by_school, "school", np.where(by_class, "class", "row"))
    use = [v for k, v in enumerate(names) if not constant[k]]
    if not use:
        raise DataError("every variable is constant: there is no variance to decompose")
    l1 = [v for v in use if kind[names.index(v)] == "row"]
    l2 = [v for v in use if kind[names.index(v)] != "school"]
    frame[col_c], frame[col_s] = cids, sids
    d = threelevel_data(frame, (l1, l2, use), (col_c, col_s))
    sat = fit_saturated_threelevel(d)
    if not sat.converged:
        notes.append("the ML fit of the saturated model did not fully converge; treat the "
                     "shares with care")

    p = len(names)
    pos = [names.index(v) for v in d.names]
    s1, s2, s3 = (np.zeros((p, p)) for _ in range(3))
    s1[np.ix_(pos[:d.p1], pos[:d.p1])] = sat.sigma_w
    s2[np.ix_(pos, pos)] = sat.level_cov(2)
    s3[np.ix_(pos, pos)] = sat.level_cov(3)
    for S, level in ((s2, 2), (s3, 3)):
        low = np.flatnonzero((np.diag(S) <= 0) & np.isin(np.arange(p), pos))
        low = [k for k in low if (level == 3 or kind[k] != "school")]
        for k in low:
            if np.diag(S)[k] < 0:
                notes.append(f"'{names[k]}': the ML level-{level} variance is negative "
                             f"({S[k, k]:.3g}); read as 0")
            S[k, :] = 0.0
            S[:, k] = 0.0
    var = np.stack([np.diag(s1), np.diag(s2), np.diag(s3)], axis=1)
    total = var.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(total[:, None] > 0, var / total[:, None], np.nan)
    J, K, N = d.nclasses, d.nschools, d.nobs
    nbar, mbar = N / J, J / K
    icc2, icc3 = share[:, 1], share[:, 2]
    deff = 1.0 + (nbar - 1.0) * (icc2 + icc3) + nbar * (mbar - 1.0) * icc3
    roles = []
    for k, v in enumerate(names):
        if constant[k]:
            roles.append((v, "none", "constant: no variance"))
            notes.append(f"'{v}' is constant: it has no variance at any level")
        else:
            roles.append((v, *_role(share[k], str(kind[k]))))
    idx = pd.Index(names)

    def mat(m: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame(m, index=idx, columns=idx)

    return ThreeLevelDecomposition(
        names=names, cluster=(col_c, col_s),
        shares=pd.DataFrame(share, index=idx, columns=["level1", "level2", "level3"]),
        icc2=pd.Series(icc2, index=idx, name="icc2"),
        icc3=pd.Series(icc3, index=idx, name="icc3"),
        icc=pd.Series(icc2 + icc3, index=idx, name="icc"),
        design_effect=pd.Series(deff, index=idx, name="design_effect"),
        sigma_1=mat(s1), sigma_2=mat(s2), sigma_3=mat(s3),
        cluster_sizes={"N": N, "J": J, "K": K, "rows_per_class": _stats(d.class_sizes),
                       "classes_per_school": _stats(d.school_nclasses)},
        missingness=pd.DataFrame({"n_missing": n_missing,
                                  "share_missing": n_missing / max(n_input, 1)}, index=idx),
        roles=pd.DataFrame(roles, columns=["variable", "role", "reason"]),
        notes=notes)
