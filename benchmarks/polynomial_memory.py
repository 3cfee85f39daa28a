"""Peak memory and CPU time of GIRidge on polynomial features with gradients: lazy vs dense Jacobian.

``make_gi_pipeline(StandardScaler(), PolynomialFeatures(degree), GIRidge())``
keeps the polynomial Jacobian lazy and sums the gradient part of the normal
equations from the Gram matrix of the lower-degree monomials the partials are
made of. The reference is the path without that structure (the one the
pipeline took before): the dense ``(n, p, d)`` Jacobian handed to ``GIRidge``
as ``dZdX``, whose gradient terms are summed over its rows. Peak memory is
measured with ``tracemalloc`` (numpy reports its allocations to it) and
includes the features and the Jacobian the fit builds; CPU time is
``time.process_time`` with one BLAS thread. The last rows show the memory
guard: degree 5 in 20 inputs (``p = 53130``) is refused before anything of
size ``(n, p)`` or ``(p, p)`` is allocated.
"""

import argparse
import time
import tracemalloc

import numpy as np
from sklearn.preprocessing import PolynomialFeatures, StandardScaler

from sklearn_gi.datasets import make_bachelier
from sklearn_gi.linear_model import GIRidge
from sklearn_gi.pipeline import make_gi_pipeline
from sklearn_gi.preprocessing import transform_jacobian
from sklearn_gi.utils import MemoryLimitError

try:
    from ._report import write_results
except ImportError:  # run as a script
    from _report import write_results


def _measure(func):
    """(result, peak MiB, CPU s) of one call."""
    tracemalloc.start()
    cpu = time.process_time()
    try:
        result = func()
        return result, tracemalloc.get_traced_memory()[1] / 2**20, time.process_time() - cpu
    finally:
        tracemalloc.stop()


def run(cases, dense=True):
    rows = []
    for n_inputs, degree, n in cases:
        X, y, G = make_bachelier(n, n_inputs, random_state=0)

        def lazy():
            return make_gi_pipeline(StandardScaler(), PolynomialFeatures(degree), GIRidge()).fit(X, y, G)

        def dense_jacobian():
            scaler = StandardScaler().fit(X)
            Xs = scaler.transform(X)
            poly = PolynomialFeatures(degree).fit(Xs)
            J = transform_jacobian(poly, Xs) / scaler.scale_
            return GIRidge().fit(poly.transform(Xs), y, G, dZdX=J)

        row = {"inputs": n_inputs, "degree": degree, "n_samples": n}
        model, peak, cpu = _measure(lambda: _fit_or_refusal(lazy))
        if isinstance(model, MemoryLimitError):
            p = PolynomialFeatures(degree).fit(X[:1]).n_output_features_
            row.update(p=p, lazy_peak_MiB=peak, lazy_cpu_s=cpu, dense_peak_MiB=np.nan,
                       dense_cpu_s=np.nan, dense_jacobian_MiB=n * p * n_inputs * 8 / 2**20,
                       max_coef_difference=np.nan,
                       outcome=(f"refused: needs {model.needed / 1e9:.1f} GB, "
                                f"limit {model.limit / 1e9:.1f} GB"))
            rows.append(row)
            print(row, flush=True)
            continue
        p = model[-1].n_features_in_
        row.update(p=p, lazy_peak_MiB=peak, lazy_cpu_s=cpu,
                   dense_jacobian_MiB=n * p * n_inputs * 8 / 2**20)
        if dense:
            reference, row["dense_peak_MiB"], row["dense_cpu_s"] = _measure(dense_jacobian)
            row["max_coef_difference"] = float(np.abs(reference.coef_ - model[-1].coef_).max()
                                               / np.abs(reference.coef_).max())
        else:
            row.update(dense_peak_MiB=np.nan, dense_cpu_s=np.nan, max_coef_difference=np.nan)
        row["outcome"] = "fitted"
        rows.append(row)
        print(row, flush=True)
    return rows


def _fit_or_refusal(func):
    try:
        return func()
    except MemoryLimitError as exc:
        return exc


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", nargs="+", default=["7:5:8192", "20:3:8192", "20:5:8192"],
                        help="inputs:degree:n_samples")
    parser.add_argument("--no-dense", action="store_true", help="skip the dense-Jacobian reference")
    args = parser.parse_args(argv)
    cases = [tuple(int(v) for v in case.split(":")) for case in args.cases]
    rows = run(cases, dense=not args.no_dense)
    columns = ["inputs", "degree", "n_samples", "p", "lazy_peak_MiB", "lazy_cpu_s", "dense_peak_MiB",
               "dense_cpu_s", "dense_jacobian_MiB", "max_coef_difference", "outcome"]
    write_results(
        "polynomial_memory",
        "GIRidge on polynomial features: lazy vs dense Jacobian (Bachelier basket paths)",
        rows,
        columns,
        notes=(
            "One fit each, one BLAS thread, CPU time (`time.process_time`); peak = tracemalloc "
            "peak during the fit, features and Jacobian included. `dense` hands GIRidge the "
            "materialised (n, p, d) Jacobian (the pipeline's path before the lazy polynomial "
            "Jacobian); `max_coef_difference` is relative to the largest coefficient. "
            "Degree 5 in 20 inputs is refused by the memory guard (default memory_limit='auto', "
            "at most 8 GiB) before the features are built. Reproduce: "
            "`OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python -m benchmarks.polynomial_memory`."
        ),
    )
    return rows


if __name__ == "__main__":
    main()
