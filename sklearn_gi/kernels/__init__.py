"""Matrix-free solvers for the value-and-gradient joint kernel systems (private modules).

Shared by :mod:`sklearn_gi.gaussian_process` and :mod:`sklearn_gi.kernel_ridge`:
``_matvec`` (blocked products of the joint kernel with vectors), ``_preconditioners``
(pivoted Cholesky) and ``_solvers`` (preconditioned conjugate gradients and the
choice between them and a dense Cholesky factorisation).
"""

# the derivative kernels live in gaussian_process, whose estimators import this
# package: importing it first makes either import order work
from .. import gaussian_process  # noqa: F401, E402
