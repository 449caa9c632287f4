"""The diagops spec: `diagops.yaml` as a validated model.

Every other package reads its settings and thresholds from here, so that a
threshold lives in one place. Importing this package is cheap (pydantic, yaml).
"""

from diagops.spec.load import SpecError, load_spec
from diagops.spec.model import Spec

__all__ = ["Spec", "SpecError", "load_spec"]
