"""The Results screen's figures of a random-slope fit: the clusters' own estimates.

For every random slope of the fit, its caterpillar plot (``fit.caterpillar``: each
cluster's posterior mean with its interval, sorted) and, for a slope on an observed
covariate, the clusters' regression lines over the data (``fit.spaghetti``). They are
computed by :class:`~msem_nb.widget.checks.ResultChecks` on its worker, only while the
Results screen is open, like the residual heatmaps.
"""

from __future__ import annotations

from typing import Any

from msem_nb.errors import ModelSpecificationError
from msem_nb.results import FitResult
from msem_nb.widget.describe import describe_error

__all__ = ["slope_figures"]


def slope_figures(fit: FitResult) -> tuple[dict[str, Any], str | None]:
    """The figures of a random-slope fit keyed by their label, and a note.

    Returns
    -------
    (figures, note)
        ``{}`` and None for a model without random slopes; `note` says why figures
        are missing (a slope on a latent covariate has no lines to draw over the data,
        or the library's message when the estimates cannot be computed).
    """
    if not fit.partable.slopes:
        return {}, None
    figures: dict[str, Any] = {}
    notes: list[str] = []
    try:
        for slope in fit.partable.slopes:
            figures[f"{slope}: each cluster's estimate"] = fit.caterpillar(slope)
            try:
                figures[f"{slope}: a line per cluster"] = fit.spaghetti(slope)
            except ModelSpecificationError as exc:
                notes.append(f"No lines for {slope}: {exc}.")
    except Exception as exc:  # noqa: BLE001 - a sentence on the screen
        reason = str(exc) if isinstance(exc, ValueError) else describe_error(exc)[0]
        notes.append(f"The clusters' estimates are not available: {reason}")
    return figures, " ".join(notes) or None
