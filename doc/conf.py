"""Sphinx configuration for the sklearn-gi documentation.

The build is offline: no intersphinx (references to scikit-learn, NumPy and
PyTorch are plain text), and it passes with ``-W --keep-going``
(``tests/test_docs.py`` builds it so).
"""

import os
import re
import warnings

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

import matplotlib  # noqa: E402

matplotlib.use("Agg")

import sklearn_gi  # noqa: E402

project = "sklearn-gi"
author = "sklearn-gi developers"
copyright = "sklearn-gi developers"
release = sklearn_gi.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "examples", "Thumbs.db", ".DS_Store", "**.ipynb_checkpoints"]
default_role = "literal"

# -- autodoc / autosummary / numpydoc ----------------------------------------
# As scikit-learn: one page per public name, generated from the autosummary
# templates in _templates/autosummary. Classes list their public methods
# (own and inherited: fit, predict, predict_gradient, score, set_params, the
# metadata-request setters) and document each one on the same page; numpydoc
# renders the Parameters / Returns / Attributes sections.
autosummary_generate = True
autodoc_default_options = {"members": True, "inherited-members": True}
autodoc_typehints = "none"
autodoc_member_order = "groupwise"
numpydoc_show_class_members = False  # the class template lists the methods
numpydoc_show_inherited_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True


_SPHINX_ROLE = re.compile(r":(ref|term|doc):`([^`<]*?)\s*(?:<[^`>]*>)?`")


def _plain_role(match):
    role, text = match.groups()
    if role == "term":  # a glossary entry: often a name such as classes_
        return f"``{text}``"
    return re.sub(r"_\b", r"\_", text)


def _plain_external_roles(app, what, name, obj, options, lines):
    """Turn ``:ref:``/``:term:``/``:doc:`` roles into plain text.

    Docstrings inherited from scikit-learn (``get_params``, ``score``,
    ``set_fit_request``, ...) point at labels of scikit-learn's own site
    (its user guide, its glossary), which this offline build does not have.
    """
    module = getattr(obj, "__module__", None) or ""
    if module.startswith("sklearn_gi"):
        return
    for i, line in enumerate(lines):
        lines[i] = _SPHINX_ROLE.sub(_plain_role, line)


def setup(app):
    app.connect("autodoc-process-docstring", _plain_external_roles)


# -- sphinx-gallery ------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": "examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": "plot_",
    "plot_gallery": "True",
    "download_all_examples": False,
    "within_subsection_order": "FileNameSortKey",
    "image_scrapers": ("matplotlib",),
    "matplotlib_animations": False,
    "remove_config_comments": True,
    "show_memory": False,
    "min_reported_time": 1,
}
warnings.filterwarnings(
    "ignore", category=UserWarning,
    message="Matplotlib is currently using agg, which is a non-GUI backend",
)

# -- HTML ----------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"sklearn-gi {release}"
html_theme_options = {
    "navbar_end": ["navbar-icon-links"],
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
    "navigation_with_keys": False,
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version", "theme-version"],
}
html_sidebars = {"index": []}
html_static_path = []
html_show_sourcelink = False
