"""Example data for two-level SEM: a documented classroom simulator, a fast
generic factor-data simulator for benchmarks, the bundled example data set and
matching model strings.

The bundled ``datasets/classrooms.csv`` is exactly ``simulate_classrooms()``
with its default arguments, written with six significant digits, so every
number in it can be traced back to the generating model documented below.
"""

from __future__ import annotations

from importlib import resources

import numpy as np
import pandas as pd

__all__ = [
    "CLASSROOMS_PARAMETERS",
    "EXAMPLE_MODELS",
    "load_example",
    "simulate_classrooms",
    "simulate_factor_data",
]

#: True parameter values of the classroom generating model (see
#: :func:`simulate_classrooms`).  Kept in one place so the simulator, its
#: documentation and parameter-recovery checks cannot drift apart.
CLASSROOMS_PARAMETERS: dict = {
    # within level (students)
    "ses_within_var": 1.0,
    "hours_mean": 6.0,
    "hours_sd": 1.5,
    "motw_on_ses": 0.4,
    "motw_on_hours": 0.3,
    "motw_resid_var": 0.64,
    "math_on_motw": 0.5,
    "math_within_resid_var": 0.75,
    # between level (classes)
    "ses_between_var": 0.09,
    "teacher_exp_range_decades": (0.1, 3.5),
    "teacher_exp_centre_decades": 1.8,
    "motb_on_class_climate": 0.25,
    "motb_on_teacher_exp": 0.2,  # per decade, i.e. 0.02 per year
    "motb_on_ses": 0.0,
    "motb_resid_var": 0.08,
    "math_on_motb": 0.7,
    "math_between_resid_var": 0.05,
    # measurement model (same loadings at both levels)
    "loadings": (1.0, 0.8, 0.9, 0.7),
    "intercepts": (3.0, 3.2, 2.8, 3.1),
    "within_resid_var": (0.5, 0.6, 0.55, 0.65),
    "between_resid_var": (0.03, 0.03, 0.03, 0.03),
    "math_intercept": 0.0,
}

EXAMPLE_MODELS: dict[str, str] = {
    # ses has a between part in the data, so it must appear in the between
    # block too; otherwise a two-level SEM would treat it as within-only and
    # its class-mean variance would be left unmodelled.
    "classrooms": """\
level: within
  motw =~ mot1 + mot2 + mot3 + mot4
  motw ~ ses + hours
  math ~ motw
level: between
  motb =~ mot1 + mot2 + mot3 + mot4
  motb ~ class_climate + teacher_exp + ses
  math ~ motb
""",
}

_DATASET_FILES: dict[str, str] = {"classrooms": "classrooms.csv"}


def simulate_classrooms(
    n_classes: int = 160,
    size_range: tuple[int, int] = (12, 30),
    seed: int = 2026,
) -> pd.DataFrame:
    r"""Simulate students nested in classrooms for a two-level SEM example.

    The data mimic a methods-workshop study of *math motivation*: four
    questionnaire items measure motivation at both the student (within) and
    the class (between) level; motivation predicts a math score at both
    levels.

    Parameters
    ----------
    n_classes : int, default 160
        Number of classrooms :math:`J`.
    size_range : tuple of int, default (12, 30)
        Inclusive range from which each class size is drawn uniformly, so
        cluster sizes are unbalanced.
    seed : int, default 2026
        Seed for :func:`numpy.random.default_rng`.

    Returns
    -------
    pandas.DataFrame
        One row per student, sorted by class, with columns

        ``class_id``
            Classroom id, ``1..J`` (int).
        ``mot1`` .. ``mot4``
            Motivation indicators (both levels).
        ``math``
            Math score in standard-deviation-like units (both levels).
        ``ses``
            Student socio-economic status (mostly within, small between part).
        ``hours``
            Weekly homework hours (within only; every class has the same mean).
        ``teacher_exp``
            Teacher experience in **decades** (0.1 .. 3.5, i.e. 1 .. 35
            years), constant within class.
        ``class_climate``
            Classroom climate, standardised over classes, constant within
            class.

    Notes
    -----
    For student :math:`i` in class :math:`j` the generating model is
    (:math:`N(m, v)` denotes a normal with mean *m* and **variance** *v*).

    Class level::

        teacher_exp_j   ~ Uniform(0.1, 3.5)              (decades)
        class_climate_j ~ N(0, 1), then standardised over the J classes
        ses_b_j         ~ N(0, 0.09)
        motb_j = 0.25*class_climate_j + 0.2*(teacher_exp_j - 1.8)
                 + 0.0*ses_b_j + u_j,                    u_j ~ N(0, 0.08)
        math_b_j = 0.7*motb_j + r_j,                     r_j ~ N(0, 0.05)

    Student level::

        ses_w_ij ~ N(0, 1);   ses_ij = ses_b_j + ses_w_ij
        hours_ij ~ N(6, 1.5**2)                          (no class effect)
        motw_ij = 0.4*ses_w_ij + 0.3*(hours_ij - 6) + e_ij, e_ij ~ N(0, 0.64)
        math_ij = 0 + 0.5*motw_ij + math_b_j + d_ij,     d_ij ~ N(0, 0.75)

    Indicators, :math:`k = 1..4`, with the same loadings at both levels::

        mot_k_ij = nu_k + lambda_k*(motw_ij + motb_j) + eps_w_kij + eps_b_kj
        lambda = (1.0, 0.8, 0.9, 0.7)
        nu     = (3.0, 3.2, 2.8, 3.1)
        Var(eps_w) = (0.5, 0.6, 0.55, 0.65)
        Var(eps_b) = (0.03, 0.03, 0.03, 0.03)

    ``teacher_exp`` is stored in decades rather than years because a
    predictor with variance around 100 next to standardised variables makes
    the between-level covariance matrix badly conditioned; the true slope is
    0.2 per decade, i.e. 0.02 per year.  ``ses`` has a between part but no
    between effect on motivation (true between slope 0), so its contextual
    effect is -0.4.  Population ICCs are about .12, .11, .11, .09 for
    ``mot1..mot4``, .12 for ``math``, .08 for ``ses`` and 0 for ``hours``;
    the realised values for the default call are listed in
    ``msem_nb/teaching/datasets/README.md``.  All true values are also available as
    :data:`CLASSROOMS_PARAMETERS`.

    Examples
    --------
    >>> df = simulate_classrooms()
    >>> df["class_id"].nunique()
    160
    """
    p = CLASSROOMS_PARAMETERS
    n_classes = int(n_classes)
    if n_classes < 2:
        raise ValueError("n_classes must be at least 2")
    lo, hi = (int(v) for v in size_range)
    if lo < 1 or hi < lo:
        raise ValueError("size_range must be (min, max) with 1 <= min <= max")

    rng = np.random.default_rng(seed)
    sizes = rng.integers(lo, hi + 1, size=n_classes)
    cls = np.repeat(np.arange(n_classes), sizes)
    n = cls.size

    # Class level.
    exp_lo, exp_hi = p["teacher_exp_range_decades"]
    teacher_exp = rng.uniform(exp_lo, exp_hi, size=n_classes)
    climate = rng.standard_normal(n_classes)
    climate = (climate - climate.mean()) / climate.std(ddof=1)
    ses_b = rng.normal(0.0, np.sqrt(p["ses_between_var"]), size=n_classes)
    mot_b = (
        p["motb_on_class_climate"] * climate
        + p["motb_on_teacher_exp"] * (teacher_exp - p["teacher_exp_centre_decades"])
        + p["motb_on_ses"] * ses_b
        + rng.normal(0.0, np.sqrt(p["motb_resid_var"]), size=n_classes)
    )
    math_b = p["math_on_motb"] * mot_b + rng.normal(
        0.0, np.sqrt(p["math_between_resid_var"]), size=n_classes
    )

    # Student level.
    ses_w = rng.normal(0.0, np.sqrt(p["ses_within_var"]), size=n)
    hours = rng.normal(p["hours_mean"], p["hours_sd"], size=n)
    mot_w = (
        p["motw_on_ses"] * ses_w
        + p["motw_on_hours"] * (hours - p["hours_mean"])
        + rng.normal(0.0, np.sqrt(p["motw_resid_var"]), size=n)
    )
    math = (
        p["math_intercept"]
        + p["math_on_motw"] * mot_w
        + math_b[cls]
        + rng.normal(0.0, np.sqrt(p["math_within_resid_var"]), size=n)
    )

    lam = np.asarray(p["loadings"])
    nu = np.asarray(p["intercepts"])
    k = lam.size
    eps_w = rng.standard_normal((n, k)) * np.sqrt(p["within_resid_var"])
    eps_b = rng.standard_normal((n_classes, k)) * np.sqrt(p["between_resid_var"])
    mot = nu + np.outer(mot_w + mot_b[cls], lam) + eps_w + eps_b[cls]

    out = {"class_id": (cls + 1).astype(np.int64)}
    out.update({f"mot{j + 1}": mot[:, j] for j in range(k)})
    out["math"] = math
    out["ses"] = ses_b[cls] + ses_w
    out["hours"] = hours
    out["teacher_exp"] = teacher_exp[cls]
    out["class_climate"] = climate[cls]
    return pd.DataFrame(out)


def simulate_factor_data(
    n_clusters: int,
    cluster_size: int | tuple[int, int],
    n_indicators: int = 6,
    seed: int = 0,
) -> pd.DataFrame:
    """Simulate a two-level one-factor model quickly, for benchmarks.

    Fully vectorised: one million rows (50,000 clusters of 20) take a
    fraction of a second.

    Parameters
    ----------
    n_clusters : int
        Number of clusters :math:`J`.
    cluster_size : int or tuple of int
        Either a fixed size for every cluster or an inclusive ``(min, max)``
        range from which sizes are drawn uniformly.
    n_indicators : int, default 6
        Number of indicators :math:`K` (columns ``y1..yK``).
    seed : int, default 0
        Seed for :func:`numpy.random.default_rng`.

    Returns
    -------
    pandas.DataFrame
        Columns ``y1..yK``, ``x1``, ``x2`` and ``cluster`` (int, ``1..J``),
        sorted by cluster.

    Notes
    -----
    With loadings ``lambda_k`` evenly spaced from 1.0 down to 0.7 and the
    same at both levels::

        x1, x2 ~ N(0, 1)                       (within only)
        fw_ij = 0.5*x1_ij + 0.3*x2_ij + e_ij,  e_ij ~ N(0, 0.66)
        fb_j ~ N(0, 0.25)
        y_kij = lambda_k*(fw_ij + fb_j) + eps_w_kij + eps_b_kj
        Var(eps_w) = 0.5,  Var(eps_b) = 0.05

    so ``Var(fw) = 1`` and the indicator ICCs lie between about .15
    (``lambda = 0.7``) and .17 (``lambda = 1``).
    """
    n_clusters = int(n_clusters)
    n_indicators = int(n_indicators)
    if n_clusters < 1:
        raise ValueError("n_clusters must be positive")
    if n_indicators < 1:
        raise ValueError("n_indicators must be positive")

    rng = np.random.default_rng(seed)
    if np.ndim(cluster_size) == 0:
        size = int(cluster_size)
        if size < 1:
            raise ValueError("cluster_size must be positive")
        cl = np.repeat(np.arange(1, n_clusters + 1, dtype=np.int64), size)
    else:
        lo, hi = (int(v) for v in cluster_size)
        if lo < 1 or hi < lo:
            raise ValueError("cluster_size range must satisfy 1 <= min <= max")
        sizes = rng.integers(lo, hi + 1, size=n_clusters)
        cl = np.repeat(np.arange(1, n_clusters + 1, dtype=np.int64), sizes)
    n = cl.size
    idx = cl - 1

    lam = np.linspace(1.0, 0.7, n_indicators) if n_indicators > 1 else np.ones(1)
    x = rng.standard_normal((n, 2))
    f_w = x @ np.array([0.5, 0.3]) + rng.standard_normal(n) * np.sqrt(0.66)
    f_b = rng.standard_normal(n_clusters) * 0.5
    eps_b = rng.standard_normal((n_clusters, n_indicators)) * np.sqrt(0.05)

    # Build y in place to avoid several (n, K) temporaries at benchmark sizes.
    y = rng.standard_normal((n, n_indicators))
    y *= np.sqrt(0.5)
    y += np.outer(f_w + f_b[idx], lam)
    y += eps_b[idx]

    out = {f"y{k + 1}": y[:, k] for k in range(n_indicators)}
    out["x1"] = x[:, 0]
    out["x2"] = x[:, 1]
    out["cluster"] = cl
    return pd.DataFrame(out)


def load_example(name: str = "classrooms") -> pd.DataFrame:
    """Load a bundled example data set.

    Parameters
    ----------
    name : str, default "classrooms"
        Name of the data set.  Matching model strings, where available, are
        in :data:`EXAMPLE_MODELS` under the same key.

    Returns
    -------
    pandas.DataFrame
        The data set.  ``"classrooms"`` equals ``simulate_classrooms()`` up
        to the six significant digits stored in the file.

    Raises
    ------
    ValueError
        If `name` is not a bundled data set.
    """
    try:
        filename = _DATASET_FILES[name]
    except (KeyError, TypeError):
        available = ", ".join(repr(k) for k in sorted(_DATASET_FILES))
        raise ValueError(
            f"unknown example {name!r}; available examples: {available}"
        ) from None
    # Chained joinpath because multi-argument joinpath needs Python 3.11.
    ref = resources.files("msem_nb.teaching").joinpath("datasets").joinpath(filename)
    with ref.open("rb") as fh:
        return pd.read_csv(fh)
