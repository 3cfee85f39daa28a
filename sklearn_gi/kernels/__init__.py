"""Kernels and solvers of the gradient-enhanced kernel models.

Public: :class:`PermutationInvariantKernel`. Shared by
:mod:`sklearn_gi.gaussian_process` and :mod:`sklearn_gi.kernel_ridge` (private
modules): ``_matvec`` (blocked products of the joint kernel with vectors),
``_preconditioners`` (pivoted Cholesky), ``_solvers`` (preconditioned conjugate
gradients and the choice between them and a dense Cholesky factorisation),
``_iterative`` (the iterative solution's predictions and the search subset) and
``_feature_jacobian`` (the joint covariance and likelihood gradient through a
feature Jacobian ``dZdX`` without the ``(n, n, p, p)`` descriptor-space block).
"""

# the derivative kernels live in gaussian_process, whose estimators import this
# package: importing it first makes either import order work
from .. import gaussian_process  # noqa: F401, E402
from ._permutation import PermutationInvariantKernel  # noqa: E402

__all__ = ["PermutationInvariantKernel"]
