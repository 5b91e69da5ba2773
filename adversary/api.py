"""The strategy API, re-exported: it lives in the engine as :mod:`bftlab.attack.api`.

Kept so that strategies written against ``bftlab.adversary.api`` keep
importing; new code imports the same names from :mod:`bftlab.adversary`.
The list of names is :data:`bftlab.attack.__all__`, kept in one place.
"""

from bftlab.attack import *  # noqa: F403
from bftlab.attack import __all__ as __all__
