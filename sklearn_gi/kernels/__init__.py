"""Kernels and solvers of the gradient-enhanced kernel models.

Public: :class:`PermutationInvariantKernel`. Shared by
:mod:`sklearn_gi.gaussian_process` and :mod:`sklearn_gi.kernel_ridge` (private
modules): ``_derivative_kernels`` (the value and derivative covariance blocks of
scikit-learn kernels and their likelihood gradients), ``_joint`` (the joint
system of values and partials, unknown ones dropped), ``_matvec`` (blocked
products of the joint kernel with vectors),
``_preconditioners`` (pivoted Cholesky), ``_solvers`` (preconditioned conjugate
gradients and the choice between them and a dense Cholesky factorisation),
``_iterative`` (the iterative solution's predictions and the search subset) and
``_feature_jacobian`` (the joint covariance and likelihood gradient through a
feature Jacobian ``dZdX`` without the ``(n, n, p, p)`` descriptor-space block).
"""

# the derivative kernels use gaussian_process's GradientWhiteKernel, and its
# estimators import this package: importing it first makes either order work
from .. import gaussian_process  # noqa: F401, E402
from ._permutation import PermutationInvariantKernel  # noqa: E402

__all__ = ["PermutationInvariantKernel"]
