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


def estimate_row(res, row):
    """The row of ``res.estimates`` matching a lavaan parameter-table row."""
    est = res.estimates
    level = {1: "within", 2: "between"}.get(row.get("level"), "")
    m = est[(est.lhs == row["lhs"]) & (est.op == row["op"]) & (est.rhs == row["rhs"])
            & (est.level == level)]
    assert len(m) == 1, row
    return m.iloc[0]
