"""Safe persistence: save fitted models to a documented archive that loads without unpickling."""

from . import _persistence
from ._persistence import FORMAT_NAME, FORMAT_VERSION, load, save, trusted_classes

# the format and its checks are documented once, in the implementation's docstring
__doc__ = _persistence.__doc__

__all__ = ["save", "load", "trusted_classes", "FORMAT_NAME", "FORMAT_VERSION"]
