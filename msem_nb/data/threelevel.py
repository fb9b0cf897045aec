"""Three-level data (rows in classes in schools) and the statistics of their likelihood.

The data vector (``names``) holds, in this order,

* the ``p1`` variables with a level-1 (within-class) part: those of the
  level-1 block;
* the class-level variables: in the level-2 block but not the level-1 one,
  constant within each class;
* the school-level variables: only in the level-3 block, constant within
  each school.

The first ``q`` of them vary within schools (the class vectors ``x_j``); the
last ``r = p - q`` are the school vectors ``z_k``.

A sample enters the likelihood (:mod:`msem_nb.likelihood.threelevel`) only
through, computed here in one pass over the rows:

* the pooled within-class SSCP ``A`` of the level-1 variables (``N - J``
  degrees of freedom) and ``sum_j log n_j``;
* for each distinct class size ``n_g``: the number of classes of that size and
  the SSCP ``W_g`` of their class vectors about the mean of their (school,
  size) pair;
* for each (school, size) pair: the number ``c_kg`` of such classes and the
  mean of their class vectors;
* the school vectors ``z_k``.

Invariants: classes are numbered school by school (``class_school`` is
sorted) and rows class by class (``offsets``); every class belongs to exactly
one school (:func:`threelevel_data` refuses a class id seen in two schools).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import ClassVar

import numpy as np
import pandas as pd

from msem_nb.data.missing import normalize_missing, rows_to_keep
from msem_nb.data.prepare import (
    check_cluster_ids,
    check_duplicate_columns,
    check_magnitude,
    numeric_block,
)
from msem_nb.data.sizes import group_sscp, size_index
from msem_nb.errors import DataError, ModelSpecificationError

__all__ = ["ThreeLevelData", "threelevel_data", "data_vector", "check_nested"]


@dataclass(frozen=True, eq=False)
class ThreeLevelData:
    """Sufficient statistics of a three-level sample (complete rows).

    ``at2`` and ``at3`` name the variables with a level-2 and a level-3 part
    (in data order). Per distinct class size ``g``: ``sizes[g]``,
    ``size_count[g]`` classes and ``size_sscp[g]`` (``W_g``). Per (school,
    size) pair ``P``, ordered by size and then school: ``pair_school``,
    ``pair_size``, ``pair_count`` and ``pair_mean``. Per school: ``school_z`` (the school-level values),
    ``school_within_sscp``, ``school_nobs``, ``school_nclasses``. Per class:
    ``class_school``, ``class_sizes``, ``class_vectors``, ``class_pair``.
    """

    names: tuple[str, ...]
    p1: int
    q: int
    at2: tuple[str, ...]
    at3: tuple[str, ...]
    nobs: int
    nclasses: int
    nschools: int
    within_sscp: np.ndarray
    sum_log_n: float
    sizes: np.ndarray
    size_count: np.ndarray
    size_sscp: np.ndarray
    pair_school: np.ndarray
    pair_size: np.ndarray
    pair_count: np.ndarray
    pair_mean: np.ndarray
    school_z: np.ndarray
    school_within_sscp: np.ndarray = field(repr=False)
    school_nobs: np.ndarray = field(repr=False)
    school_nclasses: np.ndarray = field(repr=False)
    class_ids: np.ndarray = field(repr=False)
    school_ids: np.ndarray = field(repr=False)
    class_school: np.ndarray = field(repr=False)
    class_sizes: np.ndarray = field(repr=False)
    class_vectors: np.ndarray = field(repr=False)
    class_pair: np.ndarray = field(repr=False)
    clusters: tuple[Hashable, Hashable] = ("", "")
    n_dropped: int = 0
    # rows sorted by class (level-1 variables only) and each class's first row
    rows: np.ndarray | None = field(default=None, repr=False)
    offsets: np.ndarray | None = field(default=None, repr=False)

    #: three-level data are complete (rows with missing values are dropped)
    incomplete: ClassVar[bool] = False

    @property
    def nlevels(self) -> int:
        return 3

    @property
    def ntotal(self) -> int:
        return self.nobs

    @property
    def within(self) -> tuple[str, ...]:
        """The variables with a level-1 part (the first ``p1``)."""
        return self.names[:self.p1]

    @property
    def r(self) -> int:
        """Number of school-level variables (the last ``r`` of ``names``)."""
        return len(self.names) - self.q

    @property
    def nclusters(self) -> int:
        """Clusters of the level just above the rows (classes)."""
        return self.nclasses

    @cached_property
    def index2(self) -> np.ndarray:
        """Positions of the variables with a level-2 part in ``names``."""
        return np.array([self.names.index(v) for v in self.at2], dtype=int)

    @cached_property
    def index3(self) -> np.ndarray:
        """Positions of the variables with a level-3 part in ``names``."""
        return np.array([self.names.index(v) for v in self.at3], dtype=int)

    @cached_property
    def school_size_counts(self) -> np.ndarray:
        """(K, G): the number of classes of each size in each school."""
        out = np.zeros((self.nschools, len(self.sizes)))
        out[self.pair_school, self.pair_size] = self.pair_count
        return out

    @cached_property
    def pairs_by_school(self) -> tuple[np.ndarray, np.ndarray]:
        """A permutation that orders the pairs by school, and where each school's run
        starts (for ``np.add.reduceat``; every school has a pair)."""
        order = np.argsort(self.pair_school, kind="stable")
        starts = np.searchsorted(self.pair_school[order], np.arange(self.nschools))
        return order, starts

    @cached_property
    def size_starts(self) -> np.ndarray:
        """Where each size's run of pairs starts (pairs are ordered by size)."""
        return np.searchsorted(self.pair_size, np.arange(len(self.sizes)))

    def affine(self, loc: np.ndarray, scale: np.ndarray) -> ThreeLevelData:
        """The statistics of ``(y - loc) / scale``, variable by variable (``names`` order).

        Sums of squares about means only scale; means and values shift and
        scale; the layout (classes, schools, sizes, pairs) stays.
        """
        p1, q = self.p1, self.q
        s1, sq = scale[:p1], scale[:q]
        return dataclasses.replace(
            self, within_sscp=self.within_sscp / np.outer(s1, s1),
            size_sscp=self.size_sscp / np.outer(sq, sq),
            pair_mean=(self.pair_mean - loc[:q]) / sq,
            school_z=(self.school_z - loc[q:]) / scale[q:],
            school_within_sscp=self.school_within_sscp / np.outer(s1, s1),
            class_vectors=(self.class_vectors - loc[:q]) / sq,
            rows=None if self.rows is None else (self.rows - loc[:p1]) / s1)

    def value_counts(self) -> np.ndarray:
        """Number of observed values of each variable (the Jacobian of a change of units):
        every row for a variable with a level-1 part, every class for a class-level one,
        every school for a school-level one."""
        out = np.full(len(self.names), float(self.nschools))
        out[:self.q] = float(self.nclasses)
        out[:self.p1] = float(self.nobs)
        return out

    def value_moments(self) -> tuple[np.ndarray, np.ndarray]:
        """Mean and standard deviation (divisor n) of each variable over its own values
        (:meth:`value_counts`): the level-1 variables' from the class means and the
        pooled within SSCP, without a pass over the rows."""
        p1, q = self.p1, self.q
        x = self.class_vectors
        n = self.class_sizes.astype(float)
        m1 = n @ x[:, :p1] / self.nobs
        v1 = (np.diag(self.within_sscp) + n @ (x[:, :p1] - m1) ** 2) / self.nobs
        x2, z = x[:, p1:q], self.school_z
        return (np.concatenate([m1, x2.mean(axis=0), z.mean(axis=0)]),
                np.sqrt(np.concatenate([v1, x2.var(axis=0), z.var(axis=0)])))

    def school_means(self) -> np.ndarray:
        """(K, p) per school: the mean of its rows' level-1 values, its class-level
        values averaged over classes, and its school-level values."""
        K = self.nschools
        n = self.class_sizes.astype(float)
        x = self.class_vectors
        w = np.where(np.arange(self.q) < self.p1, 1.0, 0.0)
        # level-1 variables weight classes by their rows, class-level ones equally
        rows_w = np.bincount(self.class_school, n, K)
        cls_w = np.bincount(self.class_school, None, K).astype(float)
        out = np.empty((K, len(self.names)))
        for a in range(self.q):
            weights = n if w[a] else np.ones_like(n)
            total = rows_w if w[a] else cls_w
            out[:, a] = np.bincount(self.class_school, weights * x[:, a], K) / total
        out[:, self.q:] = self.school_z
        return out


def data_vector(level_ov: Sequence[Sequence[str]]) -> tuple[tuple[str, ...], int, int]:
    """The data vector of a three-level model: ``(names, p1, q)`` from the
    observed variables of levels 1, 2 and 3 (see the module docstring)."""
    l1, l2, l3 = (tuple(v) for v in level_ov)
    l2only = tuple(v for v in l2 if v not in l1)
    l3only = tuple(v for v in l3 if v not in l1 and v not in l2only)
    return l1 + l2only + l3only, len(l1), len(l1) + len(l2only)


def _plain(x: object) -> object:
    return x.item() if hasattr(x, "item") else x


def _cluster_ids(df: pd.DataFrame, col: Hashable, names: Sequence[str]) -> pd.Series:
    if col not in df.columns:
        cols = ", ".join(map(str, df.columns))
        raise DataError(f"cluster column '{col}' not found in the data; the columns are: {cols}")
    if col in names:
        raise DataError(f"the cluster column '{col}' is also used as a model variable")
    ids = df[col]
    if ids.isna().any():
        rows = np.where(ids.isna().to_numpy())[0]
        raise DataError(
            f"cluster column '{col}' has {len(rows)} missing ids "
            f"(rows {', '.join(map(str, rows[:5]))}{', ...' if len(rows) > 5 else ''}): every row "
            "needs one; drop those rows or give them ids")
    check_cluster_ids(ids, col)
    return ids


def _check_nesting(class_codes: np.ndarray, school_codes: np.ndarray, class_ids: np.ndarray,
                   school_ids: np.ndarray, clusters: tuple[Hashable, Hashable]) -> np.ndarray:
    """The school of each class; DataError naming a class found in two schools."""
    # pd.factorize numbers the classes 0 .. J-1, so np.unique's first rows line up with them
    _, first_row = np.unique(class_codes, return_index=True)
    first = school_codes[first_row]
    clash = first[class_codes] != school_codes
    if clash.any():
        bad = np.unique(class_codes[clash])
        c = bad[0]
        schools = pd.unique(school_codes[class_codes == c])
        a, b = _plain(school_ids[schools[0]]), _plain(school_ids[schools[1]])
        col_c, col_s = clusters
        more = f" ({len(bad)} classes are in more than one school)" if len(bad) > 1 else ""
        raise DataError(
            f"class {_plain(class_ids[c])!r} (column '{col_c}') is in more than one school "
            f"(column '{col_s}'): in {a!r} and {b!r}{more}. Classes must be nested in schools. "
            "If class ids start again in each school, make them unique first, e.g. "
            f"data['{col_c}'] = data['{col_s}'].astype(str) + '/' + data['{col_c}'].astype(str); "
            "otherwise correct the rows of that class")
    return first


def check_nested(df: pd.DataFrame, clusters: Sequence[Hashable]) -> None:
    """Check that the class column is nested in the school column, as a fit would.

    Parameters
    ----------
    df : pandas.DataFrame
    clusters : two column names
        The class column, then the school column.

    Raises
    ------
    DataError
        The fit's message: a column that is missing or has missing ids, the
        same column twice, or a class found in two schools (named, with the
        fix when class ids start again in each school).
    """
    col_c, col_s = clusters
    if col_c == col_s:
        raise DataError(f"the two cluster columns are the same ('{col_c}'); give the class "
                        "column, then the school column")
    cids = _cluster_ids(df, col_c, ())
    sids = _cluster_ids(df, col_s, ())
    class_codes, class_ids = pd.factorize(cids.to_numpy(), sort=False)
    school_codes, school_ids = pd.factorize(sids.to_numpy(), sort=False)
    _check_nesting(class_codes, school_codes, np.asarray(class_ids), np.asarray(school_ids),
                   (col_c, col_s))


def threelevel_data(df: pd.DataFrame, level_ov: Sequence[Sequence[str]],
                    clusters: Sequence[Hashable], missing: str = "listwise",
                    exogenous: Sequence[str] = ()) -> ThreeLevelData:
    """Validate a DataFrame for a three-level model and compute its statistics.

    Parameters
    ----------
    df : pandas.DataFrame
        One row per level-1 unit.
    level_ov : three sequences of str
        The observed variables of levels 1, 2 and 3 (``ParTable.level_ov()``).
    clusters : two column names
        The class column, then the school column (lowest level first).
    missing : str
        "listwise" drops rows with a missing value on a model variable (and
        counts them); FIML is not available for three levels, so a FIML mode
        with missing values is refused.
    exogenous : sequence of str
        Fixed covariates (unused here; rows are complete).

    Raises
    ------
    DataError
        Missing, non-numeric or constant columns; missing ids; a class in two
        schools; a class-level variable that varies within a class, a
        school-level one that varies within a school; a level-1 variable with
        no within-class variation, a class-level variable with a level-2 part
        that never varies between the classes of a school; too few rows,
        classes or schools; a column that varies on a scale beyond 1e-70 to
        1e70 (a DataWarning says how many digits of its variation a large
        magnitude leaves, as for one and two levels).
    """
    del exogenous
    if not isinstance(df, pd.DataFrame):
        raise DataError(f"data must be a pandas DataFrame, not {type(df).__name__}")
    if len(df) == 0:
        raise DataError("the data have no rows")
    col_c, col_s = clusters
    if col_c == col_s:
        raise ModelSpecificationError(
            f"the two cluster columns are the same ('{col_c}'); give the class column, then "
            "the school column: cluster=['class_id', 'school_id']")
    names, p1, q = data_vector(level_ov)
    at2 = tuple(v for v in names if v in level_ov[1])
    at3 = tuple(v for v in names if v in level_ov[2])
    check_duplicate_columns(df, names + (col_c, col_s))
    values = numeric_block(df, names)
    cids = _cluster_ids(df, col_c, names)
    sids = _cluster_ids(df, col_s, names)
    mode = normalize_missing(missing)
    if mode != "listwise" and np.isnan(values).any():
        raise ModelSpecificationError(
            f"missing='{missing}' (FIML) is not available for three-level models yet; the "
            "data have missing values on model variables: use missing='listwise' (rows with "
            "a missing value are dropped and counted)")
    keep, n_dropped = rows_to_keep(values, "listwise")
    values = values[keep]
    if len(values) == 0:
        raise DataError("no rows left after removing rows with missing values")
    # as for one and two levels: scales double precision cannot square twice are
    # refused, digits lost to a large magnitude are said (one call deeper than there)
    check_magnitude(values, names, stacklevel=6)
    class_codes, class_ids = pd.factorize(cids.to_numpy()[keep], sort=False)
    school_codes, school_ids = pd.factorize(sids.to_numpy()[keep], sort=False)
    class_ids, school_ids = np.asarray(class_ids), np.asarray(school_ids)
    class_school = _check_nesting(class_codes, school_codes, class_ids, school_ids,
                                  (col_c, col_s))
    spread = np.ptp(values, axis=0)
    for k in np.where(spread == 0)[0]:
        raise DataError(f"variable '{names[k]}' is constant (every value is {values[0, k]:g}): "
                        "it carries no information; leave it out of the model")
    return _statistics(values, class_codes, class_school, class_ids, school_ids, names, p1, q,
                       at2, at3, (col_c, col_s), n_dropped)


def _varies_within(values: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """(groups, columns) True where a column varies within a group of sorted rows."""
    return np.maximum.reduceat(values, offsets, axis=0) > np.minimum.reduceat(values, offsets,
                                                                               axis=0)


def _statistics(values: np.ndarray, class_codes: np.ndarray, class_school: np.ndarray,
                class_ids: np.ndarray, school_ids: np.ndarray, names: tuple[str, ...], p1: int,
                q: int, at2: tuple[str, ...], at3: tuple[str, ...],
                clusters: tuple[Hashable, Hashable], n_dropped: int) -> ThreeLevelData:
    # number the classes school by school, then sort the rows class by class
    corder = np.argsort(class_school, kind="stable")
    renum = np.empty_like(corder)
    renum[corder] = np.arange(len(corder))
    class_ids, class_school = class_ids[corder], class_school[corder]
    codes = renum[class_codes]
    order = np.argsort(codes, kind="stable")
    values, codes = values[order], codes[order]
    J, K = len(class_ids), len(school_ids)
    sizes = np.bincount(codes, minlength=J)
    offsets = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    N = len(values)
    col_c, col_s = clusters
    _check_sizes(N, J, K, p1, q, len(names), clusters, n_dropped)

    # class-level variables are constant within classes, school-level ones within schools
    if q > p1:
        varies = _varies_within(values[:, p1:q], offsets)
        if varies.any():
            k = int(np.where(varies.any(axis=0))[0][0])
            bad = np.where(varies[:, k])[0]
            j = bad[0]
            rows = values[offsets[j]:offsets[j] + sizes[j], p1 + k]
            raise DataError(
                f"variable '{names[p1 + k]}' is used only at levels 2 and above but varies within "
                f"{len(bad)} of {J} classes (e.g. class {_plain(class_ids[j])!r} has values "
                f"{rows.min():g} to {rows.max():g}); use it at level 1 too, or replace it by "
                f"its class means ('{col_c}')")
    srows = np.concatenate(([0], np.cumsum(np.bincount(class_school, sizes, K))[:-1])).astype(int)
    if len(names) > q:
        varies = _varies_within(values[:, q:], srows)
        if varies.any():
            k = int(np.where(varies.any(axis=0))[0][0])
            bad = np.where(varies[:, k])[0]
            s = bad[0]
            last = srows[s + 1] if s + 1 < K else N
            vals = values[srows[s]:last, q + k]
            raise DataError(
                f"variable '{names[q + k]}' is used only at level 3 but varies within {len(bad)} "
                f"of {K} schools (e.g. school {_plain(school_ids[s])!r} ('{col_s}') has values "
                f"{vals.min():g} to {vals.max():g}); use it at level 2 (or 1) too, or replace "
                "it by its school means")

    y = values[:, :p1]
    centre = y.mean(axis=0)
    yc = y - centre
    csum = np.add.reduceat(yc, offsets, axis=0)
    cmean = csum / sizes[:, None]
    dev = yc - np.repeat(cmean, sizes, axis=0)
    within_sscp = dev.T @ dev
    total = yc.T @ yc
    for k in np.where(np.diag(within_sscp) <= 1e-12 * np.maximum(np.diag(total), 1e-300))[0]:
        raise DataError(
            f"variable '{names[k]}' does not vary within classes: it has no level-1 part; use "
            "it only in the blocks of levels 2 and 3")
    row_school = np.repeat(class_school, sizes)
    outer = dev[:, :, None] * dev[:, None, :]
    school_within = np.zeros((K, p1, p1))
    np.add.at(school_within, row_school, outer)

    x = np.hstack([cmean + centre, values[offsets, p1:q]])
    z = values[srows, q:]
    # a class-level variable with a level-2 part must differ between the classes of a school
    for a in range(p1, q):
        if names[a] in at2 and not _varies_within(x[:, a:a + 1], _starts(class_school)).any():
            raise DataError(
                f"variable '{names[a]}' has the same value in every class of each school: it "
                "has no level-2 part; use it only in the level-3 block")

    ns, size_count, size_of = size_index(sizes)
    # pairs ordered by size, then school: each size's pairs are one run
    pair_key = size_of * K + class_school
    pkeys, class_pair, pair_count = np.unique(pair_key, return_inverse=True, return_counts=True)
    P = len(pkeys)
    pair_sum = np.zeros((P, q))
    np.add.at(pair_sum, class_pair, x)
    pair_mean = pair_sum / pair_count[:, None]
    xd = x - pair_mean[class_pair]
    size_sscp = group_sscp(xd, size_of, size_count)
    return ThreeLevelData(
        names=names, p1=p1, q=q, at2=at2, at3=at3, nobs=N, nclasses=J, nschools=K,
        within_sscp=within_sscp, sum_log_n=float(np.log(sizes).sum()),
        sizes=ns.astype(float), size_count=size_count.astype(float),
        size_sscp=size_sscp, pair_school=(pkeys % K).astype(int),
        pair_size=(pkeys // K).astype(int), pair_count=pair_count.astype(float),
        pair_mean=pair_mean, school_z=z, school_within_sscp=school_within,
        school_nobs=np.bincount(class_school, sizes, K).astype(int),
        school_nclasses=np.bincount(class_school, None, K).astype(int), class_ids=class_ids,
        school_ids=school_ids, class_school=class_school, class_sizes=sizes,
        class_vectors=x, class_pair=class_pair, clusters=clusters, n_dropped=n_dropped,
        rows=y, offsets=offsets)


def _starts(sorted_codes: np.ndarray) -> np.ndarray:
    """First position of each run of a sorted code array."""
    return np.concatenate(([0], np.where(np.diff(sorted_codes) != 0)[0] + 1))


def _check_sizes(N: int, J: int, K: int, p1: int, q: int, p: int,
                 clusters: tuple[Hashable, Hashable], n_dropped: int) -> None:
    col_c, col_s = clusters
    dropped = f" ({n_dropped} rows were dropped for missing values)" if n_dropped else ""
    if K < 2:
        raise DataError(
            f"school column '{col_s}' has {K} school{dropped}: a three-level model needs at "
            "least 2 schools (and many more for level-3 estimates to be trusted)")
    if N - J < p1:
        raise DataError(
            f"{N} rows in {J} classes{dropped} leave {N - J} within-class degrees of freedom "
            f"for {p1} variable{'s' if p1 != 1 else ''} with a level-1 part: a three-level "
            f"model needs at least {J + p1} rows here, i.e. classes with more than one row")
    if J - K < q - p1:
        raise DataError(
            f"{J} classes in {K} schools{dropped} for {q - p1} class-level variables: a "
            "three-level model needs more classes than schools plus class-level variables "
            f"(at least {K + q - p1} here)")
    if K < p - q + 1:
        raise DataError(
            f"{K} schools{dropped} for {p - q} school-level variables: a three-level model "
            f"needs more schools than school-level variables (at least {p - q + 1} here)")
