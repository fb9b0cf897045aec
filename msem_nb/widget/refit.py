"""The panel's refits: a parsed model to a FitResult, with no text and no parsing in between.

Every switch refits. :class:`Refitter` takes the model as the controller
holds it (a :class:`~msem_nb.syntax.parser.ParsedModel`: the one a typed
text parsed to, or :meth:`~msem_nb.widget.model.ModelState.to_parsed` after
a switch) and runs the package's one pipeline::

    parsed -> build_partable -> prepare -> fit_prepared -> FitResult
              (model.partable)  (estimation.pipeline)     (api.fit_partable)

``prepare`` (the data container: listwise or FIML rows, cluster sums) is
reused while everything it depends on is unchanged: the cluster column,
the variables' roles in the table (within, between-only, both; the fixed
covariates; slope and latent names, which must not be columns) and the
missing-data, centring and fixed-x options. Switching a path among the same
variables, or the estimator, reuses it; a new variable prepares again.
The result equals :func:`msem_nb.fit` of the model's text (tested).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pandas as pd

from msem_nb.api import fit_partable
from msem_nb.data.groups import split_groups
from msem_nb.data.protocol import ModelData
from msem_nb.estimation.groups import prepare_groups
from msem_nb.estimation.options import FitOptions
from msem_nb.estimation.pipeline import prepare
from msem_nb.messages import collecting
from msem_nb.model.groups import build_group_partable
from msem_nb.model.partable import ParTable, build_partable
from msem_nb.results import FitResult
from msem_nb.syntax.parser import ParsedModel

__all__ = ["Refitter"]

_Prepared = tuple[ModelData, dict[str, str], tuple[str, ...]]


class Refitter:
    """Fits parsed models on one DataFrame, keeping the prepared data it can reuse.

    Parameters
    ----------
    data : pandas.DataFrame
        The panel's data (never modified).
    keep : int
        How many prepared data containers to keep (the most recent).

    Attributes
    ----------
    prepared : int
        How many times the data were prepared (a cache miss).
    reused : int
        How many fits reused prepared data.

    Notes
    -----
    Not thread-safe: the panel calls it from its one fit worker only.
    """

    def __init__(self, data: pd.DataFrame, keep: int = 8):
        self.data = data
        self.keep = int(keep)
        self.prepared = 0
        self.reused = 0
        self._cache: dict[tuple, _Prepared] = {}

    def table(self, parsed: ParsedModel, options: FitOptions) -> tuple[ParTable, tuple]:
        """The parameter table of `parsed` and the messages of building it.

        The panel draws a new model's diagram from it before the fit is done.
        """
        with collecting(quiet=True) as early:
            pt = build_partable(parsed, meanstructure=options.resolved_meanstructure(),
                                fixed_x=options.fixed_x)
        return pt, tuple(early)

    def fit(self, parsed: ParsedModel, cluster: Any, options: FitOptions, *,
            model: str = "", table: tuple[ParTable, tuple] | None = None,
            group: Any = None) -> FitResult:
        """Fit `parsed` on the data.

        Parameters
        ----------
        parsed : ParsedModel
        cluster : str or None
        options : FitOptions
        model : str
            The text the result reports as its model (the syntax box).
        table : (ParTable, messages), optional
            What :meth:`table` gave for `parsed` and `options` (not built again).
        group : str, optional
            Group column: the model in every group (:mod:`msem_nb.model.groups`;
            the data are prepared per group, and kept as the rest).

        Returns
        -------
        FitResult
            Its ``messages`` are those :func:`msem_nb.fit` would record, in
            the same order, including the data's (dropped rows, ...) when
            the prepared data were reused.
        """
        if group is not None:
            with collecting(quiet=True) as got:
                labels, _ = split_groups(self.data, group)
                pt = build_group_partable(parsed, len(labels),
                                          meanstructure=options.resolved_meanstructure(),
                                          fixed_x=options.fixed_x)
            early: tuple = tuple(got)
        else:
            pt, early = table if table is not None else self.table(parsed, options)
        prepared, centering, prep_messages = self._prepare(pt, cluster, options, group)
        # the panel's refits leave out the level-specific fit (two more fits per refit)
        res = fit_partable(pt, prepared, cluster, options, model=model, centering=centering,
                           quiet=True, group=group, level_fit=False)
        return replace(res, messages=tuple(early) + prep_messages + tuple(res.messages))

    def _prepare(self, pt: ParTable, cluster: Any, options: FitOptions,
                 group: Any = None) -> _Prepared:
        within, between_only, both = pt.roles()
        # everything prepare() reads from the table and the options
        key = (cluster, pt.nlevels, tuple(within), tuple(between_only), tuple(both),
               tuple(pt.exogenous), tuple(pt.slopes), tuple(pt.lv_names),
               options.missing, options.center, options.fixed_x, group)
        hit = self._cache.get(key)
        if hit is not None:
            self.reused += 1
            return hit
        with collecting(quiet=True) as messages:
            if group is not None:
                prepared, centering = prepare_groups(pt, self.data, cluster, group, options)
            else:
                prepared, centering = prepare(pt, self.data, cluster, options)
        self.prepared += 1
        entry = (prepared, dict(centering), tuple(messages))
        self._cache[key] = entry
        while len(self._cache) > self.keep:
            self._cache.pop(next(iter(self._cache)))
        return entry
