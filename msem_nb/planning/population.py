"""The population side of a power study: the analysis model, scenario values, true values.

* The default analysis model is the population model with its values freed
  (:func:`freed_model`): every number written in the syntax becomes a start
  value, with three exceptions that keep the model identified and on the
  population's scale: the first loading of a factor keeps its written value
  (then the factor's variance is free and its true value is the
  population's), a factor whose first loading is freed with ``NA*`` keeps its
  variance fixed, and latent means stay as written. Statements about the
  (co)variances and means of observed covariates are dropped, so that the
  analysis conditions on them (``fixed_x``) as :func:`msem_nb.fit` does.
* A scenario sets population values (:func:`scenario_values`): a row named
  ``"lhs op rhs [level]"`` (every row sharing its free index moves with it)
  or an ICC, ``icc(y) = v``. The between variance of y is linear in y's
  between (residual) variance psi, ``var_B(y) = a + c psi`` (Sigma_B =
  (I - B)^-1 Psi (I - B)^-T), so two evaluations give the psi that makes
  ``var_B / (var_W + var_B) = v``; ``psi < 0`` (the explained between variance
  alone exceeds the target) is refused.
* True values of the analysis rows (:func:`true_values`): the population
  value of the same row (``~~`` either way round); NaN for a row the
  population does not have (a misspecified or transformed analysis; give it
  with ``truth=``); ``:=`` parameters evaluated at the true values of their
  labels.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

import numpy as np

from msem_nb.errors import ModelSpecificationError
from msem_nb.model.partable import ParTable
from msem_nb.planning.grid import ParamKey, match_rows, parse_key
from msem_nb.syntax import parse
from msem_nb.syntax.statements import ParsedModel, Statement, Term
from msem_nb.syntax.tokens import quote_name
from msem_nb.teaching.simulate import table_moments

__all__ = ["freed_model", "model_to_text", "scenario_values", "true_values", "row_dicts",
           "population_syntax"]


def _term_text(t: Term) -> str:
    parts = []
    if t.label:
        parts.append(quote_name(t.label))
    if t.fixed is not None:
        parts.append(f"{t.fixed:.12g}")
    elif t.free:
        parts.append("NA")
    if t.start is not None:
        parts.append(f"start({t.start:.12g})")
    name = "1" if t.name == "1" else quote_name(t.name)
    return "*".join(parts + [name])


def _statement_text(s: Statement) -> str:
    if s.op in (":=",):
        return f"{quote_name(s.lhs)} := {s.expr.text if s.expr else ''}"
    if s.op in ("==", "<", ">"):
        left = s.lhs_expr.text if s.lhs_expr is not None else s.lhs
        return f"{left} {s.op} {s.expr.text if s.expr else ''}"
    if s.op == "~1":
        return f"{quote_name(s.lhs)} ~ " + " + ".join(_term_text(t) for t in s.rhs)
    if s.op == "|~":
        raise ModelSpecificationError("random slopes cannot be simulated yet")
    return f"{quote_name(s.lhs)} {s.op} " + " + ".join(_term_text(t) for t in s.rhs)


def model_to_text(statements: Sequence[Statement], levels: Sequence[str]) -> str:
    """Model syntax for parsed `statements` (level blocks in the order of `levels`)."""
    lines: list[str] = []
    if levels:
        for lvl in levels:
            lines.append(f"level: {lvl}")
            lines += ["  " + _statement_text(s) for s in statements
                      if s.level == lvl and s.op not in (":=", "==", "<", ">")]
        lines += [_statement_text(s) for s in statements if s.op in (":=", "==", "<", ">")]
    else:
        lines = [_statement_text(s) for s in statements]
    return "\n".join(lines) + "\n"


def _free(t: Term) -> Term:
    if t.fixed is None:
        return t
    return replace(t, fixed=None, free=False, start=t.fixed)


def freed_model(parsed: ParsedModel) -> str:
    """The analysis syntax of a population model: values freed (module docstring)."""
    stmts = parsed.statements
    factors = {s.lhs for s in stmts if s.op == "=~"}
    outcomes = {s.lhs for s in stmts if s.op == "~"}
    indicators = {t.name for s in stmts if s.op == "=~" for t in s.rhs}
    covariates = {t.name for s in stmts if s.op == "~" for t in s.rhs
                  if t.name != "1"} - outcomes - indicators - factors
    # which factors keep their scale through the first loading, per level
    first_seen: set[tuple[str | None, str]] = set()
    keep_variance: set[tuple[str | None, str]] = set()
    out: list[Statement] = []
    for s in stmts:
        if s.op == "=~":
            terms = []
            for t in s.rhs:
                key = (s.level, s.lhs)
                if key not in first_seen:
                    first_seen.add(key)
                    if t.free:
                        keep_variance.add(key)
                    terms.append(t)
                else:
                    terms.append(_free(t))
            out.append(replace(s, rhs=tuple(terms)))
        elif s.op == "~~":
            if s.lhs in covariates:
                terms = [t for t in s.rhs if t.name not in covariates]
            else:
                terms = list(s.rhs)
            if s.lhs in factors and (s.level, s.lhs) in keep_variance:
                terms = [t if t.name == s.lhs else _free(t) for t in terms]
            else:
                terms = [_free(t) for t in terms]
            if terms:
                out.append(replace(s, rhs=tuple(terms)))
        elif s.op == "~1":
            if s.lhs in covariates:
                continue
            out.append(s if s.lhs in factors else replace(s, rhs=tuple(_free(t) for t in s.rhs)))
        elif s.op == "~":
            out.append(replace(s, rhs=tuple(_free(t) for t in s.rhs)))
        else:
            out.append(s)
    return model_to_text(out, parsed.levels)


def row_dicts(pt: ParTable) -> list[dict]:
    """The rows of `pt` as dicts with lhs, op, rhs, level, label, free (plus := rows)."""
    rows = [{"lhs": r["lhs"], "op": r["op"], "rhs": r["rhs"], "level": r["level"] or "",
             "label": r["label"] or None, "free": int(r["free"])} for r in pt.records]
    rows += [{"lhs": d.lhs, "op": ":=", "rhs": d.expr.text if d.expr else "", "level": "",
              "label": d.lhs, "free": 0} for d in pt.defined]
    return rows


def _between_variance(pt: ParTable, values: np.ndarray, var: str) -> tuple[float, float]:
    mom = table_moments(pt, values)
    names_w, _, cov_w = mom.get("within", ((), None, None))
    names_b, _, cov_b = mom.get("between", ((), None, None))
    vw = cov_w[names_w.index(var), names_w.index(var)] if var in names_w else 0.0
    vb = cov_b[names_b.index(var), names_b.index(var)] if var in names_b else 0.0
    return float(vw), float(vb)


def _set_icc(pt: ParTable, values: np.ndarray, var: str, icc: float, text: str) -> None:
    if not 0.0 < icc < 1.0:
        raise ModelSpecificationError(f"{text} = {icc}: an ICC is strictly between 0 and 1")
    rec = pt.records
    rows = [i for i, r in enumerate(rec) if r["op"] == "~~" and r["lhs"] == var
            and r["rhs"] == var and not pt.is_lowest(int(r["block"]))]
    if var not in pt.ov_names:
        raise ModelSpecificationError(
            f"{text}: '{var}' is not an observed variable of the population model")
    if not rows or not pt.multilevel:
        raise ModelSpecificationError(
            f"{text}: '{var}' has no between part in the population model; name it in the "
            "between block to vary its ICC")
    i = rows[0]
    v0, v1 = values.copy(), values.copy()
    v0[i], v1[i] = 0.0, 1.0
    vw, b0 = _between_variance(pt, v0, var)
    _, b1 = _between_variance(pt, v1, var)
    if vw <= 0:
        raise ModelSpecificationError(f"{text}: '{var}' has no within part, its ICC is 1")
    psi = (icc / (1.0 - icc) * vw - b0) / (b1 - b0)
    if psi < 0:
        raise ModelSpecificationError(
            f"{text} = {icc}: the between variance the model explains already gives an ICC of "
            f"{b0 / (b0 + vw):.3f}; choose a larger ICC or smaller between paths")
    _assign(pt, values, i, psi)


def _assign(pt: ParTable, values: np.ndarray, i: int, value: float) -> None:
    free = pt.table["free"].to_numpy()
    if free[i] > 0:
        values[free == free[i]] = value
    else:
        values[i] = value


def resolve_vary(pt: ParTable, vary: Mapping[str, object] | None) -> list[tuple[str, ParamKey]]:
    """Check every `vary` key against the population table; (text, key) pairs."""
    out = []
    rows = row_dicts(pt)
    for text in (vary or {}):
        key = parse_key(text, allow_icc=True)
        if key.icc is None:
            i = match_rows(key, rows, "population model")
            if rows[i]["op"] == ":=":
                raise ModelSpecificationError(
                    f"vary: '{text}' is a defined (:=) parameter; vary the parameters it is made of")
        out.append((str(text), key))
    return out


def scenario_values(pt: ParTable, base: np.ndarray, keys: Sequence[tuple[str, ParamKey]],
                    values: Sequence[tuple[str, float]]) -> np.ndarray:
    """Population row values with a scenario's `values` set (ICCs last)."""
    out = base.copy()
    rows = row_dicts(pt)
    lookup = dict(keys)
    for text, v in values:
        key = lookup[text]
        if key.icc is None:
            _assign(pt, out, match_rows(key, rows, "population model"), float(v))
    for text, v in values:
        key = lookup[text]
        if key.icc is not None:
            _set_icc(pt, out, key.icc, float(v), text)
    return out


def true_values(analysis: ParTable, population: ParTable, values: np.ndarray,
                truth: Mapping[str, float] | None = None) -> np.ndarray:
    """True value of each analysis row (:func:`row_dicts` order), see the module docstring."""
    pop = {}
    for r, v in zip(row_dicts(population), values):
        pop[(r["lhs"], r["op"], r["rhs"], r["level"])] = v
        if r["op"] == "~~":
            pop[(r["rhs"], r["op"], r["lhs"], r["level"])] = v
    rows = row_dicts(analysis)
    out = np.array([pop.get((r["lhs"], r["op"], r["rhs"], r["level"]), np.nan) for r in rows])
    for text, v in (truth or {}).items():
        out[match_rows(parse_key(text), rows, "analysis model")] = float(v)
    env = {r["label"]: out[i] for i, r in enumerate(rows) if r["label"] and r["op"] != ":="}
    n = len(analysis.records)
    for k, d in enumerate(analysis.defined):
        if d.expr is None or np.isfinite(out[n + k]):
            continue
        try:
            out[n + k] = d.expr.evaluate(env)
        except (KeyError, ValueError, ZeroDivisionError, OverflowError):
            out[n + k] = np.nan
        env[d.lhs] = out[n + k]
    return out


def population_syntax(fit: object) -> str:
    """A population model with a fit's estimates as values (a pilot study's, say).

    Every row of the fit's parameter table (loadings, paths, (co)variances
    and intercepts, the covariates' moments at their sample values) becomes
    ``lhs op value*rhs`` in its level block; ``:=`` rows and constraints are
    left out. Random slopes cannot be simulated and are refused.
    """
    pt = fit.partable  # type: ignore[attr-defined]
    if pt.slopes:
        raise ModelSpecificationError(
            "a model with random slopes cannot be simulated yet; plan with a random-intercept "
            "model")
    est = fit.estimates  # type: ignore[attr-defined]
    blocks: dict[str, list[str]] = {}
    for r, value in zip(pt.records, est["est"].to_numpy()[: len(pt.records)]):
        if r["op"] not in ("=~", "~", "~~", "~1") or not np.isfinite(value):
            continue
        lhs = quote_name(r["lhs"])
        if r["op"] == "~1":
            line = f"{lhs} ~ {value:.6g}*1"
        else:
            line = f"{lhs} {r['op']} {value:.6g}*{quote_name(r['rhs'])}"
        blocks.setdefault(r["level"] or "", []).append(line)
    if pt.multilevel:
        return "".join(f"level: {lvl}\n" + "".join(f"  {x}\n" for x in lines)
                       for lvl, lines in blocks.items())
    return "".join(f"{x}\n" for lines in blocks.values() for x in lines)


def parse_population(model: str) -> ParsedModel:
    """The parsed population model (random slopes and three levels refused)."""
    parsed = parse(model)
    if len(parsed.levels) > 2:
        raise ModelSpecificationError(
            f"power() simulates one- and two-level designs; this population model has "
            f"{len(parsed.levels)} levels ({', '.join(parsed.levels)}). Three-level data "
            "sets can be simulated with ms.simulate(model, n_clusters=..., cluster_size=..., "
            "n_schools=...) and fitted in a loop")
    if any(s.op == "|~" for s in parsed.statements):
        raise ModelSpecificationError(
            "power() cannot simulate random slopes yet; write the population model with random "
            "intercepts only")
    return parsed
