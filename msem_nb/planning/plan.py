"""The result of :func:`msem_nb.power`: :class:`PowerPlan`.

``plan.table`` is the tidy table of :mod:`msem_nb.planning.summary` (one
row per design and parameter); ``figure()`` draws power over J,
``required()`` picks the cheapest design that reaches a power under a cost
model

    cost(design) = cost_cluster * J + cost_unit * J * (mean cluster size),

``report()`` writes an appendix for a proposal (:mod:`msem_nb.planning.report`)
and ``code()`` the Python that runs the study again.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from msem_nb.errors import ModelSpecificationError
from msem_nb.format import num
from msem_nb.planning.grid import Design, match_rows, param_name, parse_key
from msem_nb.planning.report import PowerReport, study_code

__all__ = ["PowerPlan"]


def _check_cost(value: object, name: str) -> float:
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        raise ModelSpecificationError(f"{name} must be a number, not {value!r}") from exc
    if not np.isfinite(v) or v < 0:
        raise ModelSpecificationError(f"{name} must be a non-negative number, not {value!r}")
    return v


@dataclass(frozen=True, eq=False)
class PowerPlan:
    """A finished power study (see :func:`msem_nb.power`).

    Attributes
    ----------
    table : pandas.DataFrame
        One row per design and parameter: design, n_clusters, cluster_size,
        n_units, one column per ``vary`` key, parameter, lhs, op, rhs, level,
        true, mean_est, bias, rel_bias, sd_est, mean_se, se_sd_ratio,
        coverage, power, converged, improper, reps, used, not_converged,
        failed (:mod:`msem_nb.planning.summary`).
    population, analysis : str
        The population syntax and the analysis syntax fitted.
    designs : tuple of Design
    reps, alpha, seed : the settings (``seed`` is the entropy actually used)
    vary : tuple of str
        The varied population parameters (columns of ``table``).
    errors : tuple of str
        The messages of failed replications (at most 20).
    engine : str
        "local" or "dask", with ``workers`` workers; ``elapsed`` seconds.
    """

    table: pd.DataFrame
    population: str
    analysis: str
    designs: tuple[Design, ...]
    reps: int
    alpha: float
    seed: int
    vary: tuple[str, ...]
    rows: tuple[dict, ...]
    settings: Mapping[str, object] = field(default_factory=dict)
    errors: tuple[str, ...] = ()
    engine: str = "local"
    workers: int = 1
    elapsed: float = 0.0
    cached: int = 0

    # -- lookups ---------------------------------------------------------
    def parameter(self, name: str) -> str:
        """The display name of the analysis parameter `name` ("y ~ x [between]")."""
        key = parse_key(name)
        r = self.rows[match_rows(key, list(self.rows), "analysis model")]
        shown = param_name(r["lhs"], r["op"], r["rhs"], r["level"])
        if shown not in set(self.table["parameter"]):
            raise ModelSpecificationError(
                f"'{name}' is fixed in the analysis model; it has no power to report")
        return shown

    def default_parameters(self) -> list[str]:
        """The varied parameters, else every regression path and := parameter."""
        names = []
        for v in self.vary:
            try:
                names.append(self.parameter(v))
            except ModelSpecificationError:
                continue
        if names:
            return names
        tab = self.table
        paths = tab.loc[tab["op"].isin(["~", ":="]), "parameter"].unique().tolist()
        return paths or tab["parameter"].unique().tolist()[:1]

    # -- required design -------------------------------------------------
    def required(self, parameter: str, power: float = 0.8, *, cost_cluster: float = 1.0,
                 cost_unit: float = 0.0, where: Mapping[str, float] | None = None):
        """The cheapest design whose power for `parameter` reaches `power`.

        Parameters
        ----------
        parameter : str
            An analysis parameter, ``"y ~ x [between]"`` or a label.
        power : float
            Target power, in (0, 1).
        cost_cluster, cost_unit : float
            Cost of recruiting one cluster and one level-1 unit; a design's
            cost is ``cost_cluster * J + cost_unit * J * mean size``. The
            default counts clusters. Ties go to the smaller N, then J.
        where : dict, optional
            ``{vary key: value}`` to pick one scenario.

        Returns
        -------
        pandas.Series or pandas.DataFrame or None
            The design's row of :attr:`table` with its ``cost``; None when
            no design reaches `power`. With several ``vary`` scenarios and
            no `where`, a DataFrame with the cheapest design per scenario
            (rows of scenarios that no design serves have NaN power).
        """
        name = self.parameter(parameter)
        try:
            target = float(power)
        except (TypeError, ValueError) as exc:
            raise ModelSpecificationError(f"power must be a number, not {power!r}") from exc
        if not 0.0 < target < 1.0:
            raise ModelSpecificationError(f"power must be between 0 and 1, not {power!r}")
        cc = _check_cost(cost_cluster, "cost_cluster")
        cu = _check_cost(cost_unit, "cost_unit")
        tab = self.table[self.table["parameter"] == name].copy()
        tab["cost"] = cc * tab["n_clusters"] + cu * tab["n_units"]
        for k, v in (where or {}).items():
            if k not in self.vary:
                raise ModelSpecificationError(
                    f"where: '{k}' is not a varied parameter; the study varies "
                    f"{', '.join(self.vary) or 'nothing'}")
            tab = tab[np.isclose(tab[k], float(v))]
            if tab.empty:
                raise ModelSpecificationError(f"where: the study has no scenario with {k} = {v}")
        ok = tab[tab["power"] >= target].sort_values(["cost", "n_units", "n_clusters"],
                                                      kind="mergesort")
        scenarios = [k for k in self.vary if tab[k].nunique() > 1]
        if not scenarios:
            return None if ok.empty else ok.iloc[0]
        best = ok.groupby(scenarios, sort=True).head(1).set_index(scenarios)
        every = tab[scenarios].drop_duplicates().set_index(scenarios)
        return every.join(best, how="left").reset_index()

    # -- output ----------------------------------------------------------
    def figure(self, parameter: str | list[str] | None = None, *, target: float | None = 0.8):
        """Power curves over the number of clusters (a Plotly figure).

        One line per parameter, cluster size and ``vary`` scenario; a dashed
        line at `target` (None: none). `parameter` defaults to the varied
        parameters, else every regression path and defined parameter.
        """
        import plotly.graph_objects as go

        names = ([self.parameter(parameter)] if isinstance(parameter, str) else
                 [self.parameter(p) for p in parameter] if parameter else
                 self.default_parameters())
        fig = go.Figure()
        tab = self.table[self.table["parameter"].isin(names)]
        groups = ["parameter", "cluster_size"] + list(self.vary)
        for keys, sub in tab.groupby(groups, sort=False):
            keys = keys if isinstance(keys, tuple) else (keys,)
            parts = [f"{keys[0]}", f"n = {keys[1]}"]
            parts += [f"{k} = {num(v, 'g')}" for k, v in zip(self.vary, keys[2:])]
            sub = sub.sort_values("n_clusters")
            fig.add_trace(go.Scatter(
                x=sub["n_clusters"], y=sub["power"], mode="lines+markers",
                name=", ".join(parts) if len(names) > 1 or len(parts) > 1 else parts[0],
                customdata=np.c_[sub["n_units"], sub["used"]],
                hovertemplate="J = %{x}<br>power = %{y:.3f}<br>N = %{customdata[0]:.0f}"
                              "<br>replications used: %{customdata[1]}<extra></extra>"))
        if target is not None:
            fig.add_hline(y=float(target), line_dash="dash", line_color="grey",
                          annotation_text=f"{float(target):g}", annotation_position="bottom right")
        fig.update_layout(xaxis_title="number of clusters J", yaxis_title=f"power (alpha = "
                          f"{self.alpha:g})", yaxis_range=[0, 1.02], template="plotly_white",
                          title=f"Power over {self.reps} replications per design",
                          legend_title_text="")
        return fig

    def report(self, parameter: str | None = None, power: float = 0.8, **costs):
        """An appendix for a proposal (:class:`msem_nb.planning.report.PowerReport`)."""
        return PowerReport(self, parameter, power, **costs)

    def code(self) -> str:
        """Python that runs this study again (same seed, same table)."""
        return study_code(self)

    def key_table(self) -> pd.DataFrame:
        """The main columns of :attr:`table`, for display."""
        cols = ["n_clusters", "cluster_size", *self.vary, "parameter", "true", "mean_est",
                "rel_bias", "se_sd_ratio", "coverage", "power", "converged"]
        return self.table[cols]

    def __repr__(self) -> str:
        return (f"<msem_nb PowerPlan: {len(self.designs)} designs x {self.reps} replications, "
                f"{self.table['parameter'].nunique()} parameters, seed {self.seed}>")

    def _repr_html_(self) -> str:
        e = html.escape
        head = (f"<p><b>Power study</b>: {len(self.designs)} designs &times; {self.reps} "
                f"replications, alpha = {self.alpha:g}, seed {self.seed}; {e(self.engine)} "
                f"engine, {self.workers} worker(s), {self.elapsed:.1f} s.</p>")
        tab = self.key_table()
        cells = []
        for _, row in tab.iterrows():
            cells.append("<tr>" + "".join(
                f"<td>{e(num(v, '.3f', ''))}</td>" for v in row.to_numpy()) + "</tr>")
        header = "".join(f"<th>{e(str(c))}</th>" for c in tab.columns)
        failed = int(self.table.drop_duplicates("design")["failed"].sum())
        note = (f"<p>{failed} replication(s) failed; see <code>plan.errors</code>.</p>"
                if failed else "")
        return (f"<div class='msem-power'>{head}<table><thead><tr>{header}</tr></thead>"
                f"<tbody>{''.join(cells)}</tbody></table>{note}</div>")
