"""
Distilling a torch model into a small GIMLPRegressor
====================================================

A trained model, the *teacher* (a large network, a simulator written in
torch), gives the exact gradients of its outputs by autograd. A small
*student* network fitted to the teacher's values **and** gradients
(:class:`~sklearn_gi.neural_network.GIMLPRegressor` with ``dYdX``) matches
it from far fewer queries than one fitted to values alone.

The teacher here is a wide random tanh network on two inputs; the students
have two hidden layers of 16 units and see 25 teacher queries.
"""

import warnings

import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning

from sklearn_gi.neural_network import GIMLPRegressor

torch.manual_seed(0)
teacher = torch.nn.Sequential(torch.nn.Linear(2, 256), torch.nn.Tanh(), torch.nn.Linear(256, 1))
with torch.no_grad():
    teacher[0].weight.mul_(2.5)
    teacher[2].weight.mul_(0.3)


def query_teacher(X):
    """Values and autograd input-gradients of the teacher at ``X``."""
    Xt = torch.as_tensor(X, dtype=torch.float32).requires_grad_(True)
    out = teacher(Xt)[:, 0]
    (grad,) = torch.autograd.grad(out.sum(), Xt)
    return out.detach().numpy().astype(float), grad.numpy().astype(float)


rng = np.random.default_rng(0)
X = rng.uniform(-2, 2, (25, 2))
y, dYdX = query_teacher(X)

students = {}
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    for name, gradients in [("values + gradients", dYdX), ("values only", None)]:
        students[name] = GIMLPRegressor(hidden_layer_sizes=(16, 16), max_iter=200,
                                        random_state=0).fit(X, y, gradients)

X_test = rng.uniform(-2, 2, (2000, 2))
y_test, dYdX_test = query_teacher(X_test)
for name, student in students.items():
    value_rmse = np.sqrt(np.mean((student.predict(X_test) - y_test) ** 2))
    gradient_rmse = np.sqrt(np.mean((student.predict_gradient(X_test) - dYdX_test) ** 2))
    print(f"{name:20s} value RMSE {value_rmse:.3f}   gradient RMSE {gradient_rmse:.3f}")

# %%
# The teacher and the two students along the diagonal ``x0 = x1``: values
# (left) and the derivative along the first input (right).

t = np.linspace(-2, 2, 200)
line = np.column_stack([t, t])
y_line, dYdX_line = query_teacher(line)
fig, (ax_value, ax_slope) = plt.subplots(1, 2, figsize=(9, 3.8))
ax_value.plot(t, y_line, color="k", linewidth=3, alpha=0.3, label="teacher")
ax_slope.plot(t, dYdX_line[:, 0], color="k", linewidth=3, alpha=0.3)
for (name, student), color, style in zip(students.items(), ["C0", "C3"], ["-", "--"]):
    ax_value.plot(t, student.predict(line), color=color, linestyle=style,
                  label=f"student, {name}")
    ax_slope.plot(t, student.predict_gradient(line)[:, 0], color=color, linestyle=style)
ax_value.set_xlabel("x0 = x1")
ax_value.set_ylabel("output")
ax_slope.set_xlabel("x0 = x1")
ax_slope.set_ylabel("d output / d x0")
fig.suptitle("25 teacher queries, students with 2 x 16 tanh units")
fig.legend(loc="lower center", ncol=3, fontsize="small", bbox_to_anchor=(0.5, 0.0))
fig.tight_layout(rect=(0, 0.08, 1, 1))
