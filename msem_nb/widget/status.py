"""What the status line says about a fit: green only when nothing asks for a look.

A fit is shown in green ("ok") only when it converged, recorded no message
and has standard errors. Anything else is amber ("warn"): not converged,
any message of the fit (``FitResult.messages``: warnings of the core, notes
on estimates at a boundary, rows dropped for missing values, and any flag
the core adds later, such as an improper solution), or standard errors that
could not be computed. The rule reads no message's wording, so a new kind of
message turns the status amber with no change here.
"""

from __future__ import annotations

from msem_nb.results import FitResult

__all__ = ["fit_status", "unique_notes"]


def unique_notes(*groups) -> list[str]:
    """The messages of several sources, each once, in order of first appearance."""
    out: dict[str, None] = {}
    for group in groups:
        for m in group or ():
            text = str(m).strip()
            if text:
                out.setdefault(text, None)
    return list(out)


def se_missing(fit: FitResult) -> bool:
    """Whether a fit with free parameters came back without standard errors."""
    return fit.npar > 0 and getattr(fit.estimation, "vcov", None) is None


def fit_status(fit: FitResult, notes=(), elapsed: float | None = None) -> tuple[str, str, str]:
    """The status line of a fit.

    Parameters
    ----------
    fit : FitResult
    notes : iterable of str
        Warnings caught while fitting, beyond ``fit.messages``.
    elapsed : float, optional
        Seconds the fit took.

    Returns
    -------
    (state, message, detail) : tuple of str
        `state` is "ok" or "warn"; `detail` lists every note, one per line.
    """
    notes = unique_notes(getattr(fit, "messages", ()), notes)
    took = f" in {elapsed:.2f} s" if elapsed is not None else ""
    facts = f"log-likelihood {fit.loglik:.3f}, {fit.npar} free parameters"
    if se_missing(fit):
        notes.append("Standard errors are not available for this solution (the information "
                     "matrix is not positive definite): the estimates may be improper; "
                     "inspect them before reading any test or interval.")
    if not fit.converged:
        return ("warn", f"Did NOT converge ({fit.iterations} iterations{took}): the "
                        "estimates are not reliable.", "\n".join(notes))
    if notes:
        first = notes[0] if len(notes[0]) <= 160 else notes[0][:157] + "\u2026"
        count = f"{len(notes)} warnings" if len(notes) > 1 else "a warning"
        return ("warn", f"Converged{took} with {count}: {first}", "\n".join(notes))
    return "ok", f"Converged{took} ({fit.iterations} iterations; {facts}).", ""
