"""The panel's table cells go through the package's one number formatter (msem_nb.format)."""

import math

import numpy as np

from msem_nb.format import num, pvalue
from msem_nb.widget.model import syntax_number
from msem_nb.widget.tables import cell, pvalue_cell


def test_cells_format_numbers_and_leave_missing_ones_empty():
    assert cell(0.12345) == "0.123"
    assert cell(-1.5, 2) == "-1.50"
    assert cell(np.float64(2.0)) == "2.000"
    assert cell(2500.0) == "2,500"          # a whole count reads as a count
    assert cell(2500.5) == "2500.500"
    for missing in (math.nan, np.nan, math.inf, -math.inf):
        assert cell(missing) == ""
    assert cell("<b>") == "&lt;b&gt;"         # not a number: escaped text
    # the same missing rule as the package's formatter, with "" for a table cell
    assert num(math.nan, missing="") == cell(math.nan) == ""


def test_pvalues():
    assert pvalue(0.0004) == "<.001" and pvalue(0.001) == "0.001" and pvalue(0.5) == "0.500"
    assert pvalue(None) == pvalue(math.nan) == pvalue("n/a") == "NA"
    assert pvalue(math.nan, missing="") == ""
    assert pvalue(0.004, digits=2) == "<.01"
    assert pvalue_cell(1e-9) == "&lt;.001" and pvalue_cell(0.04321) == "0.043"
    assert pvalue_cell(math.nan) == ""


def test_syntax_numbers_round_trip_exactly():
    for v in (1.0, -2.0, 0.1, 1e-05, 1 / 3, 123456789.125, 1e20):
        text = syntax_number(v)
        assert float(text) == v
    assert syntax_number(1.0) == "1" and syntax_number(-2.0) == "-2"
    assert syntax_number(1e-05) == "1e-05"
