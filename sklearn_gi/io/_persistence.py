"""Save and load sklearn-gi models without pickle.

Why not pickle (or joblib)
--------------------------
Unpickling a file runs whatever code the file names, so a shared ``.pkl``
model is a program. :func:`load` never unpickles, never calls ``eval`` and
never imports a module named by the file: the file holds data only, and the
only classes it can instantiate are those of an explicit allowlist
(:func:`trusted_classes`), looked up in a dict.

The format (``FORMAT_NAME`` version ``FORMAT_VERSION``, suggested extension ``.sgi``)
--------------------------------------------------------------------------------------
A zip archive (members stored uncompressed) with

``manifest.json``
    UTF-8 JSON (strict: no NaN literals)::

        {"format": "sklearn-gi-model", "format_version": 1,
         "versions": {"sklearn_gi": ..., "sklearn": ..., "numpy": ..., "scipy": ...,
                      "python": ...},
         "root": <value>,
         "members": {"arrays/0.npy": {"sha256": ..., "size": ..., "dtype": "<f8",
                                      "shape": [3]}, ...}}

``arrays/<i>.npy``
    numpy arrays (``np.save`` format), read with ``allow_pickle=False``; only
    bool, integer, float, complex and unicode dtypes. One array used in two
    places is stored once and loads as one shared array again.

A ``<value>`` is JSON ``null``, a boolean, an integer, a string, a finite
float, a list of values, or an object tagged by its ``"$t"`` key:

* ``{"$t": "float", "v": "nan" | "inf" | "-inf"}``;
* ``{"$t": "tuple", "v": [values]}``, ``{"$t": "dict", "v": [[key, value], ...]}``;
* ``{"$t": "slice", "v": [start, stop, step]}``;
* ``{"$t": "scalar", "dtype": "float64", "v": ...}`` (a numpy scalar);
* ``{"$t": "dtype", "v": "<f8"}``, ``{"$t": "scalar_type", "v": "float64"}``
  (``np.dtype`` objects and the numpy scalar types such as ``np.float64``);
* ``{"$t": "array", "ref": "arrays/0.npy"}``;
  ``{"$t": "strings", "shape": [...], "v": [...]}`` (object arrays of
  strings, such as ``feature_names_in_``);
* ``{"$t": "random_state", "v": [...]}`` (a ``numpy.random.RandomState``,
  by its MT19937 state);
* ``{"$t": "torch_device", "v": "cuda:0"}``;
* ``{"$t": "metadata_request", "v": <dict>}`` (what ``set_fit_request`` and
  friends record: ``{method: {param: alias}}``, aliases null, booleans or
  strings);
* ``{"$t": "object", "class": "sklearn_gi.linear_model.GIRidge", "id": 0,
  "params": {name: value}, "state": {name: value}, "extra": {...}}``, an
  instance of an allowlisted class: ``params`` are its constructor
  parameters (``get_params(deep=False)``; nested estimators and kernels are
  sub-trees), ``state`` every other instance attribute (the fitted state);
  ``{"$t": "ref", "v": id}`` is an object met before (identity is kept).

Saving walks ``vars(estimator)`` and stores only these types: anything else
(a function, a lambda, an unknown class, a subclass of an allowlisted class)
is a ``TypeError`` at save that names the attribute path and the type. A few
classes are special-cased: the torch module of :class:`GIMLPRegressor` is
stored as its ``state_dict`` tensors, as ``.npy`` arrays (not ``torch.save``,
which pickles), and the skorch net is rebuilt around it on load from the
estimator's parameters, with its training history but without optimizer state
or a validation split; :class:`GIConditionalGAN` likewise keeps the
``state_dict`` of its generator and its discriminator (its ``mean_estimators_``
are nested :class:`GIMLPRegressor` models); :class:`GIKernelRidge` compiles its kernel from its
parameters at every prediction, so nothing of it is stored; scipy ``BSpline`` objects (of a
``SplineTransformer``) are stored by their knots, coefficients and degree.

Loading checks, before building anything: that the file is a zip (a pickle
is refused as such); the member names (only ``manifest.json`` and
``arrays/<i>.npy``: no paths, no traversal, no duplicates); that every stored
member is listed in the manifest and every listed one is stored, with the
recorded size and SHA-256 (a truncated or edited archive is refused); the
format name and version; and, while decoding, every class name against the
allowlist and every parameter name against the class's constructor. All these
failures are a ``ValueError`` naming the problem. The hashes detect corruption
and naive edits, not a deliberate forgery (whoever edits an array can edit its
hash): the safety of :func:`load` comes from executing nothing, not from the
hashes. A model loaded from an untrusted file still computes with untrusted
numbers.

A file written by another version of sklearn-gi, scikit-learn or numpy loads
with a ``UserWarning`` (as scikit-learn's own unpickling warns): the fitted
attributes of scikit-learn transformers may change between its releases.

GPU-trained networks load on the CPU: the weights are stored as host arrays,
and :func:`load` puts them on the device the model was trained on when it is
available, else on the CPU (``device="cpu"`` forces it). The ``device``
parameter is restored as saved (``get_params`` is unchanged); ``device_`` is
where the loaded model runs. A refit of a loaded model whose ``device`` is
``"cuda"`` on a machine without CUDA fails as any such fit does.
"""

import hashlib
import io
import json
import os
import re
import sys
import tempfile
import warnings
import zipfile
from numbers import Integral

import numpy as np

__all__ = ["save", "load", "trusted_classes", "FORMAT_NAME", "FORMAT_VERSION"]

FORMAT_NAME = "sklearn-gi-model"
FORMAT_VERSION = 1

_MANIFEST = "manifest.json"
_MEMBER_RE = re.compile(r"arrays/(0|[1-9][0-9]{0,8})\.npy")
_MAX_MANIFEST_BYTES = 256 * 2**20
_MAX_MEMBERS = 1_000_000
_ARRAY_KINDS = "biufcU"

# Allowlist: the name written to the file -> (module, attribute, how it is rebuilt).
# "estimator": cls(**params), then the state set as attributes; "state": cls.__new__
# and the attributes set (plain internal containers); "bspline": special-cased.
# Modules are imported from this table only, never from a name read in a file.
_TRUSTED = {
    # sklearn-gi estimators
    "sklearn_gi.linear_model.GIRidge": ("sklearn_gi.linear_model", "GIRidge", "estimator"),
    "sklearn_gi.linear_model.GILinearRegression": (
        "sklearn_gi.linear_model", "GILinearRegression", "estimator"),
    "sklearn_gi.linear_model.RidgeGradient": ("sklearn_gi.linear_model", "RidgeGradient", "estimator"),
    "sklearn_gi.gaussian_process.GIGaussianProcessRegressor": (
        "sklearn_gi.gaussian_process", "GIGaussianProcessRegressor", "estimator"),
    "sklearn_gi.kernel_ridge.GIKernelRidge": ("sklearn_gi.kernel_ridge", "GIKernelRidge", "estimator"),
    "sklearn_gi.neural_network.GIMLPRegressor": (
        "sklearn_gi.neural_network", "GIMLPRegressor", "estimator"),
    "sklearn_gi.generative.GIConditionalGAN": (
        "sklearn_gi.generative", "GIConditionalGAN", "estimator"),
    "sklearn_gi.pipeline.GIPipeline": ("sklearn_gi.pipeline", "GIPipeline", "estimator"),
    "sklearn_gi.compose.GITransformedTargetRegressor": (
        "sklearn_gi.compose", "GITransformedTargetRegressor", "estimator"),
    # their internal state
    "sklearn_gi.linear_model.GIRidgeStatistics": ("sklearn_gi.linear_model", "GIRidgeStatistics", "state"),
    "sklearn_gi.kernels._joint.JointObservations": (
        "sklearn_gi.kernels._joint", "JointObservations", "state"),
    "sklearn_gi.kernels._joint.ObservationGroup": (
        "sklearn_gi.kernels._joint", "ObservationGroup", "state"),
    # where files written before the joint system moved to sklearn_gi.kernels name it
    "sklearn_gi.gaussian_process._joint.JointObservations": (
        "sklearn_gi.kernels._joint", "JointObservations", "state"),
    "sklearn_gi.gaussian_process._joint.ObservationGroup": (
        "sklearn_gi.kernels._joint", "ObservationGroup", "state"),
    "sklearn_gi.gaussian_process.GradientWhiteKernel": (
        "sklearn_gi.gaussian_process", "GradientWhiteKernel", "estimator"),
    # scikit-learn transformers with a known Jacobian (GIPipeline, GITransformedTargetRegressor)
    "sklearn.preprocessing.StandardScaler": ("sklearn.preprocessing", "StandardScaler", "estimator"),
    "sklearn.preprocessing.RobustScaler": ("sklearn.preprocessing", "RobustScaler", "estimator"),
    "sklearn.preprocessing.MinMaxScaler": ("sklearn.preprocessing", "MinMaxScaler", "estimator"),
    "sklearn.preprocessing.MaxAbsScaler": ("sklearn.preprocessing", "MaxAbsScaler", "estimator"),
    "sklearn.preprocessing.PolynomialFeatures": ("sklearn.preprocessing", "PolynomialFeatures", "estimator"),
    "sklearn.preprocessing.SplineTransformer": ("sklearn.preprocessing", "SplineTransformer", "estimator"),
    # only without functions (the identity: ColumnTransformer's passthrough, a default target map)
    "sklearn.preprocessing.FunctionTransformer": (
        "sklearn.preprocessing", "FunctionTransformer", "estimator"),
    "sklearn.decomposition.PCA": ("sklearn.decomposition", "PCA", "estimator"),
    "sklearn.compose.ColumnTransformer": ("sklearn.compose", "ColumnTransformer", "estimator"),
    "sklearn.kernel_approximation.RBFSampler": ("sklearn.kernel_approximation", "RBFSampler", "estimator"),
    "sklearn.kernel_approximation.Nystroem": ("sklearn.kernel_approximation", "Nystroem", "estimator"),
    "scipy.interpolate.BSpline": ("scipy.interpolate", "BSpline", "bspline"),
    # scikit-learn kernels
    **{
        f"sklearn.gaussian_process.kernels.{name}": ("sklearn.gaussian_process.kernels", name, "estimator")
        for name in ("RBF", "Matern", "RationalQuadratic", "DotProduct", "ConstantKernel",
                     "WhiteKernel", "Sum", "Product", "Exponentiation")
    },
}
# these need torch: never imported to answer "is this object of that class?"
_NEEDS_TORCH = {"sklearn_gi.neural_network.GIMLPRegressor", "sklearn_gi.generative.GIConditionalGAN"}

# numpy scalar types by name (np.dtype(name).type), for scalars and dtype-valued attributes
_SCALAR_TYPES = {
    np.dtype(name).type.__name__: np.dtype(name).type
    for name in ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
                 "float16", "float32", "float64", "complex64", "complex128")
}


def trusted_classes():
    """Names of the classes a model file may contain, in the file's spelling.

    Returns
    -------
    names : list of str
        The allowlist of :func:`load`: sklearn-gi's estimators and their
        internal state, the scikit-learn transformers with a known Jacobian
        and the scikit-learn kernels that sklearn-gi differentiates.

    Examples
    --------
    >>> from sklearn_gi.io import trusted_classes
    >>> "sklearn_gi.linear_model.GIRidge" in trusted_classes()
    True
    >>> "os.system" in trusted_classes()
    False
    """
    return sorted(_TRUSTED)


def _resolve(name):
    import importlib

    module, attribute, _ = _TRUSTED[name]  # a key of the constant table, never a file's string
    return getattr(importlib.import_module(module), attribute)


def _name_of(cls):
    """The allowlist name of exactly ``cls`` (subclasses are not trusted), or None."""
    for name, (module, _, _) in _TRUSTED.items():
        if name in _NEEDS_TORCH and "torch" not in sys.modules:
            continue
        if module.split(".")[0] != cls.__module__.split(".")[0]:
            continue
        if _resolve(name) is cls:
            return name
    return None


def _versions(uses_torch):
    import platform

    import scipy
    import sklearn

    import sklearn_gi

    versions = {
        "sklearn_gi": sklearn_gi.__version__,
        "sklearn": sklearn.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "python": platform.python_version(),
    }
    if uses_torch:
        import torch

        versions["torch"] = torch.__version__
    return versions


# ---------------------------------------------------------------------------------- saving
class _Writer:
    def __init__(self):
        self.arrays = {}  # id -> (member name, array)
        self.objects = {}  # id -> (object id in the file, object)
        self.active = set()
        self.uses_torch = False

    def array(self, value):
        key = id(value)
        if key not in self.arrays:
            self.arrays[key] = (f"arrays/{len(self.arrays)}.npy", value)
        return {"$t": "array", "ref": self.arrays[key][0]}

    def encode(self, value, path):
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, np.generic):
            return self._scalar(value, path)
        if type(value) is int:
            return value
        if type(value) is float:
            if np.isfinite(value):
                return value
            return {"$t": "float", "v": "nan" if np.isnan(value) else ("inf" if value > 0 else "-inf")}
        if type(value) is list:
            return [self.encode(v, f"{path}[{i}]") for i, v in enumerate(value)]
        if type(value) is tuple:
            return {"$t": "tuple", "v": [self.encode(v, f"{path}[{i}]") for i, v in enumerate(value)]}
        if type(value) is dict:
            return {"$t": "dict", "v": [[self.encode(k, f"{path} key"), self.encode(v, f"{path}[{k!r}]")]
                                        for k, v in value.items()]}
        if type(value) is slice:
            return {"$t": "slice", "v": [self.encode(v, path) for v in (value.start, value.stop, value.step)]}
        if type(value) is np.ndarray:
            return self._ndarray(value, path)
        if type(value) is np.random.RandomState:
            _, keys, pos, has_gauss, cached = value.get_state(legacy=True)
            return {"$t": "random_state", "v": [self.array(keys), int(pos), int(has_gauss), float(cached)]}
        if isinstance(value, np.dtype):
            return {"$t": "dtype", "v": self._dtype_str(value, path)}
        if isinstance(value, type) and value in _SCALAR_TYPES.values():
            return {"$t": "scalar_type", "v": value.__name__}
        if type(value).__name__ == "MetadataRequest" and type(value).__module__.startswith("sklearn."):
            # set_fit_request and friends: {method: {param: alias}}, aliases None, bool or str
            return {"$t": "metadata_request",
                    "v": self.encode({method: dict(requests) for method, requests
                                      in value._serialize().items()}, path)}
        if type(value).__module__ == "torch" and type(value).__name__ == "device":
            return {"$t": "torch_device", "v": str(value)}
        return self._object(value, path)

    def _scalar(self, value, path):
        dtype = self._dtype_str(value.dtype, path)
        if value.dtype.kind == "U":
            return {"$t": "scalar", "dtype": dtype, "v": str(value)}
        if value.dtype.kind == "c":
            return {"$t": "scalar", "dtype": dtype,
                    "v": [self.encode(float(value.real), path), self.encode(float(value.imag), path)]}
        return {"$t": "scalar", "dtype": dtype, "v": self.encode(value.item(), path)}

    @staticmethod
    def _dtype_str(dtype, path):
        if dtype.kind not in _ARRAY_KINDS or dtype.fields is not None or dtype.subdtype is not None:
            raise TypeError(f"{path}: numpy dtype {dtype} cannot be saved (bool, integer, float, "
                            "complex and unicode only).")
        return dtype.str

    def _ndarray(self, value, path):
        if value.dtype == object:
            flat = value.ravel().tolist()
            if not all(type(v) is str for v in flat):
                raise TypeError(f"{path}: object arrays are saved only when they hold strings "
                                "(such as feature_names_in_).")
            return {"$t": "strings", "shape": list(value.shape), "v": flat}
        self._dtype_str(value.dtype, path)
        return self.array(value)

    def _object(self, obj, path):
        cls = type(obj)
        if cls.__name__ == "GIFunctionTransformer" and cls.__module__.startswith("sklearn_gi."):
            raise TypeError(
                f"{path}: GIFunctionTransformer holds Python functions (func, derivative, jacobian), "
                "which cannot be stored as data nor loaded without running code, so sklearn_gi.io "
                "does not save it. Use a supported transformer (sklearn_gi.io.trusted_classes()) "
                "or persist this model with pickle/joblib, for trusted use only."
            )
        name = _name_of(cls)
        if name is None and callable(obj):
            raise TypeError(
                f"{path} is a {_describe(obj)}: sklearn_gi.io stores data only; functions and other "
                "code cannot be saved (and could not be loaded safely)."
            )
        if name is None:
            raise TypeError(
                f"{path} is a {_describe(obj)}, which sklearn_gi.io cannot save: it is not one of the "
                "trusted classes (sklearn_gi.io.trusted_classes()); subclasses are not trusted either."
            )
        key = id(obj)
        if key in self.objects:
            return {"$t": "ref", "v": self.objects[key][0]}
        if key in self.active:
            raise TypeError(f"{path}: a {cls.__name__} that contains itself cannot be saved.")
        self.active.add(key)
        try:
            kind = _TRUSTED[name][2]
            node = {"$t": "object", "class": name}
            if kind == "bspline":
                node["state"] = {
                    "t": self.encode(np.asarray(obj.t), f"{path}.t"),
                    "c": self.encode(np.asarray(obj.c), f"{path}.c"),
                    "k": int(obj.k), "axis": int(obj.axis),
                    "extrapolate": self.encode(obj.extrapolate, f"{path}.extrapolate"),
                }
            else:
                attributes = dict(vars(obj))
                extra = _SAVE_HOOKS[name](self, obj, attributes, path) if name in _SAVE_HOOKS else None
                params = {}
                if kind == "estimator":
                    for param in obj.get_params(deep=False):
                        params[param] = self.encode(getattr(obj, param), f"{path}.{param}")
                        attributes.pop(param, None)
                    node["params"] = params
                node["state"] = {attr: self.encode(v, f"{path}.{attr}") for attr, v in attributes.items()}
                if extra is not None:
                    node["extra"] = extra
            node["id"] = len(self.objects)
            self.objects[key] = (node["id"], obj)
            return node
        finally:
            self.active.discard(key)


def _describe(obj):
    cls = type(obj)
    name = getattr(obj, "__qualname__", None) if callable(obj) else None
    kind = f"{cls.__module__}.{cls.__qualname__}"
    return f"{kind} ({name})" if name else kind


def _save_kernel_ridge(writer, obj, attributes, path):
    attributes.pop("_node", None)  # files written before the node stopped being kept
    return None


def _save_mlp(writer, obj, attributes, path):
    net = attributes.pop("net_", None)
    if net is None:
        return None
    writer.uses_torch = True
    module = net.module_
    state = {key: writer.array(tensor.detach().cpu().numpy())
             for key, tensor in module.state_dict().items()}
    return {
        "module_state": state,
        "history": writer.encode(list(net.history), f"{path}.net_.history"),
        "net": {"batch_size": int(net.batch_size), "gradient_weight": float(net.gradient_weight)},
    }


def _save_gan(writer, obj, attributes, path):
    net = attributes.pop("net_", None)
    if net is None:
        return None
    writer.uses_torch = True
    states = {}
    for name, module in (("generator_state", net.module_), ("critic_state", net.critic_)):
        states[name] = {key: writer.array(tensor.detach().cpu().numpy())
                        for key, tensor in module.state_dict().items()}
    return {**states, "history": writer.encode(list(net.history), f"{path}.net_.history"),
            "net": {"batch_size": int(net.batch_size), "mean_steps": int(net.mean_steps_)}}


_SAVE_HOOKS = {
    "sklearn_gi.kernel_ridge.GIKernelRidge": _save_kernel_ridge,
    "sklearn_gi.neural_network.GIMLPRegressor": _save_mlp,
    "sklearn_gi.generative.GIConditionalGAN": _save_gan,
}


def _npy_bytes(array):
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def save(estimator, file):
    """Save an estimator (fitted or not) to a model file that :func:`load` reads safely.

    The file is a zip archive of a JSON manifest and ``.npy`` arrays (see the
    module documentation for the format); nothing in it is pickled.

    Parameters
    ----------
    estimator : estimator
        A sklearn-gi estimator, :class:`~sklearn_gi.pipeline.GIPipeline` or
        :class:`~sklearn_gi.compose.GITransformedTargetRegressor`, built from
        the trusted classes (:func:`trusted_classes`).
    file : str, path-like or binary file object
        Destination; ``.sgi`` is the suggested extension. A path is written
        to a temporary file next to it, then renamed (no half-written file is
        left on failure).

    Raises
    ------
    TypeError
        When an attribute cannot be stored as data: Python functions
        (:class:`~sklearn_gi.preprocessing.GIFunctionTransformer`, a callable
        ``optimizer``, skorch ``callbacks``), untrusted classes or subclasses.
        The message names the attribute. Nothing is written.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from sklearn_gi.io import load, save
    >>> from sklearn_gi.linear_model import GIRidge
    >>> X = np.random.default_rng(0).normal(size=(5, 2))
    >>> model = GIRidge().fit(X, X @ [1.0, 2.0], np.tile([1.0, 2.0], (5, 1)))
    >>> path = os.path.join(tempfile.mkdtemp(), "model.sgi")
    >>> save(model, path)
    >>> bool(np.array_equal(load(path).predict(X), model.predict(X)))
    True
    """
    writer = _Writer()
    root = writer.encode(estimator, type(estimator).__name__)
    members = {}
    blobs = []
    for name, array in writer.arrays.values():
        data = _npy_bytes(array)
        members[name] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data),
                         "dtype": array.dtype.str, "shape": list(array.shape)}
        blobs.append((name, data))
    manifest = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "versions": _versions(writer.uses_torch),
        "root": root,
        "members": members,
    }
    manifest_bytes = json.dumps(manifest, allow_nan=False, indent=1).encode("utf-8")

    def write(target):
        with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_STORED) as archive:
            archive.writestr(_MANIFEST, manifest_bytes)
            for name, data in blobs:
                archive.writestr(name, data)

    if hasattr(file, "write"):
        write(file)
        return
    path = os.fspath(file)
    directory = os.path.dirname(os.path.abspath(path))
    handle, tmp = tempfile.mkstemp(prefix=".sgi-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(handle, "wb") as target:
            write(target)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


# --------------------------------------------------------------------------------- loading
# what zipfile raises on damaged, encrypted or exotic archives
_ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError,
               NotImplementedError, RuntimeError)


def _refuse(message):
    return ValueError(f"Not a valid sklearn-gi model file: {message}")


def _read_archive(file):
    """Manifest and raw members, after the structural and integrity checks."""
    if hasattr(file, "read"):
        data = file.read()
    else:
        with open(os.fspath(file), "rb") as handle:
            data = handle.read()
    if not isinstance(data, bytes):
        raise TypeError("load needs a path or a binary file object.")
    if data[:1] == b"\x80":
        raise _refuse("it looks like a pickle. sklearn_gi.io never unpickles (unpickling can run "
                      "arbitrary code); load pickles only from sources you trust, with pickle/joblib.")
    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise _refuse("it is not a zip archive (or it is truncated).")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except _ZIP_ERRORS as exc:
        raise _refuse(f"unreadable zip archive ({exc}).") from None
    if len(infos) > _MAX_MEMBERS:
        raise _refuse(f"too many members ({len(infos)}).")
    names = [info.filename for info in infos]
    if len(set(names)) != len(names):
        raise _refuse("duplicate member names.")
    for info in infos:
        if info.filename != _MANIFEST and not _MEMBER_RE.fullmatch(info.filename):
            raise _refuse(f"unexpected member {info.filename!r} (only {_MANIFEST} and "
                          "arrays/<i>.npy belong to the format).")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise _refuse(f"member {info.filename!r} uses an unsupported compression.")
    if _MANIFEST not in names:
        raise _refuse(f"no {_MANIFEST}.")
    by_name = {info.filename: info for info in infos}

    def read(name, size, limit=None):
        info = by_name[name]
        if info.file_size != size or (limit is not None and size > limit):
            raise _refuse(f"member {name!r} has {info.file_size} bytes, expected {size}.")
        try:
            with archive.open(info) as handle:
                content = handle.read(size + 1)
        except _ZIP_ERRORS as exc:
            raise _refuse(f"member {name!r} is damaged ({exc}).") from None
        if len(content) != size:
            raise _refuse(f"member {name!r} is truncated.")
        return content

    manifest_info = by_name[_MANIFEST]
    if manifest_info.file_size > _MAX_MANIFEST_BYTES:
        raise _refuse(f"{_MANIFEST} is too large ({manifest_info.file_size} bytes).")
    raw = read(_MANIFEST, manifest_info.file_size)
    try:
        manifest = json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise _refuse(f"{_MANIFEST} is not valid JSON ({exc}).") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
        raise _refuse(f"{_MANIFEST} does not name the format {FORMAT_NAME!r}.")
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise ValueError(
            f"Unsupported sklearn-gi model format version {version!r}: this sklearn-gi reads "
            f"version {FORMAT_VERSION}. Load it with the sklearn-gi version that wrote it "
            f"({_field(manifest, 'versions').get('sklearn_gi', 'unknown')})."
        )
    members = _field(manifest, "members")
    listed, stored = set(members), set(names) - {_MANIFEST}
    if listed != stored:
        missing, extra = sorted(listed - stored), sorted(stored - listed)
        raise _refuse(f"the archive's members do not match its manifest (missing: {missing}, "
                      f"unlisted: {extra}); it is truncated or was edited.")
    contents = {}
    for name, record in members.items():
        if not isinstance(record, dict) or not isinstance(record.get("size"), int):
            raise _refuse(f"bad manifest record for {name!r}.")
        content = read(name, record["size"])
        if hashlib.sha256(content).hexdigest() != record.get("sha256"):
            raise _refuse(f"SHA-256 mismatch of member {name!r}: the archive was modified or damaged.")
        contents[name] = content
    return manifest, contents


def _no_constant(name):
    raise _refuse(f"{_MANIFEST} contains the non-standard JSON constant {name}.")


def _field(mapping, key, kind=dict):
    value = mapping.get(key) if isinstance(mapping, dict) else None
    if not isinstance(value, kind):
        raise _refuse(f"missing or malformed field {key!r}.")
    return value


class _Reader:
    def __init__(self, members, contents, device):
        self.members = members
        self.contents = contents
        self.cache = {}
        self.objects = {}
        self.device = device

    def array(self, ref):
        if not isinstance(ref, str) or ref not in self.members:
            raise _refuse(f"reference to an unknown array {ref!r}.")
        if ref not in self.cache:
            record = self.members[ref]
            try:
                array = np.load(io.BytesIO(self.contents[ref]), allow_pickle=False)
            except (ValueError, OSError, EOFError) as exc:
                raise _refuse(f"member {ref!r} is not a plain .npy array ({exc}).") from None
            if (type(array) is not np.ndarray or array.dtype.kind not in _ARRAY_KINDS
                    or array.dtype.str != record.get("dtype") or list(array.shape) != record.get("shape")):
                raise _refuse(f"member {ref!r} does not hold the {record.get('dtype')} array of shape "
                              f"{record.get('shape')} that the manifest records.")
            self.cache[ref] = array
        return self.cache[ref]

    def decode(self, value):
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        if isinstance(value, list):
            return [self.decode(v) for v in value]
        if not isinstance(value, dict) or not isinstance(value.get("$t"), str):
            raise _refuse(f"malformed value {str(value)[:80]!r}.")
        tag = value["$t"]
        v = value.get("v")
        if tag == "float":
            if v not in ("nan", "inf", "-inf"):
                raise _refuse(f"bad float {v!r}.")
            return float(v)
        if tag == "tuple":
            return tuple(self.decode(_list(v)))
        if tag == "dict":
            out = {}
            for pair in _list(v):
                if not isinstance(pair, list) or len(pair) != 2:
                    raise _refuse("malformed dict entry.")
                key = self.decode(pair[0])
                if not isinstance(key, (str, int, float, bool, tuple, type(None))):
                    raise _refuse(f"unhashable dict key {key!r}.")
                out[key] = self.decode(pair[1])
            return out
        if tag == "slice":
            parts = [self.decode(p) for p in _list(v)]
            if len(parts) != 3 or not all(p is None or isinstance(p, Integral) for p in parts):
                raise _refuse("malformed slice.")
            return slice(*parts)
        if tag == "scalar":
            return self._scalar(value)
        if tag == "dtype":
            return _checked_dtype(v)
        if tag == "scalar_type":
            if not isinstance(v, str) or v not in _SCALAR_TYPES:
                raise _refuse(f"unknown numpy scalar type {v!r}.")
            return _SCALAR_TYPES[v]
        if tag == "array":
            return self.array(value.get("ref"))
        if tag == "strings":
            items = _list(v)
            shape = _list(value.get("shape"))
            if not all(isinstance(s, str) for s in items) or not all(
                    isinstance(s, int) and s >= 0 for s in shape) or int(np.prod(shape)) != len(items):
                raise _refuse("malformed string array.")
            array = np.empty(len(items), dtype=object)
            array[:] = items
            return array.reshape(shape)
        if tag == "random_state":
            parts = _list(v)
            if len(parts) != 4 or not isinstance(parts[0], dict):
                raise _refuse("malformed random_state.")
            keys = self.decode(parts[0])
            state = np.random.RandomState()
            try:
                state.set_state(("MT19937", keys, int(parts[1]), int(parts[2]), float(parts[3])))
            except (TypeError, ValueError) as exc:
                raise _refuse(f"malformed random_state ({exc}).") from None
            return state
        if tag == "metadata_request":
            return _metadata_request(self.decode(v))
        if tag == "torch_device":
            import torch

            if not isinstance(v, str) or not re.fullmatch(r"cpu|cuda(:[0-9]{1,3})?", v):
                raise _refuse(f"bad torch device {v!r}.")
            return torch.device(v)
        if tag == "ref":
            if not isinstance(v, int) or v not in self.objects:
                raise _refuse(f"reference to an unknown object {v!r}.")
            return self.objects[v]
        if tag == "object":
            return self._object(value)
        raise _refuse(f"unknown value tag {tag!r}.")

    def _scalar(self, value):
        dtype = _checked_dtype(value.get("dtype"))
        v = value.get("v")
        if dtype.kind == "c":
            parts = [self.decode(p) for p in _list(v)]
            if len(parts) != 2 or not all(isinstance(p, float) for p in parts):
                raise _refuse("malformed complex scalar.")
            return dtype.type(complex(*parts))
        v = self.decode(v)
        if not isinstance(v, (bool, int, float, str)):
            raise _refuse("malformed numpy scalar.")
        try:
            return dtype.type(v)
        except (TypeError, ValueError, OverflowError) as exc:
            raise _refuse(f"malformed numpy scalar ({exc}).") from None

    def _object(self, value):
        name = value.get("class")
        if not isinstance(name, str) or name not in _TRUSTED:
            raise ValueError(
                f"Refusing to load {name!r}: it is not one of the classes a sklearn-gi model file may "
                "contain (sklearn_gi.io.trusted_classes()). Nothing was imported or run."
            )
        key = value.get("id")
        if not isinstance(key, int) or key in self.objects:
            raise _refuse(f"bad object id {key!r}.")
        cls = _resolve(name)
        kind = _TRUSTED[name][2]
        state = _field(value, "state")
        if kind == "bspline":
            obj = self._bspline(cls, state)
        else:
            params = {}
            if kind == "estimator":
                raw_params = _field(value, "params")
                unknown = set(raw_params) - _param_names(cls)
                if unknown:
                    raise _refuse(f"{name} has no parameters {sorted(unknown)}.")
                params = {param: self.decode(v) for param, v in raw_params.items()}
            decoded = {attr: self.decode(v) for attr, v in state.items()}
            for attr in decoded:
                _check_attribute(cls, attr)
            obj = cls(**params) if kind == "estimator" else cls.__new__(cls)
            obj.__dict__.update(decoded)
            request = decoded.get("_metadata_request")
            if request is not None:
                if not getattr(request, "_sgi_loaded", False):
                    raise _refuse("_metadata_request must be a metadata request.")
                del request._sgi_loaded
                request.owner = obj
                for method in _routing_methods():
                    getattr(request, method).owner = obj
            if name in _LOAD_HOOKS:
                _LOAD_HOOKS[name](self, obj, value.get("extra"))
        self.objects[key] = obj
        return obj

    def _bspline(self, cls, state):
        t, c = self.decode(state.get("t")), self.decode(state.get("c"))
        k, axis = state.get("k"), state.get("axis")
        extrapolate = self.decode(state.get("extrapolate"))
        if not (isinstance(t, np.ndarray) and isinstance(c, np.ndarray) and type(k) is int
                and type(axis) is int and (extrapolate in (True, False, "periodic"))):
            raise _refuse("malformed BSpline.")
        return cls(t, c, k, extrapolate=extrapolate, axis=axis)


def _routing_methods():
    from sklearn.utils._metadata_requests import SIMPLE_METHODS

    return SIMPLE_METHODS


def _metadata_request(requests):
    from sklearn.utils._metadata_requests import MetadataRequest

    if not isinstance(requests, dict) or not set(requests) <= set(_routing_methods()):
        raise _refuse("malformed metadata request.")
    request = MetadataRequest(owner=None)
    for method, params in requests.items():
        if not isinstance(params, dict):
            raise _refuse("malformed metadata request.")
        for param, alias in params.items():
            if not (isinstance(param, str) and param.isidentifier()
                    and (alias is None or isinstance(alias, (bool, str)))):
                raise _refuse(f"malformed metadata request for {param!r}.")
            getattr(request, method).add_request(param=param, alias=alias)
    request._sgi_loaded = True  # owned by the object whose state holds it (set on load)
    return request


def _list(value):
    if not isinstance(value, list):
        raise _refuse("expected a list.")
    return value


def _checked_dtype(text):
    try:
        dtype = np.dtype(text) if isinstance(text, str) else None
    except TypeError:
        dtype = None
    if dtype is None or dtype.kind not in _ARRAY_KINDS or dtype.fields is not None:
        raise _refuse(f"bad dtype {text!r}.")
    return dtype


def _param_names(cls):
    import inspect

    kinds = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    return {name for name, p in inspect.signature(cls.__init__).parameters.items()
            if name != "self" and p.kind not in kinds}


def _check_attribute(cls, attr):
    """State may only set plain instance attributes, never shadow methods or properties."""
    if not isinstance(attr, str) or not attr.isidentifier() or attr.startswith("__"):
        raise _refuse(f"bad attribute name {attr!r}.")
    owner = getattr(cls, attr, None)
    if owner is not None and (callable(owner) or hasattr(owner, "__get__")):
        raise _refuse(f"attribute {attr!r} would shadow {cls.__name__}.{attr}.")


def _load_kernel_ridge(reader, obj, extra):
    # the compiled kernel is rebuilt from the parameters at every prediction
    if "dual_coef_" in vars(obj) and "y_mean_" not in vars(obj):
        # a file written before normalize_y: that model was fitted to the raw targets
        obj.normalize_y = False
        coef = np.asarray(obj.dual_coef_)
        obj.y_mean_ = np.zeros(1 if coef.ndim == 1 else coef.shape[1])
    return None


# what building a network from a file's (checked-type but arbitrary) parameters can raise
_BUILD_ERRORS = (AttributeError, TypeError, ValueError, KeyError, IndexError, RuntimeError,
                 OverflowError)


def _check_shapes(build, states):
    """Refuse a file whose arrays do not fit the networks its parameters describe.

    ``build()`` runs on torch's meta device (shapes only, no memory), so that
    a crafted file's parameters cannot make the loader allocate huge networks
    before the arrays are compared.
    """
    import torch

    try:
        with torch.device("meta"):
            modules = build()
        modules = modules if isinstance(modules, tuple) else (modules,)
        for module, state in zip(modules, states):
            expected = {key: tuple(t.shape) for key, t in module.state_dict().items()}
            if expected != {key: tuple(t.shape) for key, t in state.items()}:
                raise ValueError("the saved arrays have other names or shapes")
    except _BUILD_ERRORS as exc:
        raise _refuse(f"the network does not fit the estimator's parameters ({exc}).") from None


def _load_device(reader, saved):
    """``load(device=...)``, else the saved CUDA device when present here, else the CPU."""
    import torch

    if reader.device is not None:
        return torch.device(reader.device)
    if saved is not None and saved.type == "cuda" and torch.cuda.is_available() and (
            saved.index is None or saved.index < torch.cuda.device_count()):
        return saved
    return torch.device("cpu")


def _load_mlp(reader, obj, extra):
    if extra is None:
        return
    import torch
    from skorch.history import History

    from ..neural_network._modules import MLPModule

    device = obj.device_ = _load_device(reader, getattr(obj, "device_", None))
    if not hasattr(obj, "alpha_"):  # files from before alpha="auto": the penalty was alpha itself
        obj.alpha_ = 0.0 if isinstance(obj.alpha, str) else float(obj.alpha)
        obj.noise_probe_score_ = None
    state = _field(extra, "module_state")
    tensors = {key: torch.from_numpy(reader.array(_field(ref, "ref", str)))
               for key, ref in state.items()}
    if not tensors:
        raise _refuse("GIMLPRegressor without weights.")

    def build():
        # activation_ is the resolved activation (files before activation="auto" lack it)
        activation = getattr(obj, "activation_", obj.activation)
        return MLPModule(obj.n_features_in_, obj._hidden_sizes(), obj.n_outputs_, activation)

    _check_shapes(build, [tensors])
    try:
        module = build().to(dtype=next(iter(tensors.values())).dtype)
        module.load_state_dict(tensors, strict=True)
    except _BUILD_ERRORS as exc:
        raise _refuse(f"the network does not fit the estimator's parameters ({exc}).") from None
    module = module.to(device=device)
    net_params = _field(extra, "net")
    try:
        batch_size = int(net_params.get("batch_size", -1))
        gradient_weight = float(net_params.get("gradient_weight", 0.0))
    except (TypeError, ValueError):
        raise _refuse("bad network settings.") from None
    net = obj._make_net(module, 1, None, bool(gradient_weight))
    net.set_params(batch_size=batch_size)
    net.initialize()  # its optimizer leaves the weights alone until it steps
    history = reader.decode(extra.get("history", []))
    net.history = History(history if isinstance(history, list) else [])
    obj.net_ = net


def _load_gan(reader, obj, extra):
    if extra is None:
        return
    import torch
    from skorch.history import History

    obj.device_ = _load_device(reader, getattr(obj, "device_", None))
    states = {}
    for key in ("generator_state", "critic_state"):
        states[key] = {name: torch.from_numpy(reader.array(_field(ref, "ref", str)))
                       for name, ref in _field(extra, key).items()}
    if sum(t.numel() for state in states.values() for t in state.values()) == 0:
        raise _refuse("GIConditionalGAN without weights.")
    if "mean_estimator_" in vars(obj):  # a file of the first release: one regression of mu
        regression = vars(obj).pop("mean_estimator_")
        obj.mean_estimators_ = None if regression is None else [regression]
        if regression is not None:
            obj.n_mean_estimators = 1
    try:
        obj._validate_params()  # the parameters decide what is built
    except (TypeError, ValueError):
        raise _refuse("bad GIConditionalGAN parameters.") from None
    from ..neural_network import GIMLPRegressor

    prefit = obj._prefits_mean()
    regressions = getattr(obj, "mean_estimators_", None)
    # checked before anything is built: n_mean_estimators sets how many networks mu has, and
    # each must come with its own stored regression and its own arrays (the file's size bounds it)
    members = {name.split(".")[2] for name in states["generator_state"] if name.startswith("mean.members.")}
    if prefit != (regressions is not None) or prefit and (
            not isinstance(regressions, list) or len(regressions) != obj.n_mean_estimators
            or any(type(r) is not GIMLPRegressor or not hasattr(r, "net_") for r in regressions)
            or len({id(r) for r in regressions}) != len(regressions)
            or len(members) != (obj.n_mean_estimators if obj.n_mean_estimators > 1 else 0)):
        raise _refuse("the mean regressions do not match the estimator's parameters.")
    mean_dtypes = {t.dtype for name, t in states["generator_state"].items() if name.startswith("mean.")}
    if prefit and not (len(mean_dtypes) == 1 and mean_dtypes <= {torch.float32, torch.float64}):
        raise _refuse("bad mean network arrays.")
    _check_shapes(obj._modules, [states["generator_state"], states["critic_state"]])
    try:
        generator, critic = obj._modules()
        if prefit:
            generator.mean.to(mean_dtypes.pop())  # the regressions' dtype
        for module, key in ((generator, "generator_state"), (critic, "critic_state")):
            module.load_state_dict(states[key], strict=True)
    except _BUILD_ERRORS as exc:
        raise _refuse(f"the networks do not fit the estimator's parameters ({exc}).") from None
    if prefit:
        generator.mean.requires_grad_(False)
    net_params = _field(extra, "net")
    try:
        batch_size, mean_steps = int(net_params.get("batch_size", 1)), int(net_params.get("mean_steps", 0))
    except (TypeError, ValueError):
        raise _refuse("bad network settings.") from None
    net = obj._make_net(generator.to(obj.device_), critic.to(obj.device_), batch_size, fit_mean=not prefit)
    net.initialize()
    net.mean_steps_ = mean_steps
    history = reader.decode(extra.get("history", []))
    net.history = History(history if isinstance(history, list) else [])
    obj.net_ = net


_LOAD_HOOKS = {
    "sklearn_gi.kernel_ridge.GIKernelRidge": _load_kernel_ridge,
    "sklearn_gi.neural_network.GIMLPRegressor": _load_mlp,
    "sklearn_gi.generative.GIConditionalGAN": _load_gan,
}


def load(file, *, device=None):
    """Load an estimator saved by :func:`save`, without unpickling or running code from the file.

    Parameters
    ----------
    file : str, path-like or binary file object
        A model file written by :func:`save`.
    device : {"cpu", "cuda", "cuda:N"} or None, default=None
        Where a neural network's weights go. None: the device it was trained
        on when available, else the CPU (a CUDA-trained model loads on a
        machine without a GPU). The estimator's ``device`` parameter is
        restored as saved; ``device_`` says where it runs.

    Returns
    -------
    estimator : estimator
        The estimator, with the same parameters and fitted state: its
        predictions and gradients are those of the saved one.

    Raises
    ------
    ValueError
        The file is not a model file (a pickle, a truncated or damaged zip,
        a member not in the format, a SHA-256 mismatch), has an unsupported
        format version, or names a class outside :func:`trusted_classes`.
        Nothing from the file is executed in any case.

    Warns
    -----
    UserWarning
        When the file was written with other versions of sklearn-gi,
        scikit-learn or numpy.

    Examples
    --------
    >>> import io
    >>> import numpy as np
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sklearn_gi.io import load, save
    >>> from sklearn_gi.linear_model import GIRidge
    >>> from sklearn_gi.pipeline import make_gi_pipeline
    >>> X = np.random.default_rng(0).normal(size=(6, 2))
    >>> model = make_gi_pipeline(StandardScaler(), GIRidge())
    >>> model = model.fit(X, X @ [1.0, 2.0], np.tile([1.0, 2.0], (6, 1)))
    >>> buffer = io.BytesIO()
    >>> save(model, buffer)
    >>> loaded = load(io.BytesIO(buffer.getvalue()))
    >>> bool(np.array_equal(loaded.predict_gradient(X), model.predict_gradient(X)))
    True
    >>> load(io.BytesIO(b"\\x80\\x04 a pickle"))
    Traceback (most recent call last):
    ...
    ValueError: Not a valid sklearn-gi model file: it looks like a pickle. ...
    """
    manifest, contents = _read_archive(file)
    saved = _field(manifest, "versions")
    current = _versions(False)
    differ = [f"{lib} {saved.get(lib)} (running {current[lib]})"
              for lib in ("sklearn_gi", "sklearn", "numpy") if saved.get(lib) != current[lib]]
    if differ:
        warnings.warn("This model file was written with other library versions: " + ", ".join(differ)
                      + ". Fitted attributes can change between releases; check its predictions.",
                      UserWarning, stacklevel=2)
    reader = _Reader(_field(manifest, "members"), contents, device)
    try:
        return reader.decode(manifest.get("root"))
    except RecursionError:
        raise _refuse("the estimator tree is nested too deeply.") from None
