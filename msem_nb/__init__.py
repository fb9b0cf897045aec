"""msem_nb: multilevel structural equation modeling for Python and Jupyter.

>>> import msem_nb as ms
>>> fit = ms.fit(model, data, cluster="school")
"""

__version__ = "0.1.0"

from .api import fit  # noqa: E402
from .compare import Comparison, compare_approaches  # noqa: E402
from .decompose import Decomposition, decompose  # noqa: E402
from .errors import (ConvergenceWarning, DataError, DataWarning, ModelSpecificationError,  # noqa: E402
                     MsemError, NotIdentifiedError)
from .examples import EXAMPLE_MODELS, load_example, simulate_classrooms  # noqa: E402
from .simulate import simulate  # noqa: E402
from .syntax import ModelSyntaxError, parse  # noqa: E402

__all__ = ["fit", "decompose", "Decomposition", "parse", "load_example", "simulate_classrooms", "EXAMPLE_MODELS",
           "ModelSyntaxError", "MsemError", "DataError", "DataWarning", "ModelSpecificationError",
           "NotIdentifiedError", "ConvergenceWarning", "__version__",
           "compare_approaches", "Comparison", "simulate"]


def __getattr__(name):
    # The panel needs ipywidgets, anywidget and plotly (the "widget" extra);
    # importing it lazily keeps `import msem_nb` free of them.
    if name == "Panel":
        from .widget import Panel
        return Panel
    raise AttributeError(f"module 'msem_nb' has no attribute {name!r}")
