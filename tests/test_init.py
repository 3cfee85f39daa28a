"""The package loads its subpackages lazily: the closed-form models never import torch."""

import subprocess
import sys

import pytest

import sklearn_gi


@pytest.mark.parametrize("module", ["linear_model", "gaussian_process", "kernel_ridge",
                                    "pipeline", "preprocessing", "datasets", "metrics"])
def test_closed_form_modules_do_not_import_torch(module):
    code = f"import sys, sklearn_gi.{module}; assert 'torch' not in sys.modules, 'torch loaded'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_public_names_resolve_lazily():
    code = ("import sys, sklearn_gi; assert 'torch' not in sys.modules; "
            "sklearn_gi.GIRidge; assert 'torch' not in sys.modules; "
            "sklearn_gi.GIMLPRegressor; assert 'torch' in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
    for name in sklearn_gi.__all__:
        assert getattr(sklearn_gi, name) is not None
    assert set(sklearn_gi.__all__) <= set(dir(sklearn_gi))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        sklearn_gi.nope
