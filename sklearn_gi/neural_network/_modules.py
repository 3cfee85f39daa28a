"""The torch MLP trained by ``GIMLPRegressor``, with a forward-mode Jacobian."""

import math

import torch
from torch import nn

# Derivatives of the activations, written with differentiable torch ops so
# that autograd can back-propagate a loss on the Jacobian into the weights.
# The activation value h = act(z) is passed in too, to be reused.


def _tanh_derivative(z, h):
    return 1.0 - h * h


def _sigmoid_derivative(z, h):
    return h * (1.0 - h)


def _softplus_derivative(z, h):
    return torch.sigmoid(z)


def _silu_derivative(z, h):
    s = torch.sigmoid(z)
    return s * (1.0 + z * (1.0 - s))


def _gelu_derivative(z, h):
    return 0.5 * (1.0 + torch.erf(z / math.sqrt(2.0))) + z * torch.exp(-0.5 * z * z) / math.sqrt(
        2.0 * math.pi
    )


def _relu_derivative(z, h):
    return (z > 0).to(z.dtype)


ACTIVATIONS = {
    "tanh": (torch.tanh, _tanh_derivative),
    "sigmoid": (torch.sigmoid, _sigmoid_derivative),
    "softplus": (nn.functional.softplus, _softplus_derivative),
    "silu": (nn.functional.silu, _silu_derivative),
    "gelu": (nn.functional.gelu, _gelu_derivative),
    "relu": (torch.relu, _relu_derivative),
}


class MLPModule(nn.Module):
    """Fully connected network ``n_inputs -> hidden... -> n_outputs``, linear output.

    Besides ``forward`` it offers :meth:`forward_with_jacobian`, which carries
    the input-Jacobian through the layers (forward mode). For the few inputs
    of scientific data this is cheaper than one reverse pass per output, and
    the loss on the Jacobian then needs a single ordinary backward pass
    instead of a double backward.

    Parameters
    ----------
    n_inputs : int
    hidden_layer_sizes : tuple of int
    n_outputs : int
    activation : str
        One of ``ACTIVATIONS``.

    Examples
    --------
    >>> import torch
    >>> from sklearn_gi.neural_network._modules import MLPModule
    >>> _ = torch.manual_seed(0)
    >>> net = MLPModule(3, (8, 8), 2, "tanh").double()
    >>> X = torch.randn(5, 3, dtype=torch.float64)
    >>> out, jac = net.forward_with_jacobian(X)
    >>> out.shape, jac.shape
    (torch.Size([5, 2]), torch.Size([5, 2, 3]))
    >>> ref = torch.func.vmap(torch.func.jacrev(net))(X)
    >>> bool(torch.allclose(jac, ref))
    True
    """

    def __init__(self, n_inputs, hidden_layer_sizes, n_outputs, activation="tanh"):
        super().__init__()
        sizes = [n_inputs, *hidden_layer_sizes, n_outputs]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.n_outputs = n_outputs
        self.activation = activation
        self._act, self._act_derivative = ACTIVATIONS[activation]

    def forward(self, X):
        h = X
        for layer in self.layers[:-1]:
            h = self._act(layer(h))
        return self.layers[-1](h)

    def forward_with_jacobian(self, X):
        """Outputs ``(n, k)`` and input-Jacobian ``(n, k, d)``, forward mode.

        The tangent ``T`` is kept as ``(n, d, width)`` so that every layer is
        one batched matmul ``T @ W.T``.
        """
        first = self.layers[0]
        z = first(X)
        T = first.weight.T.unsqueeze(0)  # (1, d, width): the same for all samples
        for layer in self.layers[1:]:
            h = self._act(z)
            T = self._act_derivative(z, h).unsqueeze(1) * T  # (n, d, width)
            z = layer(h)
            T = T @ layer.weight.T
        if T.shape[0] != X.shape[0]:  # a network without hidden layers
            T = T.expand(X.shape[0], -1, -1)
        return z, T.transpose(1, 2)
