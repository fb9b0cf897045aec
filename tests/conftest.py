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
