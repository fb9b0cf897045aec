"""What the switch grids of the Model screen show, as plain JSON.

The front end (``js/model_grid.js``) draws whatever :func:`grid_spec`
describes and sends back which switch was clicked; it decides nothing about
models. Per level of the model (:attr:`ModelState.levels`, however many) the
spec lists the variables (observed, latent, random slope) and which
regressions, variances, covariances and random slopes are on.
"""

from __future__ import annotations

from msem_nb.widget.levels import THREE_LEVEL_HINTS, THREE_LEVEL_TITLES, role_levels
from msem_nb.widget.model import ModelState

__all__ = ["grid_spec", "level_variables", "slope_allowed", "slope_problem", "LEVEL_TITLES", "LEVEL_HINTS",
           "loading_spec"]

#: Grid titles by level name; another level is titled by its name.
LEVEL_TITLES = {"within": "Within (individual level)", "between": "Between (cluster level)",
                "": "Model (single level)"}

#: What a grid's switches mean, by level name ("" is a single-level model).
LEVEL_HINTS = {
    "within": "Row \u2190 column: regression of the row on the column. Diagonal: (residual) "
              "variance. A path that is on gets an F/R switch beside it: fixed, or a random "
              "slope that varies across clusters.",
    "between": "Row \u2190 column: regression of cluster parts (cluster means). Diagonal: "
               "variance (for a variable with a within part, its random intercept).",
    "": "Row \u2190 column: regression of the row on the column. Diagonal: (residual) variance. "
        "Single-level model: no cluster column, so no within/between split.",
}


def loading_spec(text: str = "Loading the variables\u2026") -> dict:
    """A spec that shows `text` instead of switches (before the data summary is ready)."""
    return {"levels": [], "loading": text}



def level_variables(model: ModelState, level: str, variables, roles: dict | None,
                    known=None) -> list[dict]:
    """The rows/columns of one level's grid.

    Parameters
    ----------
    model : ModelState
    level : str
    variables : sequence of str
        Observed variables chosen on the Data screen.
    roles : dict, optional
        Variable -> suggested role from the decomposition; without it every
        variable is offered at every level.
    known : set of str, optional
        Names a row or column may have (data columns, latent variables,
        random slopes); a name the model uses that is none of these (a
        misspelt variable) gets no row. Default: no check.

    Returns
    -------
    list of dict
        ``{"name", "kind"}`` with kind "observed", "latent" or "slope",
        observed first (in the given order), then latent variables, then
        random slopes (at the cluster level only). Variables the model already
        uses at this level are always included.
    """
    blk = model.block(level or None)
    latents = model.latent_names(level or None)
    # a random slope is a variable of the level above the one it is declared at
    slopes = model.slope_names() if level and level == model.cluster_level else []
    special = set(latents) | set(model.slope_names())
    observed = []
    for v in variables:
        levels = role_levels((roles or {}).get(v), model.levels) or (
            () if (roles or {}).get(v) == "none" else model.levels)
        if not level or level in levels:
            observed.append(v)
    for v in blk.names():
        if v not in special and v not in observed and (known is None or v in known):
            observed.append(v)
    return ([{"name": v, "kind": "observed"} for v in observed]
            + [{"name": v, "kind": "latent"} for v in latents]
            + [{"name": v, "kind": "slope"} for v in slopes])


def slope_allowed(model: ModelState, columns) -> tuple[list[str], list[str]]:
    """Outcomes and covariates that can take part in a random slope.

    Returns
    -------
    (outcomes, covariates) : lists of str
        Observed variables (data columns that are not latent variables) and the
        latent variables of the level slopes are declared at (a slope on a latent
        covariate is integrated by quadrature: :mod:`msem_nb.likelihood.slopes_latent`);
        an observed covariate must not be named in the between block (the panel
        offers slopes on within covariates only).
    """
    if model.slope_level is None or model.cluster_level is None:
        return [], []
    lv = set(model.latent_names())
    own = model.latent_names(model.slope_level)
    obs = [c for c in columns if c not in lv]
    above = set(model.blocks[model.cluster_level].names())
    return obs + own, [c for c in obs if c not in above] + own


def slope_problem(model: ModelState, columns, y: str, x: str, on: bool | None) -> str | None:
    """Why ``y ~ x`` cannot be made a random slope (None when it can).

    Outcome and covariate are observed variables or latent variables of the level
    slopes are declared at (:func:`slope_allowed`); switching a slope on needs a
    covariate without a part in the block above.
    """
    above = model.cluster_level
    if above is None or model.slope_level is None:
        return "random slopes need a two-level model: choose a cluster column"
    own = set(model.latent_names(model.slope_level))
    latent = set(model.latent_names())
    for v, what in ((y, "outcome"), (x, "covariate")):
        if v not in own and (v in latent or v not in columns):
            return (f"the {what} of a random slope must be an observed variable or a latent "
                    f"variable of the {model.slope_level} level; '{v}' is not")
    if model.slope_of(y, x) is None and on is not False and x in model.blocks[above].names():
        return (f"'{x}' is used in the {above} block; a random slope needs a covariate "
                f"without a {above} part there (remove '{x}' from the {above} level first)")
    return None


def grid_spec(model: ModelState, variables, roles: dict | None = None,
              columns=None, known=None) -> dict:
    """Describe the switch grids of every level.

    Parameters
    ----------
    model : ModelState
    variables : sequence of str
        Observed variables chosen on the Data screen.
    roles : dict, optional
        Suggested roles from the decomposition.
    columns : sequence of str, optional
        Data columns (random slopes need observed variables); default
        `variables`.
    known : set of str, optional
        See :func:`level_variables`.

    Returns
    -------
    dict
        ``{"levels": [...], "multilevel": bool}``; each level has ``level``,
        ``title``, ``hint``, ``vars`` (see :func:`level_variables`), ``paths`` (list of
        [outcome, predictor]), ``covs`` (list of [a, b], a != b),
        ``variances`` (names), ``slopes`` (list of [outcome, covariate,
        name]), ``slope_y`` and ``slope_x`` (names allowed as outcome and
        covariate of a random slope; only at the level slopes are declared).
    """
    columns = list(variables if columns is None else columns)
    slope_y, slope_x = slope_allowed(model, columns)
    out = []
    for k, lv in enumerate(model.levels):
        blk = model.blocks[lv]
        title, hint = LEVEL_TITLES.get(lv, f"Level: {lv}"), LEVEL_HINTS.get(lv, "")
        if model.threelevel:
            title, hint = THREE_LEVEL_TITLES[k], THREE_LEVEL_HINTS[k]
        vars_ = level_variables(model, lv, variables, roles, known)
        declares_slopes = lv == model.slope_level
        out.append({
            "level": lv,
            "title": title,
            "hint": hint,
            "vars": vars_,
            "paths": [[y, x] for (y, x) in blk.paths],
            "covs": [[a, b] for (a, b) in blk.covs if a != b],
            "variances": [a for (a, b) in blk.covs if a == b],
            "slopes": [[y, t.name, s] for s, (y, t) in blk.slopes.items()],
            "slope_y": slope_y if declares_slopes else [],
            "slope_x": slope_x if declares_slopes else [],
        })
    return {"levels": out, "multilevel": model.multilevel}
