"""Checks of the arguments of the interval functions, made before any draw or refit.

:func:`msem_nb.inference.intervals.monte_carlo` and
:func:`~msem_nb.inference.intervals.bootstrap` (and ``ci_level`` of
:func:`msem_nb.fit`) call these first, so that a plausible mistake (a
percentage such as 95 as the confidence level, a seed numpy cannot use, a
count that is not a whole number) is a
:class:`~msem_nb.errors.ModelSpecificationError` saying what to pass, not a
numpy traceback after minutes of refits.
"""

from __future__ import annotations

import numpy as np

from msem_nb.errors import ModelSpecificationError
from msem_nb.inference.wald import check_ci_level, resolve_ci_level

__all__ = ["is_whole", "confidence_level", "check_level_arguments", "check_seed",
           "check_count", "check_choice"]


def is_whole(value: object) -> bool:
    """An integer, or a float with an integer value (1000.0); never a bool."""
    if isinstance(value, (bool, np.bool_)):
        return False
    if isinstance(value, (int, np.integer)):
        return True
    return isinstance(value, (float, np.floating)) and np.isfinite(value) \
        and float(value).is_integer()


def confidence_level(ci_level, level=None, default: float | None = 0.95) -> float | None:
    """The confidence level from ``ci_level`` or the deprecated ``level``, checked.

    Parameters
    ----------
    ci_level, level : float or None
        What the caller was given (``level`` issues a FutureWarning).
    default : float or None
        Returned when neither is given (None: "the fit's").

    Returns
    -------
    float or None

    Raises
    ------
    ModelSpecificationError
        A value that is not a number strictly between 0 and 1; for a
        percentage such as 95 the message asks "did you mean 0.95?".
    """
    check_level_arguments(ci_level, level)
    return resolve_ci_level(ci_level, level, default=default, stacklevel=4)


def check_level_arguments(ci_level, level=None) -> None:
    """ModelSpecificationError unless each given level is a number in (0, 1).

    For a percentage such as 95 the message asks "did you mean 0.95?";
    None (not given) passes.
    """
    if ci_level is not None:
        check_ci_level(ci_level, "ci_level")
    if level is not None:
        check_ci_level(level, "level")


def check_seed(seed):
    """`seed` if numpy can seed from it: None, a whole number >= 0, a sequence of
    them, or a ``numpy.random.SeedSequence``; else ModelSpecificationError."""
    if seed is None or isinstance(seed, np.random.SeedSequence):
        return seed
    if isinstance(seed, (list, tuple, np.ndarray)):
        if len(seed) and all(is_whole(v) and v >= 0 for v in seed):
            return [int(v) for v in seed]
    elif is_whole(seed) and seed >= 0:
        return int(seed)
    raise ModelSpecificationError(
        f"seed must be a whole number >= 0 such as 1 (or None for a fresh random seed), "
        f"not {seed!r}")


def check_count(value, name: str, minimum: int = 2, example: int = 1000) -> int:
    """`value` as an int >= `minimum`, or ModelSpecificationError naming `name`."""
    if not is_whole(value) or value < minimum:
        raise ModelSpecificationError(
            f"{name} must be a whole number, at least {minimum} (e.g. {example}), "
            f"not {value!r}")
    return int(value)


def check_choice(value: object, name: str, choices: tuple) -> None:
    """ModelSpecificationError unless `value` is one of the strings `choices`."""
    if not isinstance(value, str) or value not in choices:
        allowed = " or ".join(repr(c) for c in choices)
        raise ModelSpecificationError(f"{name} must be {allowed}, not {value!r}")
