"""bench: a plugin-based benchmark harness for graph neural networks."""

from harness.hookspecs import hookimpl
from harness.specs import DatasetSpec, MetricSpec, ModelSpec, SuiteSource, TaskInfo

__version__ = "0.1.0"
__all__ = ["DatasetSpec", "MetricSpec", "ModelSpec", "SuiteSource", "TaskInfo", "hookimpl", "__version__"]
