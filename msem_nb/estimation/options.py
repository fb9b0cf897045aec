"""The options of one fit, validated once: :class:`FitOptions`.

Everything that changes how a prepared model is estimated (estimator,
missing-data mode, information matrix, fixed covariates, centring, optimiser
control) lives here, so that a refit (bootstrap, panel, simulation study)
passes one frozen value instead of re-reading keyword arguments.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Mapping

from msem_nb.data.missing import normalize_missing
from msem_nb.errors import ModelSpecificationError

__all__ = ["FitOptions", "ESTIMATORS", "CONTROL_KEYS", "INFORMATION"]

#: Estimators :func:`msem_nb.fit` offers.
ESTIMATORS = ("ML", "MLR", "MUML")
#: Information matrices behind standard errors.
INFORMATION = ("observed", "expected")
#: Optimiser settings accepted in ``control``, with what each does.
CONTROL_KEYS = {
    "maxiter": "most optimiser iterations (default 2000)",
    "gtol": "BFGS's gradient tolerance per observation (default 1e-5)",
    "start": "a full start vector of the free parameters",
    "se": "False skips the information matrix (point estimates only)",
}
_CENTER = ("cluster", "grand")


@dataclass(frozen=True)
class FitOptions:
    """How to estimate a prepared model; validated when made.

    Attributes
    ----------
    estimator : {"ML", "MLR", "MUML"}
        "MUML" (Muthen's two-level estimator, :mod:`msem_nb.estimation.muml`)
        takes complete rows only (``missing="listwise"``) and observed
        information, refused here otherwise; one-level tables and random
        slopes are refused by the pipeline. Its covariate moments are always
        estimated (with ``fixed_x`` they start from their saturated values).
    missing : {"listwise", "ml", "ml.x"}
        The normalised missing-data mode (``"fiml"`` is stored as ``"ml.x"``).
    information : {"observed", "expected"} or None
        None: the default for the data (see :meth:`information_for`).
    fixed_x : bool
    meanstructure : bool or None
    center : tuple of (column, "cluster" | "grand")
    control : mapping
        Keys of :data:`CONTROL_KEYS` only.
    """

    estimator: str = "ML"
    missing: str = "listwise"
    information: str | None = None
    fixed_x: bool = True
    meanstructure: bool | None = None
    center: tuple[tuple[str, str], ...] = ()
    control: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        est = str(self.estimator).upper()
        if est not in ESTIMATORS:
            raise ModelSpecificationError(
                f"estimator '{self.estimator}' is not available; choose one of "
                f"{', '.join(ESTIMATORS)}")
        object.__setattr__(self, "estimator", est)
        mode = normalize_missing(self.missing)
        object.__setattr__(self, "missing", mode)
        if self.information is not None and self.information not in INFORMATION:
            raise ModelSpecificationError(
                f"information must be one of {', '.join(INFORMATION)}, not {self.information!r}")
        if est == "MUML" and mode != "listwise":
            raise ModelSpecificationError(
                "estimator='MUML' uses complete rows only (missing='listwise'); for missing "
                "values use estimator='ML' or 'MLR' with missing='fiml'")
        if est == "MUML" and self.information == "expected":
            raise ModelSpecificationError(
                "estimator='MUML' takes its standard errors from the observed information; "
                "use information='observed' (or leave it out)")
        if mode != "listwise" and self.meanstructure is False:
            raise ModelSpecificationError("missing='fiml' needs a mean structure; drop "
                                          "meanstructure=False")
        center = self.center.items() if isinstance(self.center, Mapping) else self.center
        pairs = tuple((str(c), str(h)) for c, h in center)
        for col, how in pairs:
            if how not in _CENTER:
                raise ModelSpecificationError(
                    f"center['{col}'] must be 'cluster' or 'grand', not {how!r}")
        object.__setattr__(self, "center", pairs)
        control = dict(self.control or {})
        unknown = sorted(set(control) - set(CONTROL_KEYS))
        if unknown:
            known = "; ".join(f"'{k}': {v}" for k, v in CONTROL_KEYS.items())
            raise ModelSpecificationError(
                f"unknown control setting(s) {', '.join(map(repr, unknown))}; the known ones "
                f"are {known}")
        object.__setattr__(self, "control", control)

    @property
    def fiml(self) -> bool:
        """True when incomplete rows are kept (missing="ml" or "ml.x")."""
        return self.missing != "listwise"

    @property
    def center_map(self) -> dict[str, str]:
        return dict(self.center)

    def resolved_meanstructure(self) -> bool | None:
        """FIML implies a mean structure; otherwise the user's choice."""
        return True if self.fiml and self.meanstructure is None else self.meanstructure

    def information_for(self, single_level: bool) -> str:
        """The information matrix for a data set, with lavaan's defaults:
        observed for FIML, MLR, MUML and two-level models, expected otherwise."""
        if self.information is not None:
            return self.information
        if self.fiml or self.estimator in ("MLR", "MUML") or not single_level:
            return "observed"
        return "expected"

    def with_control(self, **settings: Any) -> "FitOptions":
        """A copy with `settings` added to ``control`` (e.g. ``start=..., se=False``)."""
        return replace(self, control={**self.control, **settings})
