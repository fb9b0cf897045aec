"""The panel and random slopes (issue 14, items 6 and 8): the Results screen shows the
clusters' own estimates of a random-slope fit (caterpillar plots, lines per cluster),
and the random-slope switch takes latent variables of the within level.

Real panels, real fits and the real widgets; what the page would draw is read from the
widgets' traits.
"""

import numpy as np
import pytest

pytest.importorskip("anywidget")
pytest.importorskip("plotly")

import msem_nb as ms  # noqa: E402
from msem_nb.widget.gridspec import grid_spec  # noqa: E402


def _open_results(panel):
    panel.tabs.selected_index = panel.screens.index(panel._results)
    assert panel.checks.wait(60)


def _settle(panel):
    panel.wait(60)
    assert panel.checks.wait(60)


def test_results_show_the_clusters_estimates(demo):
    p = ms.Panel(demo, cluster="cluster", model="level: within\n  y1 ~ x1\n"
                                                 "level: between\n  y1 ~ w1\n")
    try:
        p.wait(60)
        _open_results(p)
        res = p._results
        assert res.slopes_box.layout.display == "none"      # no random slopes yet
        p.toggle_random_slope("y1", "x1", True)
        _settle(p)
        assert p.result.partable.slopes
        assert res.slopes_box.layout.display == ""
        assert list(res.slope_choice.options) == ["s1: each cluster's estimate",
                                                  "s1: a line per cluster"]
        assert res.slope_plot.figure      # sent to the page
        fig = res.slope_plot.shown
        pred = p.result.predict(level="between")
        assert np.allclose(fig.data[0].y, np.sort(pred["s1"].to_numpy()))
        res.slope_choice.value = "s1: a line per cluster"
        lines = res.slope_plot.shown
        assert '"scattergl"' in res.slope_plot.figure
        assert [t.type for t in lines.data] == ["scattergl", "scatter", "scatter"]
        # fixed again: the section goes away
        p.toggle_random_slope("y1", "x1", False)
        _settle(p)
        assert not p.result.partable.slopes
        assert res.slopes_box.layout.display == "none"
    finally:
        p.close()


LATENT = ("level: within\n  fw =~ y1 + y2 + y3\n  y4 ~ fw\n"
          "level: between\n  fb =~ y1 + y2 + y3\n  y4 ~~ y4\n")


def test_the_random_slope_switch_takes_a_latent_covariate(demo):
    """A within latent variable is offered as the covariate (and outcome) of a random
    slope; switched on, the panel fits the slope by quadrature and shows its clusters'
    estimates (no lines: the covariate has no data); switched off, the text comes back."""
    small = demo[demo["cluster"] <= demo["cluster"].unique()[19]]
    p = ms.Panel(small, cluster="cluster", model=LATENT)
    try:
        p.wait(60)
        start = p.syntax
        spec = grid_spec(p._ctl.model, p._ctl.variables, columns=list(small.columns))
        within = spec["levels"][0]
        assert "fw" in within["slope_x"] and "fw" in within["slope_y"]
        assert "fb" not in within["slope_x"]       # a between latent variable is not
        _open_results(p)
        assert p.toggle_random_slope("y4", "fw", True) == "s1"
        assert "s1 | y4 ~ fw" in p.syntax
        _settle(p)
        assert p.error is None and p.result.partable.slopes == {"s1": ("y4", "fw")}
        res = p._results
        assert list(res.slope_choice.options) == ["s1: each cluster's estimate"]
        assert res.slope_plot.figure
        assert np.allclose(res.slope_plot.shown.data[0].y,
                           np.sort(p.result.predict(level="between")["s1"].to_numpy()))
        assert "No lines for s1" in res.slope_note.value
        assert "latent at the within level" in res.slope_note.value
        assert p.toggle_random_slope("y4", "fw", False) is None
        assert p.syntax == start
        with pytest.raises(ValueError, match="latent variable of the within level"):
            p.toggle_random_slope("y4", "fb", True)
    finally:
        p.close()
