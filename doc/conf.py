"""Sphinx configuration for the sklearn-gi documentation."""

import sklearn_gi

project = "sklearn-gi"
author = "sklearn-gi developers"
release = sklearn_gi.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "numpydoc",
]
autosummary_generate = True
numpydoc_show_class_members = False
intersphinx_mapping = {
    "python": ("https://docs.python.org/3", None),
    "numpy": ("https://numpy.org/doc/stable", None),
    "sklearn": ("https://scikit-learn.org/stable", None),
}
intersphinx_disabled_reftypes = ["*"]
exclude_patterns = ["_build"]
html_theme = "alabaster"
