"""Indirect effects of the Results screen agree with the core's ':=' delta method."""

import pytest

import msem_nb as ms
from msem_nb.widget.effects import indirect_effects


@pytest.mark.parametrize("labelled, cluster", [
    ("visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\n"
     "textual ~ a*visual + ageyr\nx7 ~ b*textual\nab := a*b\n", None),
    ("level: within\n  y2 ~ b*y1\n  y1 ~ a*x1\nlevel: between\n  y2 ~ y1\n  y1 ~ w1\n"
     "ab := a*b\n", "cluster"),
])
def test_indirect_effects_match_defined_parameters(labelled, cluster, hs, demo):
    data = demo if cluster else hs
    fit = ms.fit(labelled, data, cluster=cluster)
    eff = indirect_effects(fit)
    ref = fit.estimates.set_index("lhs").loc["ab"]
    first = "visual" if cluster is None else "x1"
    row = eff[(eff["from"] == first) & (eff["path"].str.count("->") == 2)].iloc[0]
    assert row["est"] == pytest.approx(ref["est"], rel=1e-8)
    assert row["se"] == pytest.approx(ref["se"], rel=1e-4)
    assert row["level"] == ("within" if cluster else "")
    if cluster:
        # the between chain w1 -> y1 -> y2 is found too
        assert (eff["path"] == "w1 -> y1 -> y2").any()
