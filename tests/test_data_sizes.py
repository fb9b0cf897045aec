"""Clusters grouped by size (msem_nb.data.sizes): the invariants its docstring states,
against plain loops, on each of group_sscp's three branches."""

import numpy as np
import pytest

from msem_nb.data.sizes import group_sscp, size_index


def test_size_index_numbers_the_distinct_sizes():
    sizes = np.array([5, 3, 5, 9, 3, 3])
    ns, count, inv = size_index(sizes)
    assert ns.tolist() == [3, 5, 9] and count.tolist() == [3, 2, 1]
    assert (ns[inv] == sizes).all()
    assert (np.bincount(inv) == count).all()


@pytest.mark.parametrize("nsizes, nclusters, p", [(1, 40, 3), (4, 60, 3), (300, 4000, 3)])
def test_group_sscp_sums_the_outer_products_of_each_group(nsizes, nclusters, p):
    rng = np.random.default_rng(7)
    sizes = rng.integers(1, nsizes + 1, nclusters)
    sizes[:nsizes] = np.arange(1, nsizes + 1)      # every size present
    ns, count, inv = size_index(sizes)
    dev = rng.normal(size=(nclusters, p))
    if nsizes == 300:      # the reduceat branch: more than 1e6 products
        assert len(ns) * nclusters * p > 1_000_000
    got = group_sscp(dev, inv, count)
    for g in range(len(ns)):
        d = dev[inv == g]
        np.testing.assert_allclose(got[g], d.T @ d, rtol=1e-12, atol=1e-12)
