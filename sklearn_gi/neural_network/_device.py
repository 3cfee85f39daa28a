"""Torch device selection shared by the neural estimators."""

import torch


def resolve_device(device):
    """Return the ``torch.device`` for ``device`` in {"auto", "cpu", "cuda", "cuda:N"}.

    ``"auto"`` picks CUDA when available. Asking for CUDA without it raises a
    ``ValueError`` rather than silently falling back to the CPU.

    Examples
    --------
    >>> from sklearn_gi.neural_network._device import resolve_device
    >>> resolve_device("cpu")
    device(type='cpu')
    """
    if isinstance(device, torch.device):
        device = str(device)
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if not isinstance(device, str) or not (device == "cpu" or device.startswith("cuda")):
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}.")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} was requested but CUDA is not available.")
    return torch.device(device)
