"""Blocks keyed by (group, level): the keys, the queries, and code that iterates them."""

import dataclasses

import numpy as np
import pandas as pd
import pytest

import msem_nb as ms
from msem_nb.errors import ModelSpecificationError
from msem_nb.inference.fitmeasures import srmr_key
from msem_nb.likelihood.objective import Objective
from msem_nb.model.blocks import BlockKey, level_keys, ov_positions
from msem_nb.model.partable import BlockVars, ParTable, build_partable
from msem_nb.model.spec import build_spec
from msem_nb.present.diagram import PANEL_TITLES, path_diagram
from msem_nb.present.layout import compute_layout, model_graph
from msem_nb.syntax.parser import parse

TWO = ("level: within\n fw =~ y1 + y2 + y3\n fw ~ x1\n"
       "level: between\n fb =~ y1 + y2 + y3\n fb ~ w1")
# the same model with the between block written first
TWO_REVERSED = ("level: between\n fb =~ y1 + y2 + y3\n fb ~ w1\n"
                "level: within\n fw =~ y1 + y2 + y3\n fw ~ x1")


# -- the keys -------------------------------------------------------------------

def test_block_keys_compare_and_sort_by_group_then_level():
    w, b = BlockKey(1, 1, "within"), BlockKey(1, 2, "between")
    assert sorted([BlockKey(2, 1, "within"), b, w]) == [w, b, BlockKey(2, 1, "within")]
    # the name is a label: it does not take part in equality or hashing
    assert BlockKey(1, 2, "between") == BlockKey(1, 2) and hash(b) == hash(BlockKey(1, 2))
    assert w.is_lowest and not b.is_lowest
    assert str(b) == "between" and str(BlockKey(2, 2, "between")) == "group 2, between"
    with pytest.raises(dataclasses.FrozenInstanceError):
        w.level = 3


def test_level_keys_come_from_the_parsed_labels_lowest_first():
    assert level_keys(()) == (BlockKey(1, 1, ""),)
    keys = level_keys(("between", "within"))
    assert [(k.group, k.level, k.name) for k in keys] == [(1, 1, "within"), (1, 2, "between")]
    with pytest.raises(ModelSpecificationError, match="'between' is missing"):
        level_keys(("within",))


def test_three_levels_get_numbers_from_their_labels():
    # 1/within, 2/between and 3 keep their numbers; other names take the rest in order
    keys = level_keys(("within", "between", "3"))
    assert [(k.level, k.name) for k in keys] == [(1, "within"), (2, "between"), (3, "3")]
    keys = level_keys(("school", "within", "class"))
    assert [(k.level, k.name) for k in keys] == [(1, "within"), (2, "school"), (3, "class")]
    keys = level_keys(("within", "class", "school"))
    assert [(k.level, k.name) for k in keys] == [(1, "within"), (2, "class"), (3, "school")]
    with pytest.raises(ModelSpecificationError, match=r"level '4' has no place"):
        level_keys(("within", "between", "4"))
    # a two-level model still needs within and between
    with pytest.raises(ModelSpecificationError, match=r"'school' is not supported yet"):
        level_keys(("within", "school"))


def test_more_than_three_levels_are_refused_with_their_labels():
    with pytest.raises(ModelSpecificationError,
                       match=r"four-level models are not supported") as info:
        level_keys(("within", "between", "3", "4"))
    assert "'within', 'between', '3', '4'" in str(info.value)


def test_a_parsed_model_with_a_third_level_builds_three_blocks():
    parsed = parse(TWO)
    third = parse("y1 ~ z1").statements[0]
    third = dataclasses.replace(third, level="3")
    parsed = dataclasses.replace(parsed, statements=parsed.statements + (third,),
                                 levels=parsed.levels + ("3",))
    pt = build_partable(parsed)
    assert pt.nlevels == 3 and [k.level for k in pt.block_keys] == [1, 2, 3]
    # the mean of y1 lives at its highest level: fixed at zero at levels 1 and 2
    tab = pt.table
    means = tab[(tab.lhs == "y1") & (tab.op == "~1")]
    assert list(means["level"]) == ["within", "between", "3"]
    assert list(means["free"] > 0) == [False, False, True]


# -- the queries ------------------------------------------------------------------

def test_two_level_table_queries():
    pt = build_partable(parse(TWO))
    assert pt.block_keys == (BlockKey(1, 1), BlockKey(1, 2))
    assert [k.name for k in pt.block_keys] == ["within", "between"]
    assert pt.level_names == ("within", "between")
    assert pt.multilevel and pt.nlevels == 2 and pt.groups == (1,)
    assert pt.block_of("between") == pt.block_of(2) == 1
    assert pt.block_of("within") == pt.block_of(1) == 0
    assert pt.blocks_of_level("between") == (1,) and pt.blocks_of_level(1) == (0,)
    assert pt.find_block("school") is None and pt.find_block(2, group=2) is None
    with pytest.raises(KeyError, match="no block of level 3"):
        pt.block_of(3)
    assert pt.is_lowest(0) and not pt.is_lowest(1)
    assert pt.block_ov(1) == pt.blocks[1].ov == ("y1", "y2", "y3", "w1")
    # every row carries its block's group and level
    tab = pt.table
    assert list(tab.columns[:7]) == ["id", "lhs", "op", "rhs", "block", "group", "level"]
    for b, g, lvl in zip(tab["block"], tab["group"], tab["level"]):
        assert (g, lvl) == (pt.block_keys[b].group, pt.block_keys[b].name)
    assert pt.roles() == (("y1", "y2", "y3", "x1"), ("w1",), ("y1", "y2", "y3"))


def test_block_order_does_not_depend_on_the_order_of_the_level_lines():
    a = build_partable(parse(TWO))
    b = build_partable(parse(TWO_REVERSED))
    assert a.block_keys == b.block_keys and a.blocks == b.blocks
    cols = ["lhs", "op", "rhs", "block", "group", "level", "free"]
    key = ["block", "lhs", "op", "rhs"]
    pd.testing.assert_frame_equal(a.table[cols].sort_values(key).reset_index(drop=True),
                                  b.table[cols].sort_values(key).reset_index(drop=True))


def test_single_level_table_queries():
    pt = build_partable(parse("f =~ y1 + y2 + y3\n f ~ x1"))
    assert pt.block_keys == (BlockKey(1, 1, ""),) and pt.blocks[0].key.name == ""
    assert pt.level_names == ("",) and not pt.multilevel
    assert pt.block_of(1) == 0 and pt.find_block("within") is None
    assert set(pt.table["group"]) == {1}
    assert pt.roles() == (pt.blocks[0].ov, (), ())


def test_positions_of_each_block_in_the_data_vector(demo):
    pt = build_partable(parse(TWO))
    within, between_only, _ = pt.roles()
    names = within + between_only          # the data vector of two-level data
    assert list(pt.ov_positions(0, names)) == [0, 1, 2, 3]
    assert list(pt.ov_positions(1, names)) == [0, 1, 2, 4]
    assert list(ov_positions(("w1", "y1"), names)) == [4, 0]
    spec = build_spec(pt)
    assert spec.block_keys == pt.block_keys and spec.block_of("between") == 1
    assert spec.blocks[1].ov == pt.blocks[1].ov
    res = ms.fit(TWO, demo, cluster="cluster")
    obj = res.estimation.objective
    assert isinstance(obj, Objective)
    assert [list(p) for p in obj.positions] == [[0, 1, 2, 3], [0, 1, 2, 4]]
    assert list(obj.between_pos) == [0, 1, 2, 4]


def test_block_vars_key_defaults_and_consistency():
    bv = BlockVars("between", (), ("y",), (), (), ())
    assert bv.key == BlockKey(1, 2) and bv.key.name == "between"
    with pytest.raises(ValueError, match="does not match"):
        BlockVars("within", (), ("y",), (), (), (), BlockKey(1, 2, "between"))
    with pytest.raises(ModelSpecificationError, match="unknown level 'school'"):
        BlockVars("school", (), ("y",), (), (), ())
    tab = pd.DataFrame({"lhs": ["y"], "op": ["~~"], "rhs": ["y"], "block": [0],
                        "level": ["between"], "free": [1], "exo": [False]})
    with pytest.raises(ValueError, match="nlevels=2 but the blocks have 1 level"):
        ParTable(tab, (bv,), True, 2)


# -- code that iterates the blocks --------------------------------------------------

def test_srmr_per_block_sums_to_the_total(demo):
    fm = ms.fit(TWO, demo, cluster="cluster").fit_measures
    keys = [srmr_key(k) for k in build_partable(parse(TWO)).block_keys]
    assert keys == ["srmr_within", "srmr_between"]
    assert fm["srmr"] == pytest.approx(fm["srmr_within"] + fm["srmr_between"], abs=1e-15)
    assert 0 < fm["srmr_within"] < 0.2 and 0 < fm["srmr_between"] < 0.5
    assert srmr_key(BlockKey(2, 1, "within")) == "srmr_within_group2"


def _three_level_table():
    """A hand-built table with a third level: the presentation needs no edit for it."""
    rows = [("y", "~", "x", 0, "within", 1), ("y", "~~", "y", 0, "within", 2),
            ("y", "~", "w", 1, "between", 3), ("y", "~~", "y", 1, "between", 4),
            ("y", "~", "s", 2, "school", 5), ("y", "~~", "y", 2, "school", 6)]
    tab = pd.DataFrame(rows, columns=["lhs", "op", "rhs", "block", "level", "free"])
    tab.insert(0, "id", np.arange(1, len(tab) + 1))
    tab["label"], tab["ustart"], tab["exo"] = "", np.nan, False
    blocks = (BlockVars("within", (), ("y", "x"), ("x",), (), ()),
              BlockVars("between", (), ("y", "w"), ("w",), (), ()),
              BlockVars("school", (), ("y", "s"), ("s",), (), (), BlockKey(1, 3, "school")))
    return ParTable(tab, blocks, True, 3)


def test_diagram_stacks_one_panel_per_level_from_the_top_down():
    pt = _three_level_table()
    assert pt.level_names == ("within", "between", "school")
    g = model_graph(pt)
    assert g.levels == ["within", "between", "school"] and g.lowest == "within"
    assert g.both == frozenset({"y"}) and g.nodes["school"]["y"] == "random_intercept"
    places = compute_layout(pt, g)

    def span(lvl):
        ys = [(p.y - p.height / 2, p.y + p.height / 2) for k, p in places.items() if k[0] == lvl]
        return min(a for a, _ in ys), max(b for _, b in ys)

    # each level's panel clears the one below it
    assert span("between")[0] > span("within")[1]
    assert span("school")[0] > span("between")[1]
    fig = path_diagram(pt)
    titles = [a.text for a in fig.layout.annotations if (a.name or "").startswith("panel-title:")]
    # from the top level down; known levels keep their titles, others a generic one
    assert titles == ["<b>Level 3 (school)</b>", f"<b>{PANEL_TITLES['between']}</b>",
                      f"<b>{PANEL_TITLES['within']}</b>"]
    assert {s.name for s in fig.layout.shapes} >= {"panel:school", "panel:between",
                                                    "panel:within"}
