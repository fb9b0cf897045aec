"""Sample-size planning by Monte Carlo simulation: :func:`power` and :class:`PowerPlan`.

``grid`` (names, designs, checks), ``population`` (the analysis model,
scenario and true values), ``study`` (one replication and a chunk: the
worker's code), ``engines`` (joblib or dask behind the ``Engine``
protocol), ``cache`` (finished chunks, for resuming), ``summary`` (the
quantities of Muthen & Muthen, 2002), ``plan`` (the result object),
``report`` (appendix and code), ``power`` (the entry point).
"""

from msem_nb.planning.plan import PowerPlan
from msem_nb.planning.power import power

__all__ = ["power", "PowerPlan"]
