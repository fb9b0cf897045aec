"""msem_nb: multilevel structural equation modeling for Python and Jupyter.

>>> import msem_nb as ms
>>> fit = ms.fit(model, data, cluster="school")
"""

from msem_nb.api import fit  # noqa: E402
from msem_nb.errors import (
    ConvergenceWarning,
    DataError,
    DataWarning,
    ImproperSolutionWarning,
    ModelSpecificationError,
    MsemError,
    NotIdentifiedError,  # noqa: E402
)
from msem_nb.inference.compare import ModelComparison, compare  # noqa: E402
from msem_nb.inference.decompose import Decomposition, decompose  # noqa: E402
from msem_nb.planning import PowerPlan, power  # noqa: E402
from msem_nb.syntax import ModelSyntaxError, parse  # noqa: E402
from msem_nb.teaching.approaches import Comparison, compare_approaches  # noqa: E402
from msem_nb.teaching.examples import EXAMPLE_MODELS, load_example, simulate_classrooms  # noqa: E402
from msem_nb.teaching.invariance import Invariance, invariance  # noqa: E402
from msem_nb.teaching.simulate import simulate  # noqa: E402
from msem_nb.version import __version__

__all__ = ["fit", "decompose", "Decomposition", "parse", "load_example", "simulate_classrooms", "EXAMPLE_MODELS",
           "ModelSyntaxError", "MsemError", "DataError", "DataWarning", "ModelSpecificationError",
           "NotIdentifiedError", "ConvergenceWarning", "ImproperSolutionWarning", "__version__",
           "compare_approaches", "Comparison", "simulate", "compare", "ModelComparison",
           "power", "PowerPlan", "invariance", "Invariance"]


def __getattr__(name):
    # The panel needs ipywidgets, anywidget and plotly (the "widget" extra);
    # importing it lazily keeps `import msem_nb` free of them.
    if name == "Panel":
        from msem_nb.widget import Panel
        return Panel
    raise AttributeError(f"module 'msem_nb' has no attribute {name!r}")
