"""Improper solutions: negative variances, correlations beyond +/-1, and the like.

:func:`detect_improper` is a pure function of the row estimates, their
standardized values and the implied moments of each block; it runs after
every fit (``FitResult.improper``), and :func:`notify_improper` records its
findings as warnings in ``FitResult.messages``, worded as lavaan's
post-estimation checks (``lav_object_post_check``) where lavaan has words.

For a block in RAM form, ``S`` is the covariance matrix of the residuals of
all its variables (observed first, then latent; for an exogenous variable,
its variance) and ``C = B S B'`` the implied covariance of all of them
(:mod:`msem_nb.model.implied`). The checks, per block:

* ``ov_variance`` / ``lv_variance``: a variance row ``x ~~ x`` below zero
  ("some estimated ov variances are negative", "... lv variances ...").
* ``correlation``: a covariance row whose residual correlation
  ``S_ij / sqrt(S_ii S_jj)`` is beyond +/-1 (both variances positive), or two
  latent variables whose implied correlation ``C_ij / sqrt(C_ii C_jj)`` is.
* ``lv_not_pd``: ``C[lv, lv]``, the implied covariance matrix of the latent
  variables, has an eigenvalue below ``-eps^(3/4)`` times its largest absolute
  eigenvalue (at least 1), lavaan's tolerance ("covariance matrix of latent
  variables is not positive definite"); skipped, as lavaan does for negative
  variances, when a negative latent variance or a correlation of two latent
  variables beyond +/-1 in the block already says it.
* ``theta_not_pd``: the same for ``S[ov, ov]``, the residual covariance
  matrix of the observed variables, unless an ov variance is negative or a
  residual correlation of two observed variables is beyond +/-1.
* ``boundary``: a free variance within ``BOUNDARY_TOL`` of zero relative to
  its variable's implied variance (``|S_ii| <= tol C_ii``), or a free
  covariance whose residual correlation is within ``BOUNDARY_TOL`` of +/-1.
  Random effects of random-slope models are left out: the estimation's notes
  report their boundary (:func:`msem_nb.likelihood.slopes.boundary_notes`).
* ``std_all``: a loading or (co)variance whose completely standardized
  value is beyond +/-1 (rows another finding names are left out).
  Regressions, intercepts and defined parameters are not checked: a
  standardized regression coefficient beyond 1 is proper with strongly
  correlated predictors (suppression), and the others are not bounded. A
  cross-loading beyond 1 can be proper too, which the message says.

Invariants: findings come in block order, one per kind and block; every
finding names its parameters (``lhs op rhs``; for the not-positive-definite
kinds, the variables involved), their values, the table rows they come from
(0-based) and the level's name ("" for a single level). All thresholds are
relative, so the findings do not depend on the units of the variables, and a
proper solution has none. Rows of fixed exogenous covariates (sample values)
are never flagged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from msem_nb.errors import ImproperSolutionWarning
from msem_nb.format import num
from msem_nb.messages import notify

__all__ = ["Finding", "detect_improper", "improper_messages", "notify_improper", "KINDS",
           "BOUNDARY_TOL"]

# relative distance from zero (variances) or from +/-1 (correlations) that
# counts as "at the boundary"
BOUNDARY_TOL = 1e-6
# |std.all| or |r| above 1 + this is "beyond +/-1" (rounding of an exact 1 is not)
_BEYOND_TOL = 1e-6
# lavaan's eigenvalue tolerance, .Machine$double.eps^(3/4)
_EIG_TOL = np.finfo(float).eps ** 0.75

#: kind -> short label (a row flag in tables)
KINDS = {
    "ov_variance": "negative variance",
    "lv_variance": "negative variance",
    "correlation": "correlation beyond +/-1",
    "lv_not_pd": "latent covariance matrix not positive definite",
    "theta_not_pd": "residual covariance matrix not positive definite",
    "boundary": "at the boundary",
    "std_all": "std.all beyond +/-1",
}

_IMPROPER = ("an improper solution; common causes are a misspecified model, a factor with "
             "too few indicators and a small sample (at the between level: few clusters)")

_WORDS = {
    "ov_variance": ("some estimated ov variances are negative", _IMPROPER),
    "lv_variance": ("some estimated lv variances are negative", _IMPROPER),
    "correlation": ("some estimated correlations are beyond +/-1", _IMPROPER),
    "lv_not_pd": ("covariance matrix of latent variables is not positive definite",
                  _IMPROPER),
    "theta_not_pd": ("the covariance matrix of the residuals of the observed variables "
                     "(theta) is not positive definite", _IMPROPER),
    "boundary": ("some estimates are at the boundary of their admissible values",
                 "a variance of zero or a correlation of +/-1; their standard errors and "
                 "tests are not reliable"),
    "std_all": ("some standardized estimates (std.all) are beyond +/-1",
                "a standardized loading, variance or correlation beyond +/-1 goes with an "
                "improper solution; a standardized regression coefficient or cross-loading "
                "can exceed 1 when its predictors or factors are strongly correlated"),
}


@dataclass(frozen=True)
class Finding:
    """One kind of improper estimate in one block.

    Attributes
    ----------
    kind : str
        A key of :data:`KINDS`.
    level : str
        The block's level name ("" for a single-level model).
    parameters : tuple of str
        ``lhs op rhs`` of each parameter; for ``lv_not_pd`` / ``theta_not_pd``
        the variables involved, for an implied correlation ``cor(f1, f2)``.
    values : tuple of float
        The estimate (variances, boundary), the correlation or std.all value
        of each parameter; for the not-positive-definite kinds the smallest
        eigenvalue.
    rows : tuple of int
        0-based rows of the parameter table (and of ``FitResult.estimates``)
        to flag.
    """

    kind: str
    level: str
    parameters: tuple[str, ...]
    values: tuple[float, ...]
    rows: tuple[int, ...] = ()

    @property
    def short(self) -> str:
        """lavaan's words, the level and the parameters with their values."""
        head = _WORDS[self.kind][0]
        where = f" (level: {self.level})" if self.level else ""
        if self.kind in ("lv_not_pd", "theta_not_pd"):
            what = (f"smallest eigenvalue {num(self.values[0], '.3g')}; variables "
                    + ", ".join(self.parameters))
        else:
            what = ", ".join(f"{p} = {num(v, '.3f')}" for p, v in zip(self.parameters, self.values))
        return f"{head}{where}: {what}"

    @property
    def message(self) -> str:
        """The warning text: :attr:`short`, then what it means."""
        return f"{self.short}; {_WORDS[self.kind][1]}"


def _name(lhs: str, op: str, rhs: str) -> str:
    return f"{lhs} {op} {rhs}"


@dataclass(frozen=True)
class _Item:
    # one flagged quantity while a block is checked
    name: str
    value: float
    rows: tuple[int, ...]
    variables: frozenset
    # the finding's "parameters" when not (name,): the variables of a matrix
    parts: tuple[str, ...] = ()


def detect_improper(table, spec, block_moments, est, std=None,
                    random_effects=frozenset()) -> tuple[Finding, ...]:
    """Signs of an improper solution, per block.

    Parameters
    ----------
    table : pandas.DataFrame or mapping
        Parameter table (lhs, op, rhs, block, free, exo): the DataFrame or its
        columns by name (``ParTable.columns``).
    spec : ModelSpec
        Its blocks' variable names (observed first).
    block_moments : list of BlockMoments
        Implied moments at the estimates (``S`` and ``cov_all`` are used).
    est : array
        Estimate of every table row.
    std : array, optional
        std.all of every table row (NaN where undefined).
    random_effects : collection of str
        Random intercepts and slopes of a random-slope model, left out of
        the boundary check.

    Returns
    -------
    tuple of Finding
        Empty for a proper solution.
    """
    lhs = np.asarray(table["lhs"])
    op = np.asarray(table["op"])
    rhs = np.asarray(table["rhs"])
    block = np.asarray(table["block"]).astype(int)
    free = np.asarray(table["free"]) > 0
    exo = np.asarray(table["exo"]).astype(bool)
    est = np.asarray(est, dtype=float)
    effects = set(random_effects)
    out: list[Finding] = []
    # the rows each check reads, per block (most rows of a proper solution flag nothing,
    # so an item is made only for a flagged row)
    cov_rows = (op == "~~") & ~exo
    std_rows = ((op == "=~") | (op == "~~")) & ~exo
    if std is not None:
        std = np.asarray(std, dtype=float)
        with np.errstate(invalid="ignore"):
            std_rows &= np.isfinite(std) & (np.abs(std) > 1 + _BEYOND_TOL)
    for b, (bs, bm) in enumerate(zip(spec.blocks, block_moments)):
        found: dict[str, list[_Item]] = {k: [] for k in KINDS}
        pos = {v: i for i, v in enumerate(bs.names)}
        S, C = np.asarray(bm.S, dtype=float), np.asarray(bm.cov_all, dtype=float)
        in_block = block == b
        rows = np.flatnonzero(in_block & cov_rows).tolist()
        for i in rows:
            a, c = pos[lhs[i]], pos[rhs[i]]
            if a == c:
                scale = max(abs(C[a, a]), abs(est[i]))
                if free[i] and abs(est[i]) <= BOUNDARY_TOL * scale and lhs[i] not in effects:
                    found["boundary"].append(_row_item(lhs[i], rhs[i], float(est[i]), i))
                elif est[i] < 0:
                    found["ov_variance" if a < bs.n_ov else "lv_variance"].append(
                        _row_item(lhs[i], rhs[i], float(est[i]), i))
                continue
            if S[a, a] <= 0 or S[c, c] <= 0:
                continue  # a negative variance, reported as such
            value = float(S[a, c] / np.sqrt(S[a, a] * S[c, c]))
            if abs(value) > 1 + _BEYOND_TOL:
                found["correlation"].append(_row_item(lhs[i], rhs[i], value, i))
            elif free[i] and abs(value) >= 1 - BOUNDARY_TOL \
                    and not frozenset((lhs[i], rhs[i])) & effects:
                found["boundary"].append(_row_item(lhs[i], rhs[i], value, i))
        found["correlation"] += _implied_correlations(bs, C, found["correlation"])
        _not_pd(bs, S, C, found, rows, lhs, rhs, pos)
        if std is not None:
            named = {i for items in found.values() for it in items for i in it.rows}
            found["std_all"] = [
                _Item(_name(lhs[i], op[i], rhs[i]), float(std[i]), (i,), frozenset())
                for i in np.flatnonzero(in_block & std_rows).tolist() if i not in named]
        for kind, items in found.items():
            if items:
                out.append(Finding(kind, bs.key.name,
                                   tuple(p for it in items for p in it.parts or (it.name,)),
                                   tuple(it.value for it in items),
                                   tuple(i for it in items for i in it.rows)))
    return tuple(out)


def _row_item(lhs: str, rhs: str, value: float, i: int) -> _Item:
    """The item of a flagged (co)variance row."""
    return _Item(_name(lhs, "~~", rhs), value, (i,), frozenset((lhs, rhs)))


def _implied_correlations(bs, C, shown: list[_Item]) -> list[_Item]:
    """Latent variables whose implied correlation is beyond +/-1 (pairs the
    residual covariance rows did not already show)."""
    seen = {it.variables for it in shown}
    out = []
    for a in range(bs.n_ov, len(bs.names)):
        for c in range(a + 1, len(bs.names)):
            pair = frozenset((bs.names[a], bs.names[c]))
            if C[a, a] <= 0 or C[c, c] <= 0 or pair in seen:
                continue
            r = C[a, c] / np.sqrt(C[a, a] * C[c, c])
            if abs(r) > 1 + _BEYOND_TOL:
                out.append(_Item(f"cor({bs.names[a]}, {bs.names[c]})", float(r), (), pair))
    return out


def _not_pd(bs, S, C, found, rows, lhs, rhs, pos) -> None:
    """lavaan's positive-definiteness checks of the latent covariance matrix
    and of the residual covariance matrix of the observed variables."""
    n_ov = bs.n_ov
    lv = set(bs.names[n_ov:])
    pairs = [it.variables for it in found["correlation"]]
    for kind, idx, explained in (
            ("lv_not_pd", np.arange(n_ov, len(bs.names)),
             found["lv_variance"] or any(p <= lv for p in pairs)),
            ("theta_not_pd", np.arange(n_ov),
             found["ov_variance"] or any(not p & lv for p in pairs))):
        if not len(idx) or explained:
            continue
        # the latent variables follow the observed ones: idx is a range
        M = (C if kind == "lv_not_pd" else S)[idx[0]:idx[-1] + 1, idx[0]:idx[-1] + 1]
        if len(idx) == 1:
            # what eigh gives for one variable, without its call
            w, V = ((M + M.T) / 2).diagonal().copy(), np.ones((1, 1))
        else:
            w, V = np.linalg.eigh((M + M.T) / 2)
        if w[0] >= -_EIG_TOL * max(1.0, float(np.abs(w).max())):
            continue
        vec = np.abs(V[:, 0])
        involved = [int(idx[k]) for k in np.flatnonzero(vec > 0.1 * vec.max())]
        names = [bs.names[k] for k in involved]
        flag = tuple(i for i in rows if pos[lhs[i]] in involved and pos[rhs[i]] in involved)
        found[kind] = [_Item(kind, float(w[0]), flag, frozenset(names), tuple(names))]


def improper_messages(findings) -> list[str]:
    """The warning text of each finding, in order."""
    return [f.message for f in findings]


def notify_improper(findings) -> None:
    """Record (and, unless quiet, issue) each finding as an
    :class:`~msem_nb.errors.ImproperSolutionWarning` of the current fit."""
    # stack: notify_improper, fit_partable, fit, the caller of fit
    for f in findings:
        notify(f.message, ImproperSolutionWarning, stacklevel=4)
