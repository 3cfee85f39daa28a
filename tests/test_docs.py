"""The documentation: the user guide's code blocks run, the API reference lists every
public name, and the site builds offline with warnings as errors."""

import importlib
import re
import warnings
from pathlib import Path

import pytest
from sklearn.exceptions import ConvergenceWarning

DOC = Path(__file__).resolve().parents[1] / "doc"
GUIDE_PAGES = sorted((DOC / "user_guide").glob("*.rst"))
CODE_BLOCK = re.compile(r"\.\. code-block:: python\n\n((?:    .*\n|\n)+)")
# src/href of a tag that loads an asset (not a link to follow) pointing at another host
EXTERNAL_ASSET = re.compile(r"<(?:script|link|img|iframe|source|embed|video|audio)\b[^>]*?"
                            r"\s(?:src|href)=[\"']((?:https?:)?//[^\"']+)")

# subpackages documented in doc/api.rst (each one's __all__ must be listed there)
DOCUMENTED = [
    "compose", "datasets", "gaussian_process", "generative", "inspection", "io", "kernel_ridge", "kernels",
    "linear_model", "metrics", "model_selection", "neural_network", "pipeline",
    "preprocessing", "utils", "utils.estimator_checks",
]


def test_user_guide_has_code():
    assert len(GUIDE_PAGES) >= 10
    assert sum(len(CODE_BLOCK.findall(page.read_text())) for page in GUIDE_PAGES) >= 12


@pytest.mark.parametrize("page", GUIDE_PAGES, ids=[page.stem for page in GUIDE_PAGES])
def test_user_guide_examples_run(page):
    """Each page's blocks run in order, in one namespace per page."""
    namespace = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for block in CODE_BLOCK.findall(page.read_text()):
            code = "\n".join(line[4:] for line in block.splitlines())
            exec(compile(code, str(page), "exec"), namespace)  # noqa: S102


@pytest.mark.parametrize("module", DOCUMENTED)
def test_api_reference_lists_every_public_name(module):
    listed, current = set(), None
    for line in (DOC / "api.rst").read_text().splitlines():
        if line.startswith(".. currentmodule:: sklearn_gi."):
            current = line.split("sklearn_gi.", 1)[1].strip()
        elif re.fullmatch(r"   [A-Za-z_]\w*", line) and current:
            listed.add(f"{current}.{line.strip()}")
    names = importlib.import_module(f"sklearn_gi.{module}").__all__
    missing = [name for name in names if f"{module}.{name}" not in listed]
    assert not missing, f"doc/api.rst does not list sklearn_gi.{module}: {missing}"


def test_sphinx_build_has_no_warnings(tmp_path):
    """Offline HTML build (no intersphinx), gallery included, warnings as errors."""
    pytest.importorskip("pydata_sphinx_theme")
    pytest.importorskip("numpydoc")
    pytest.importorskip("sphinx_gallery")
    from sphinx.cmd.build import build_main

    status = build_main(["-W", "--keep-going", "-q", "-b", "html",
                         "-d", str(tmp_path / "doctrees"), str(DOC), str(tmp_path / "html")])
    assert status == 0
    html = tmp_path / "html"
    assert (html / "api.html").exists()
    assert (html / "generated" / "sklearn_gi.linear_model.GIRidge.html").exists()
    # offline site: no page loads a script, style sheet, image or frame from another host
    pages = sorted(html.rglob("*.html"))
    external = {(page.relative_to(html).as_posix(), url) for page in pages
                for url in EXTERNAL_ASSET.findall(page.read_text(encoding="utf-8"))}
    assert not external, sorted(external)[:10]
    # the formulas (e.g. score's, inherited from scikit-learn) use the MathJax served with the site
    ridge = (html / "generated" / "sklearn_gi.linear_model.GIRidge.html").read_text(encoding="utf-8")
    assert 'src="../_static/mathjax/tex-chtml.js"' in ridge and "\\(" in ridge
    assert (html / "_static" / "mathjax" / "tex-chtml.js").stat().st_size > 100_000
    assert any((html / "_static" / "mathjax" / "output" / "chtml" / "fonts" / "woff-v2").glob("*.woff"))
    assert "<table" in (html / "sg_execution_times.html").read_text(encoding="utf-8")


def test_external_asset_pattern():
    page = ('<script src="https://cdn.x/a.js"></script><link rel="stylesheet" href="//cdn.y/b.css">'
            '<img alt="" src="http://z/c.png"/><a href="https://ok.org/">a link</a>'
            '<script defer="defer" src="_static/local.js"></script>')
    assert EXTERNAL_ASSET.findall(page) == ["https://cdn.x/a.js", "//cdn.y/b.css", "http://z/c.png"]
