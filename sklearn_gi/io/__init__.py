"""Safe persistence: save fitted models to a documented archive that loads without unpickling."""

from ._persistence import FORMAT_NAME, FORMAT_VERSION, load, save, trusted_classes

__all__ = ["save", "load", "trusted_classes", "FORMAT_NAME", "FORMAT_VERSION"]
