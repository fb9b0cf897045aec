"""Switches are reversible (issue 13, item 1): msem_nb.widget.switches and the panel.

Switching anything off restores the syntax it had before it was switched on,
including parts added on its behalf (a between variance), and a random walk
of toggles, walked back, gives back the starting model. The walks use a
seeded ``random.Random``.
"""

import itertools
import random

import pytest

import msem_nb as ms
from msem_nb.teaching.examples import EXAMPLE_MODELS
from msem_nb.widget.controller import PanelController
from msem_nb.widget.model import TWO_LEVELS, ModelState, read_syntax
from msem_nb.widget.switches import Switchboard, switch_is_on

WITH_SLOPE = ("level: within\n  math ~ a*ses\n  s1 | mot1 ~ hours\nlevel: between\n"
              "  s1 ~ teacher_exp\n  math ~~ math\n")
BASES = [EXAMPLE_MODELS["classrooms"], "", WITH_SLOPE]


@pytest.fixture(scope="module")
def classrooms():
    return ms.load_example("classrooms")


@pytest.fixture(scope="module")
def roles(classrooms):
    dec = ms.decompose(classrooms, "class_id", [c for c in classrooms if c != "class_id"])
    return {r["variable"]: r["role"] for r in dec.roles.to_dict("records")}


def _board(text, roles, columns):
    model, _ = read_syntax(text)
    if model.is_empty():
        model = ModelState(TWO_LEVELS)
    return model, Switchboard(model, lambda: roles, columns)


def _switches(model, columns):
    """Every path, (co)variance and random-slope switch among six columns, the model's
    latent variables and (between) its random slopes."""
    obs = [c for c in columns if c != "class_id"][:6]
    out = []
    for lv in model.levels:
        names = obs + model.latent_names(lv) + (
            model.slope_names() if lv == model.cluster_level else [])
        out += [("path", lv, a, b) for a, b in itertools.permutations(names, 2)]
        out += [("cov", lv, a, b) for a, b in itertools.combinations_with_replacement(names, 2)]
    out += [("slope", y, x) for y, x in itertools.permutations(obs, 2)]
    return out


def test_the_issue_repro_switching_a_within_path_on_and_off(classrooms):
    p = ms.Panel(classrooms, cluster="class_id")
    try:
        p.wait(60)
        before = p.syntax
        p.toggle_path("mot1", "hours", "within", True)
        # mot1 varies between classes: its between variance comes with the path
        assert "mot1 ~ hours" in p.syntax and "mot1 ~~ mot1" in p.syntax
        assert p.wait(60) is not None and p.status.state == "ok"
        p.toggle_path("mot1", "hours", "within", False)
        assert p.syntax == before == ""
        p.wait(60)
        assert p.error is None and p.status.state == "idle"
        assert "no statements" not in p.status.message
        assert "only at the between level" not in p.status.message
    finally:
        p.close()


def test_a_part_added_on_behalf_stays_while_another_switch_needs_it(classrooms, roles):
    model, board = _board("", roles, classrooms.columns)
    p1, p2 = ("path", "within", "math", "ses"), ("path", "within", "math", "hours")
    board.toggle(p1, True)
    board.toggle(p2, True)
    assert model.to_syntax().count("math ~~ math") == 1
    board.toggle(p1, False)                     # p2 still needs math's between part
    assert "math ~~ math" in model.to_syntax()
    board.toggle(p2, False)
    assert model.to_syntax() == ""
    # the other order too
    board.toggle(p1, True)
    board.toggle(p2, True)
    board.toggle(p2, False)
    board.toggle(p1, False)
    assert model.to_syntax() == ""


def test_a_part_the_user_switches_is_theirs(classrooms, roles):
    model, board = _board("", roles, classrooms.columns)
    path, var = ("path", "within", "math", "ses"), ("cov", "between", "math", "math")
    board.toggle(path, True)
    board.toggle(var, False)                    # the user does not want it
    assert "math ~~ math" not in model.to_syntax() and "math ~ ses" in model.to_syntax()
    board.toggle(path, False)
    assert model.to_syntax() == ""
    # a variance the user switched on first is theirs: a path that needs it leaves it
    board.toggle(var, True)
    board.toggle(path, True)
    assert model.to_syntax().count("math ~~ math") == 1
    board.toggle(path, False)
    assert model.to_syntax() == "level: within\nlevel: between\n  math ~~ math\n"


def test_labels_slopes_and_statements_about_a_slope_come_back(classrooms, roles):
    model, board = _board(WITH_SLOPE, roles, classrooms.columns)
    start = model.to_syntax()
    path = ("path", "within", "mot1", "hours")
    board.toggle(path, False)                   # removes s1 and "s1 ~ teacher_exp"
    assert "s1" not in model.to_syntax()
    board.toggle(path, True)
    assert model.to_syntax() == start
    slope = ("slope", "math", "ses")            # random slope of a labelled path
    board.toggle(slope, True)
    assert "a*ses" not in model.to_syntax()
    board.toggle(slope, False)
    assert model.to_syntax() == start
    # a label survives any way back: path off, a slope on and off, path on
    board.toggle(("path", "within", "math", "ses"), False)
    board.toggle(slope, True)
    board.toggle(slope, False)
    assert "math ~" not in model.to_syntax().split("level: between")[0]
    board.toggle(("path", "within", "math", "ses"), True)
    assert model.to_syntax() == start


@pytest.mark.parametrize("base", range(len(BASES)))
def test_every_toggle_is_undone_by_its_opposite_along_random_walks(classrooms, roles, base):
    for seed in range(120):
        rng = random.Random(seed)
        model, board = _board(BASES[base], roles, classrooms.columns)
        switches = _switches(model, classrooms.columns)
        for _ in range(rng.randint(1, 25)):
            key = rng.choice(switches)
            was, text = switch_is_on(model, key), model.to_syntax()
            assert board.toggle(key, not was) is (not was)
            board.toggle(key, was)
            assert model.to_syntax() == text, (seed, key)
            # then walk on, anywhere
            board.toggle(rng.choice(switches), rng.choice([True, False, None]))


@pytest.mark.parametrize("base", range(len(BASES)))
def test_switching_everything_back_in_any_order_restores_the_model(classrooms, roles, base):
    for seed in range(120):
        rng = random.Random(1000 + seed)
        model, board = _board(BASES[base], roles, classrooms.columns)
        start_text = model.to_syntax()
        switches = _switches(model, classrooms.columns)
        start = {k: switch_is_on(model, k) for k in switches}
        for _ in range(rng.randint(1, 30)):
            board.toggle(rng.choice(switches), rng.choice([True, False, None]))
        for _ in range(500):
            # slopes switched on add their own switches (between statements about them)
            differ = [k for k in dict.fromkeys(switches + _switches(model, classrooms.columns))
                      if switch_is_on(model, k) != start.get(k, False)]
            if not differ:
                break
            key = rng.choice(differ)
            board.toggle(key, start.get(key, False))
        assert model.to_syntax() == start_text, seed


class _Quiet:
    def __getattr__(self, name):
        return lambda *a, **k: None


def test_the_controller_walks_back_too(classrooms):
    ctl = PanelController(classrooms, "class_id", EXAMPLE_MODELS["classrooms"], view=_Quiet(),
                          fit_fn=lambda *a, **k: None, diagram_fn=lambda fit: None,
                          debounce=30.0)

    def flip(key, on):
        kind, level, a, b = key
        if kind == "path":
            return ctl.toggle_path(a, b, level, on)
        if kind == "cov":
            return ctl.toggle_covariance(a, b, level, on)
        return ctl.toggle_random_slope(a, b, on)

    def state(key):
        kind, level, a, b = key
        return switch_is_on(ctl.model, ("slope", a, b) if kind == "slope" else key)

    try:
        ctl.start()
        assert ctl.wait(60)
        start_text = ctl.syntax
        rng = random.Random(7)
        names = ["mot1", "mot2", "math", "ses", "hours"]
        touched = {}
        for _ in range(40):
            a, b = rng.sample(names, 2)
            kind = rng.choice(["path", "cov", "slope"])
            if kind != "path":
                a, b = sorted((a, b))           # one key per switch
            key = (kind, "within" if kind == "slope" else rng.choice(["within", "between"]), a, b)
            before = state(key)
            try:
                flip(key, None)
            except ValueError:
                continue                        # a click the model refuses changes nothing
            touched.setdefault(key, before)
        assert ctl.syntax != start_text
        for _ in range(200):
            differ = [k for k, on in touched.items() if state(k) != on]
            if not differ:
                break
            key = rng.choice(differ)
            flip(key, touched[key])
        assert ctl.syntax == start_text
    finally:
        ctl.close()


def _with_loadings(model, columns):
    """The switches of :func:`_switches` and a loading of every latent variable on each of
    six columns (the Results screen frees cross-loadings through them)."""
    obs = [c for c in columns if c != "class_id"][:6]
    return _switches(model, columns) + [("load", lv, f, y) for lv in model.levels
                                        for f in model.latent_names(lv) for y in obs]


@pytest.mark.parametrize("base", [0, 2])
def test_loading_switches_walk_back_too(classrooms, roles, base):
    text = BASES[base] if base == 0 else BASES[base].replace(
        "level: within\n", "level: within\n  f =~ mot2 + mot3\n")
    for seed in range(80):
        rng = random.Random(500 + seed)
        model, board = _board(text, roles, classrooms.columns)
        start_text = model.to_syntax()
        switches = _with_loadings(model, classrooms.columns)
        start = {k: switch_is_on(model, k) for k in switches}
        for _ in range(rng.randint(1, 25)):
            key = rng.choice(switches)
            was, before = switch_is_on(model, key), model.to_syntax()
            assert board.toggle(key, not was) is (not was)
            board.toggle(key, was)
            assert model.to_syntax() == before, (seed, key)
            board.toggle(rng.choice(switches), rng.choice([True, False, None]))
        for _ in range(500):
            differ = [k for k in dict.fromkeys(switches + _with_loadings(model, classrooms.columns))
                      if switch_is_on(model, k) != start.get(k, False)]
            if not differ:
                break
            key = rng.choice(differ)
            board.toggle(key, start.get(key, False))
        assert model.to_syntax() == start_text, seed


def test_a_loading_switch_adds_a_cross_loading_in_its_block(classrooms, roles):
    model, board = _board(EXAMPLE_MODELS["classrooms"], roles, classrooms.columns)
    start = model.to_syntax()
    assert board.toggle(("load", "within", "motw", "math"), True)
    assert "motw =~ mot1 + mot2 + mot3 + mot4 + math\n" in model.to_syntax()
    assert "motb =~ mot1 + mot2 + mot3 + mot4\n" in model.to_syntax()
    assert not board.toggle(("load", "within", "motw", "math"), False)
    assert model.to_syntax() == start
    # the marker switched off and on again keeps its place (and so the scale)
    board.toggle(("load", "between", "motb", "mot1"), False)
    assert "motb =~ mot2 + mot3 + mot4\n" in model.to_syntax()
    board.toggle(("load", "between", "motb", "mot1"), True)
    assert model.to_syntax() == start
