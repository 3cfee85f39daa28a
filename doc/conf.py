"""Sphinx configuration for the sklearn-gi documentation.

The build is offline: no intersphinx (references to scikit-learn, NumPy and
PyTorch are plain text), and it passes with ``-W --keep-going``
(``tests/test_docs.py`` builds it so). So is the site it writes: MathJax is
served from its ``_static`` folder and no page loads a script, style sheet or
image from another host (``tests/test_docs.py`` checks the HTML).
"""

import importlib.util
import os
import re
import shutil
import warnings
from pathlib import Path

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


# -- math: MathJax served with the site ----------------------------------------
# The formulas (ours and those of scikit-learn's inherited docstrings, e.g. ``score``)
# render offline: the MathJax 3.2.2 that the package sphinx-mathjax-offline ships is
# copied into _static/mathjax: the TeX-to-HTML component, its fonts and what it loads
# on demand (TeX extensions, the menu), 3 MB of the package's 24 MB.
mathjax_path = "mathjax/tex-chtml.js"
_MATHJAX_PARTS = ("tex-chtml.js", "output/chtml", "input/tex/extensions", "ui", "a11y", "adaptors")


def _mathjax_source():
    spec = importlib.util.find_spec("sphinx-mathjax-offline")
    if spec is None:
        raise RuntimeError("The offline documentation serves MathJax itself: "
                           "pip install sphinx-mathjax-offline (it is in the [doc] extra).")
    return Path(spec.submodule_search_locations[0]) / "static" / "mathjax"


def _copy_mathjax(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    source, target = _mathjax_source(), Path(app.outdir) / "_static" / "mathjax"
    for part in _MATHJAX_PARTS:
        if (source / part).is_dir():
            shutil.copytree(source / part, target / part, dirs_exist_ok=True)
        else:
            target.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source / part, target / part)


# sphinx-gallery's execution-time pages load jQuery, DataTables and Bootstrap from
# CDNs to make their table sortable: drop that raw-HTML block, keep the plain table.
_GALLERY_CDN_BLOCK = re.compile(r"  \.\. raw:: html\n.*?(?=  \.\. list-table::)", re.S)


def _drop_gallery_cdn_assets(app, docname, source):
    if docname.endswith("sg_execution_times"):
        source[0] = _GALLERY_CDN_BLOCK.sub("", source[0])


def setup(app):
    _mathjax_source()  # fail at once, not after the build, when MathJax is missing
    app.connect("autodoc-process-docstring", _plain_external_roles)
    app.connect("source-read", _drop_gallery_cdn_assets)
    app.connect("build-finished", _copy_mathjax)


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
