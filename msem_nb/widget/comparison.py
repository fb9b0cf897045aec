"""What the Compare tab runs, without widgets: check a request, compare, restore names.

:func:`run_comparison` calls :func:`msem_nb.compare_approaches` on the
columns of a :class:`CompareRequest`. Column names that the model syntax
cannot spell (spaces, ``<``, ...) are compared under temporary aliases and
given back their names in the returned
:class:`~msem_nb.teaching.approaches.Comparison`.
"""

from __future__ import annotations

import dataclasses

import pandas as pd

from msem_nb.errors import DataError
from msem_nb.messages import collecting
from msem_nb.teaching.approaches import compare_approaches
from msem_nb.widget.model import ModelState

__all__ = ["CompareRequest", "check_request", "default_pair", "run_comparison"]


@dataclasses.dataclass(frozen=True)
class CompareRequest:
    """One comparison: outcome, predictor, mediators and the cluster column."""

    y: object
    x: object
    mediators: tuple
    cluster: object


def default_pair(model: ModelState, variables) -> tuple:
    """(y, x) for a first comparison: the model's first path at its lowest level between
    two of `variables`, else its first random slope; (None, None) when the model has
    neither (any pair of columns would be an arbitrary question)."""
    blk = model.blocks[model.levels[0]]
    pairs = list(blk.paths) + [(y, t.name) for y, t in blk.slopes.values()]
    for y, x in pairs:
        if y in variables and x in variables and y != x:
            return y, x
    return None, None


def check_request(data: pd.DataFrame, req: CompareRequest) -> None:
    """Problems that make a comparison meaningless, as a clear message.

    Raises
    ------
    DataError
        No cluster column, y or x missing, a variable chosen twice or being
        the cluster column, no complete row, a variable without variance.
    """
    if req.cluster is None:
        raise DataError("comparing approaches needs a cluster column: choose one on the Data "
                        "screen")
    if req.y is None or req.x is None:
        raise DataError("choose an outcome y and a predictor x")
    cols = [req.y, req.x, *req.mediators]
    twice = [str(c) for c in dict.fromkeys(cols) if cols.count(c) > 1]
    if twice:
        raise DataError("y, x and the mediators must be different variables ("
                        + ", ".join(f"'{c}'" for c in twice) + " is chosen twice)")
    if req.cluster in cols:
        raise DataError(f"'{req.cluster}' is the cluster column; it cannot be y, x or a mediator")
    used = data[[req.cluster, *cols]].dropna()
    if not len(used):
        raise DataError("no row has values on all of the chosen variables")
    for c in cols:
        s = used[c]
        if pd.api.types.is_numeric_dtype(s) and s.nunique() <= 1:
            raise DataError(f"'{c}' has the same value ({s.iloc[0]:g}) in every row used: "
                            "with zero variance it has no effect to estimate or be affected "
                            "by; choose another variable")


def run_comparison(data: pd.DataFrame, req: CompareRequest, compare_fn=None):
    """compare_approaches on `req`, with aliases for names the syntax cannot spell.

    Returns
    -------
    (Comparison, list of str)
        The comparison (original names) and the warnings it raised.

    Raises
    ------
    DataError
        From :func:`check_request`, or when no approach could be fitted.
    """
    if compare_fn is None:
        compare_fn = compare_approaches
    check_request(data, req)
    cols = [req.y, req.x, *req.mediators]
    taken = set(map(str, data.columns))
    alias = {}
    for k, c in enumerate(cols):
        if not (isinstance(c, str) and c.isidentifier()):
            a = f"zzmsemv{k}zz"
            while a in taken:
                a += "z"
            alias[c] = a
    df = data[[req.cluster, *cols]].rename(columns=alias)
    names = [alias.get(c, c) for c in cols]
    with collecting(quiet=True) as caught:
        cmp = compare_fn(df, req.cluster, names[0], names[1], mediators=names[2:] or None)
    back = {v: str(k) for k, v in alias.items()}
    notes = [_sub(str(m), back) for m in caught]
    if back:
        cmp = _unalias(cmp, back)
    if all(f is None for f in cmp.fits.values()):
        first = next(iter(cmp.errors.values()), None)
        raise DataError("no approach could be fitted"
                        + (f": {_sub(str(first), back)}" if first else ""))
    return cmp, notes


def _sub(text: str, back: dict) -> str:
    for a, name in back.items():
        text = text.replace(a, name)
    return text


def _unalias(cmp, back: dict):
    table = cmp.table.copy()
    for col in ("effect", "note"):
        table[col] = [_sub(str(v), back) for v in table[col]]
    return dataclasses.replace(
        cmp, table=table, y=back.get(cmp.y, cmp.y), x=back.get(cmp.x, cmp.x),
        mediators=tuple(back.get(m, m) for m in cmp.mediators),
        notes={k: _sub(v, back) for k, v in cmp.notes.items()},
        models={k: _sub(v, back) for k, v in cmp.models.items()},
        icc=cmp.icc.rename(index=lambda i: back.get(i, i)))
