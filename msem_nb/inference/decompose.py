"""Variance decomposition of clustered data: the first look before a two-level SEM.

:func:`decompose` splits every variable's variance into a within-cluster and
a between-cluster part (ML estimates of the saturated two-level model, plus
the classical ANOVA moments), reports ICCs and design effects, splits the
total correlations into within and between parts and suggests at which
level each variable belongs.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from msem_nb.data.prepare import prepare_data
from msem_nb.errors import DataError, DataWarning
from msem_nb.estimation.saturated import fit_saturated
from msem_nb.format import num
from msem_nb.inference.decompose_input import classify, resolve_variables
from msem_nb.inference.decompose_threelevel import ThreeLevelDecomposition, decompose_threelevel
from msem_nb.messages import notify

__all__ = ["Decomposition", "decompose"]

# A level's share of a variable's variance below this is treated as zero: at
# the boundary the Cholesky-parametrised ML fit stops at tiny positive values.
_ZERO_SHARE = 1e-6
# 1 - R^2 of a variable on the preceding ones below this: collinear.
_COLLINEAR = 1e-10
# Thresholds of the suggested roles.
_ICC_LOW, _ICC_HIGH = 0.01, 0.99



def _fmt_icc(x: float) -> str:
    return num(x, ".2f").replace("0.", ".", 1)


def _corr(cov: pd.DataFrame) -> pd.DataFrame:
    """Correlations of a covariance matrix; NaN rows for zero variances."""
    c = cov.to_numpy()
    sd = np.sqrt(np.clip(np.diag(c), 0.0, None))
    sd[sd <= 0] = np.nan
    r = c / np.outer(sd, sd)
    ok = np.isfinite(sd)
    r[ok, ok] = 1.0
    return pd.DataFrame(r, index=cov.index, columns=cov.columns)


@dataclass(frozen=True, eq=False)
class Decomposition:
    """Within/between decomposition of the variables of a clustered data set.

    Built by :func:`decompose`. Vectors are :class:`pandas.Series` and
    matrices :class:`pandas.DataFrame`, labelled by variable in input order.

    Attributes
    ----------
    names : tuple
        The variables.
    cluster : str
        The cluster column.
    icc, icc_anova, design_effect : pandas.Series
        ML ICC, ANOVA ICC(1) and design effect 1 + (N/J - 1) ICC.
    pooled_within_cov, between_cov : pandas.DataFrame
        Moment estimates S_PW (divisor N - J) and Muthen's S_B (divisor J - 1).
    sigma_within, sigma_between : pandas.DataFrame
        ML covariance matrices of the saturated two-level model; zero rows
        for a level at which a variable does not vary.
    cluster_sizes : dict
        ``J``, ``N`` and the ``min``, ``median``, ``mean``, ``max`` size.
    missingness : pandas.DataFrame
        ``n_missing`` and ``share_missing`` per variable, in the input rows.
    roles : pandas.DataFrame
        ``variable``, suggested ``role`` (within-only, between-only, both,
        none) and ``reason``.
    notes : list of str
        Things worth knowing before modelling.
    """

    names: tuple
    cluster: object
    icc: pd.Series
    icc_anova: pd.Series
    design_effect: pd.Series
    pooled_within_cov: pd.DataFrame
    between_cov: pd.DataFrame
    sigma_within: pd.DataFrame
    sigma_between: pd.DataFrame
    cluster_sizes: dict
    missingness: pd.DataFrame
    roles: pd.DataFrame
    notes: list

    @cached_property
    def within_corr(self) -> pd.DataFrame:
        """Correlations of the ML within covariance matrix."""
        return _corr(self.sigma_within)

    @cached_property
    def between_corr(self) -> pd.DataFrame:
        """Correlations of the ML between covariance matrix."""
        return _corr(self.sigma_between)

    @cached_property
    def total_corr(self) -> pd.DataFrame:
        """Correlations of ``sigma_within + sigma_between``."""
        return _corr(self.sigma_within + self.sigma_between)

    def _scaled(self, cov: pd.DataFrame) -> pd.DataFrame:
        # cov_ij / (sd_Ti sd_Tj) equals eta_i eta_j r_B (or the within
        # analogue) but stays 0, not NaN, when one level has no variance.
        total = np.diag(self.sigma_within.to_numpy() + self.sigma_between.to_numpy())
        sd = np.sqrt(total)
        sd[sd <= 0] = np.nan
        return cov / np.outer(sd, sd)

    @cached_property
    def scaled_within_corr(self) -> pd.DataFrame:
        """Within part of the total correlation: sqrt(1-eta_i^2) sqrt(1-eta_j^2) r_W."""
        return self._scaled(self.sigma_within)

    @cached_property
    def scaled_between_corr(self) -> pd.DataFrame:
        """Between part of the total correlation: eta_i eta_j r_B (eta^2 = ICC)."""
        return self._scaled(self.sigma_between)

    def table(self) -> pd.DataFrame:
        """One row per variable: ICC, ICC(1), design effect, role and reason."""
        out = pd.DataFrame({"icc": self.icc, "icc_anova": self.icc_anova,
                            "design_effect": self.design_effect})
        roles = self.roles.set_index("variable")
        out["role"] = roles["role"]
        out["reason"] = roles["reason"]
        return out

    def _size_line(self) -> str:
        s = self.cluster_sizes
        return (f"N = {s['N']} rows in J = {s['J']} clusters (cluster size {s['min']}"
                f" to {s['max']}, median {s['median']:g}, mean {s['mean']:.1f})")

    def summary(self) -> str:
        """A plain-text report of the decomposition."""
        t = self.table()
        width = max([8] + [len(str(v)) for v in t.index])
        lines = ["Variance decomposition by cluster '" + str(self.cluster) + "'",
                 self._size_line(), "",
                 f"{'variable':<{width}}  {'ICC':>6}  {'ICC(1)':>6}  {'deff':>6}  role"]
        for v, row in t.iterrows():
            lines.append(f"{str(v):<{width}}  {num(row.icc, '6.3f'):>6}  "
                         f"{num(row.icc_anova, '6.3f'):>6}  {num(row.design_effect, '6.2f'):>6}"
                         f"  {row.role} ({row.reason})")
        if self.notes:
            lines += ["", "Notes:"] + [f"  - {n}" for n in self.notes]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        esc = html.escape
        head = "".join(f"<th>{h}</th>" for h in
                       ("variable", "ICC", "ICC(1)", "design effect", "suggested role"))
        rows = []
        for v, row in self.table().iterrows():
            cells = [esc(str(v)), num(row.icc, ".3f"), num(row.icc_anova, ".3f"),
                     num(row.design_effect, ".2f"), esc(f"{row.role} ({row.reason})")]
            rows.append("<tr>" + "".join(
                f"<td style='text-align:{'left' if k in (0, 4) else 'right'}'>{c}</td>"
                for k, c in enumerate(cells)) + "</tr>")
        notes = ""
        if self.notes:
            notes = "<ul>" + "".join(f"<li>{esc(n)}</li>" for n in self.notes) + "</ul>"
        return ("<div class='msem-decomposition'>"
                f"<p><b>Variance decomposition</b> by cluster '{esc(str(self.cluster))}': "
                f"{esc(self._size_line())}</p>"
                f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
                f"{notes}</div>")


def _check_independent(cov: np.ndarray, names: tuple, idx: list, where: str) -> None:
    """Raise DataError naming a variable that is a linear combination of earlier ones."""
    sd = np.sqrt(np.diag(cov)[idx])
    r = cov[np.ix_(idx, idx)] / np.outer(sd, sd)
    # The squared Cholesky diagonal is 1 - R^2 of each variable on all the
    # preceding ones: when none is below the bound, no variable is dropped
    # below either (one O(p^3) factorisation instead of p solves).
    try:
        if len(idx) == 0 or np.diag(np.linalg.cholesky(r)).min() ** 2 >= _COLLINEAR:
            return
    except np.linalg.LinAlgError:
        pass
    kept: list[int] = []
    for k in range(len(idx)):
        coef = np.linalg.solve(r[np.ix_(kept, kept)], r[kept, k]) if kept else np.zeros(0)
        if 1.0 - r[kept, k] @ coef >= _COLLINEAR:
            kept.append(k)
            continue
        big = np.abs(coef) > 1e-8 * np.abs(coef).max()
        others = ", ".join(f"'{names[idx[kept[i]]]}'" for i in np.flatnonzero(big))
        raise DataError(f"variable '{names[idx[k]]}' is (almost) a linear function of {others} "
                        f"{where}: the decomposition needs variables that are not collinear; "
                        f"leave '{names[idx[k]]}' out")


def _roles(names, constant, between, near, wshare, icc, icc1, zero_b, notes) -> list:
    """Suggested level of every variable; appends what deserves a note to `notes`."""
    roles = []
    for k, v in enumerate(names):
        if constant[k]:
            roles.append((v, "none", "constant: no variance"))
            notes.append(f"'{v}' is constant: it has no variance at either level")
        elif between[k]:
            roles.append((v, "between-only", "constant within clusters"))
            if near[k]:
                notes.append(f"'{v}': within-cluster variation is negligible ({wshare[k]:.1e} "
                             "of the total); its cluster means were used as a cluster-level "
                             "variable")
            else:
                notes.append(f"'{v}': no within variance: a cluster-level variable")
        elif icc[k] < _ICC_LOW:
            roles.append((v, "within-only", "ICC < .01: almost no between variance"))
        elif icc[k] > _ICC_HIGH:
            roles.append((v, "between-only", "ICC > .99: almost no within variance"))
        else:
            roles.append((v, "both", f"ICC {_fmt_icc(icc[k])}: variance at both levels"))
        if zero_b[k]:
            notes.append(f"'{v}': no between-cluster variance (ML estimate at 0), ICC set to 0")
        if np.isfinite(icc1[k]) and icc1[k] < 0:
            notes.append(f"'{v}': ICC(1) is negative ({icc1[k]:.3f}): clusters differ less "
                         "than expected by chance; read it as 0")
    return roles


def decompose(data: pd.DataFrame, cluster, variables=None,
              missing: str = "listwise") -> Decomposition | ThreeLevelDecomposition:
    """Split each variable's variance into within- and between-cluster parts.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per level-1 unit.
    cluster : str or list of two str
        Column with the cluster ids; a list of two columns (class, school,
        lowest level first) gives the three-level decomposition
        (:func:`msem_nb.inference.decompose_threelevel.decompose_threelevel`:
        shares at levels 1, 2 and 3, three correlation matrices, design
        effects and roles).
    variables : sequence of str, optional
        Columns to decompose; default all numeric columns except `cluster`.
        No column is left out silently: a column holding numbers stored as
        text (every entry a number or missing) is converted with
        ``pandas.to_numeric``, with a note and a DataWarning; by default,
        columns with duplicated names and columns mixing numbers with other
        text are left out with a note and a DataWarning, other text columns
        with a note.
    missing : {"listwise"}
        Rows with a missing value on any of the variables are left out.

    Returns
    -------
    Decomposition
        With ``icc`` (ML: Sigma_B / (Sigma_B + Sigma_W) of the saturated
        two-level model), ``icc_anova`` (one-way ANOVA ICC(1) with
        n0 = (N - sum n_j^2 / N) / (J - 1)), ``design_effect``
        (1 + (N/J - 1) ICC), the moment matrices ``pooled_within_cov``
        (divisor N - J) and ``between_cov`` (Muthen's S_B, divisor J - 1),
        the ML ``sigma_within`` / ``sigma_between`` with their correlations,
        the scaled (Cronbach/Harnqvist) within and between parts of
        ``total_corr``, cluster sizes, missingness, suggested roles and notes.

    Raises
    ------
    DataError
        Unknown or non-numeric columns, listed variables or the cluster
        column with duplicated names, infinite values, missing cluster ids,
        fewer than two clusters or no within-cluster replication.

    Notes
    -----
    A variable constant within every cluster has no within part (ICC 1); a
    variable whose ML between variance is at the boundary gets ICC 0. A
    variable constant over the whole sample has no decomposition (NaN).
    """
    if isinstance(cluster, (list, tuple)):
        if len(cluster) == 2:
            return decompose_threelevel(data, tuple(cluster), variables, missing)
        if len(cluster) != 1:
            raise DataError(f"cluster lists {len(cluster)} columns; give one cluster column, "
                            "or two (class, school) for a three-level decomposition")
        cluster = cluster[0]
    names, converted, notes = resolve_variables(data, cluster, variables)
    if missing != "listwise":
        raise DataError(f"missing='{missing}' is not available for decompose; "
                        "use missing='listwise'")
    frame = data[list(names)].copy()
    for v, values in converted.items():
        frame[v] = values.to_numpy()
    frame = frame.astype(float)
    ids = data[cluster]
    if ids.isna().any():
        rows = np.flatnonzero(ids.isna().to_numpy())
        raise DataError(f"cluster column '{cluster}' has {len(rows)} missing ids (rows "
                        f"{', '.join(map(str, rows[:5]))}{', ...' if len(rows) > 5 else ''}); "
                        "drop those rows or give them ids")
    isna = frame.isna().to_numpy()
    n_input = len(frame)
    n_missing = isna.sum(axis=0)
    keep = ~isna.any(axis=1)
    n_dropped = int(n_input - keep.sum())
    if n_dropped:
        notify(f"{n_dropped} of {n_input} rows have missing values and were dropped "
                      "(missing='listwise')", DataWarning, stacklevel=2)
        notes.append(f"{n_dropped} of {n_input} rows had missing values and were left out")
        frame = frame[keep]
    ids = ids.to_numpy()[keep] if n_dropped else ids.to_numpy()
    if len(frame) == 0:
        raise DataError("no rows left after removing rows with missing values")
    inf = np.isinf(frame.to_numpy()).any(axis=0)
    if inf.any():
        raise DataError(f"column '{names[int(np.flatnonzero(inf)[0])]}' has infinite values; "
                        "replace them with NaN to treat them as missing, or with finite numbers")

    constant, between, near, wshare, J = classify(frame, ids)
    N = len(frame)
    if J < 2:
        raise DataError(f"cluster column '{cluster}' has a single cluster: "
                        "a decomposition needs at least two clusters")
    if N <= J:
        raise DataError("every cluster has a single row: there is no within-cluster "
                        "variation to separate from the between-cluster variation")
    for k in np.flatnonzero(near):
        # prepare_data needs exact constancy for between-only variables.
        frame[names[k]] = frame.groupby(ids, sort=False)[names[k]].transform("mean")
    between |= near
    within = tuple(v for k, v in enumerate(names) if not (constant[k] or between[k]))
    between_only = tuple(v for k, v in enumerate(names) if between[k])
    if not within and not between_only:
        raise DataError("every variable is constant: there is no variance to decompose")
    # frame is a private copy, so the cluster ids can be attached in place.
    frame[cluster] = ids
    cd = prepare_data(frame, within, cluster, between_only=between_only, both=within)

    p = len(names)
    pos = {v: k for k, v in enumerate(names)}
    wpos = [pos[v] for v in cd.within]
    dpos = [pos[v] for v in cd.names]
    sw, sb, s_pw, s_b = (np.zeros((p, p)) for _ in range(4))
    s_pw[np.ix_(wpos, wpos)] = cd.within_sscp / (N - J)
    n = cd.cluster_sizes.astype(float)
    x = cd.cluster_vectors
    xc = x - n @ x / N
    s_b[np.ix_(dpos, dpos)] = (xc * n[:, None]).T @ xc / (J - 1)
    # Collinear sets make the saturated ML covariance matrices singular.
    _check_independent(s_pw, names, wpos, "within clusters")
    _check_independent(s_b, names, [pos[v] for v in between_only], "between clusters")
    sat = fit_saturated(cd)
    sw[np.ix_(wpos, wpos)] = sat.sigma_w
    sb[np.ix_(dpos, dpos)] = sat.sigma_b
    if not sat.converged:
        notes.append("the ML fit of the saturated model did not fully converge; "
                      "treat the ML ICCs with care")

    total = np.diag(sw) + np.diag(sb)
    with np.errstate(divide="ignore", invalid="ignore"):
        icc = np.where(total > 0, np.diag(sb) / total, np.nan)
    zero_b = np.isfinite(icc) & (icc < _ZERO_SHARE) & ~between
    sb[zero_b, :] = 0.0
    sb[:, zero_b] = 0.0
    icc[zero_b] = 0.0

    msw = np.diag(s_pw)
    msb = np.diag(s_b)
    n0 = (N - (n * n).sum() / N) / (J - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        icc1 = (msb - msw) / (msb + (n0 - 1.0) * msw)
    icc1[constant] = np.nan
    nbar = N / J

    roles = _roles(names, constant, between, near, wshare, icc, icc1, zero_b, notes)
    idx = pd.Index(names)

    def mat(m):
        return pd.DataFrame(m, index=idx, columns=idx)

    sizes = cd.cluster_sizes
    return Decomposition(
        names=names, cluster=cluster,
        icc=pd.Series(icc, index=idx, name="icc"),
        icc_anova=pd.Series(icc1, index=idx, name="icc_anova"),
        design_effect=pd.Series(1.0 + (nbar - 1.0) * icc, index=idx, name="design_effect"),
        pooled_within_cov=mat(s_pw), between_cov=mat(s_b),
        sigma_within=mat(sw), sigma_between=mat(sb),
        cluster_sizes={"J": J, "N": N, "min": int(sizes.min()),
                       "median": float(np.median(sizes)), "mean": nbar,
                       "max": int(sizes.max())},
        missingness=pd.DataFrame({"n_missing": n_missing, "share_missing":
                                  n_missing / max(n_input, 1)}, index=idx),
        roles=pd.DataFrame(roles, columns=["variable", "role", "reason"]),
        notes=notes)
