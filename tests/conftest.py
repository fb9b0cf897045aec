import json
from pathlib import Path

import pandas as pd
import pytest

FIXTURES = Path(__file__).parent / "fixtures"


def load_reference(name):
    return json.loads((FIXTURES / f"{name}.json").read_text())


@pytest.fixture(scope="session")
def demo():
    return pd.read_csv(FIXTURES / "Demo.twolevel.csv")


@pytest.fixture(scope="session")
def hs():
    return pd.read_csv(FIXTURES / "HolzingerSwineford1939.csv")


#: lavaan's level numbers in its parameter table -> our level names
LAVAAN_LEVELS = {1: "within", 2: "between"}


def lavaan_matches(res, row):
    """The rows of ``res.estimates`` matching a lavaan parameter-table row.

    lavaan numbers levels (1 within, 2 between; absent for single-level
    models) and leaves ``rhs`` empty on ``:=`` rows, which have no level.
    """
    est = res.estimates
    level = "" if row["op"] == ":=" else LAVAAN_LEVELS.get(row.get("level"), "")
    sel = (est.lhs == row["lhs"]) & (est.op == row["op"]) & (est.level == level)
    if row["op"] != ":=":
        sel &= est.rhs == row["rhs"]
    return est[sel]


def estimate_row(res, row):
    """The one row of ``res.estimates`` matching a lavaan parameter-table row."""
    m = lavaan_matches(res, row)
    assert len(m) == 1, row
    return m.iloc[0]
