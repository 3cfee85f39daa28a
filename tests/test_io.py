"""Safe persistence (sklearn_gi.io): round trips of every estimator, and refusal of unsafe files."""

import io
import json
import pickle
import warnings
import zipfile

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.decomposition import PCA
from sklearn.gaussian_process.kernels import (
    RBF,
    ConstantKernel,
    DotProduct,
    Exponentiation,
    Matern,
    RationalQuadratic,
    WhiteKernel,
)
from sklearn.kernel_approximation import Nystroem, RBFSampler
from sklearn.preprocessing import (
    MaxAbsScaler,
    MinMaxScaler,
    PolynomialFeatures,
    RobustScaler,
    SplineTransformer,
    StandardScaler,
)

from sklearn_gi.compose import GITransformedTargetRegressor
from sklearn_gi.gaussian_process import GIGaussianProcessRegressor
from sklearn_gi.io import load, save, trusted_classes
from sklearn_gi.kernel_ridge import GIKernelRidge
from sklearn_gi.linear_model import GILinearRegression, GIRidge, RidgeGradient
from sklearn_gi.pipeline import GIPipeline, make_gi_pipeline
from sklearn_gi.preprocessing import GIFunctionTransformer


def _data(n=15, k=1, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, size=(n, 3))
    y = np.sin(X[:, 0]) + X[:, 1] * X[:, 2]
    G = np.c_[np.cos(X[:, 0]), X[:, 2], X[:, 1]]
    if k == 1:
        return X, y, G
    Y = np.c_[y, X[:, 0] ** 2 - X[:, 2]]
    G2 = np.stack([G, np.c_[2 * X[:, 0], 0 * X[:, 0], -np.ones(n)]], axis=1)
    return X, Y, G2


def _round_trip(model, tmp_path):
    path = tmp_path / "model.sgi"
    save(model, path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # same versions: no warning
        return load(path)


def _assert_same_params(a, b):
    pa, pb = a.get_params(deep=False), b.get_params(deep=False)
    assert set(pa) == set(pb)
    for key in pa:
        va, vb = pa[key], pb[key]
        if hasattr(va, "get_params"):
            assert type(va) is type(vb)
            _assert_same_params(va, vb)
        elif key in ("steps", "transformers"):
            assert [s[0] for s in va] == [s[0] for s in vb]
            for sa, sb in zip(va, vb):
                if hasattr(sa[1], "get_params"):
                    _assert_same_params(sa[1], sb[1])
        elif isinstance(va, np.ndarray):
            np.testing.assert_array_equal(va, vb)
        else:
            assert va == vb, key


def _assert_same_model(model, loaded, X, exact=True):
    assert type(loaded) is type(model)
    _assert_same_params(model, loaded)
    check = np.testing.assert_array_equal if exact else (
        lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12))
    check(loaded.predict(X), model.predict(X))
    check(loaded.predict_gradient(X), model.predict_gradient(X))


def _gi_models():
    kernel = ConstantKernel() * RBF([1.0, 1.0, 1.0]) + WhiteKernel(1e-3)
    return {
        "GIRidge": (GIRidge(alpha=0.1), 1),
        "GIRidge-2out": (GIRidge(alpha=0.1, fit_intercept=False), 2),
        "GILinearRegression": (GILinearRegression(gradient_weight=0.5), 1),
        "RidgeGradient": (RidgeGradient(alpha=0.1, prior_weight=2.0), 2),
        "GIGP-default": (GIGaussianProcessRegressor(random_state=0), 1),
        "GIGP-2out-nan": (GIGaussianProcessRegressor(kernel, n_restarts_optimizer=1, random_state=0), 2),
        "GIGP-matern": (GIGaussianProcessRegressor(
            ConstantKernel() * Matern(1.0, nu=2.5) + RationalQuadratic(), optimizer=None), 1),
        "GIGP-dot": (GIGaussianProcessRegressor(
            DotProduct(1.0) * DotProduct(0.5) + WhiteKernel(), alpha=1e-6, optimizer=None), 1),
        "GIKernelRidge-rbf": (GIKernelRidge(alpha=1e-3, kernel="rbf", gamma=0.5), 2),
        "GIKernelRidge-poly": (GIKernelRidge(kernel="poly", kernel_params={"degree": 2}), 1),
        "GIKernelRidge-object": (GIKernelRidge(alpha=[1e-3, 1e-2], kernel=ConstantKernel() * RBF(0.7)), 2),
        "pipeline-scaler-poly": (make_gi_pipeline(StandardScaler(), PolynomialFeatures(2), GIRidge()), 1),
        "pipeline-rbfsampler": (make_gi_pipeline(RBFSampler(n_components=20, random_state=0),
                                                 GIRidge(alpha=1e-3)), 1),
        "pipeline-nystroem": (make_gi_pipeline(MinMaxScaler(), Nystroem(n_components=8, random_state=0),
                                               GIRidge(alpha=1e-3)), 2),
        "pipeline-spline-pca": (GIPipeline([("robust", RobustScaler()), ("pca", PCA(3, whiten=True)),
                                            ("spline", SplineTransformer(n_knots=4)),
                                            ("ridge", GIRidge(alpha=1e-2))]), 1),
        "pipeline-columns": (make_gi_pipeline(
            ColumnTransformer([("scale", MaxAbsScaler(), [0, 1]), ("drop", "drop", [])],
                              remainder="passthrough"),
            GIKernelRidge(alpha=1e-3)), 1),
        "ttr-scaler": (GITransformedTargetRegressor(GIRidge(alpha=1e-3), transformer=StandardScaler()), 1),
        "ttr-default": (GITransformedTargetRegressor(), 2),
    }


_MODELS = _gi_models()


@pytest.mark.parametrize("name", sorted(_MODELS))
def test_round_trip_identical_predictions_and_gradients(name, tmp_path):
    model, k = _MODELS[name]
    model = clone(model)
    X, y, G = _data(k=k)
    if name == "GIGP-2out-nan":
        G[:4, 1, 2] = np.nan  # the outputs get different factorisations
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence of tiny fits is not the point
        model.fit(X, y, G)
    loaded = _round_trip(model, tmp_path)
    X_test = _data(n=7, seed=1)[0]
    _assert_same_model(model, loaded, X_test)
    if isinstance(model, GIGaussianProcessRegressor):
        for a, b in zip(model.predict(X_test, return_std=True), loaded.predict(X_test, return_std=True)):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(model.kernel_.theta, loaded.kernel_.theta)
        assert loaded.log_marginal_likelihood_value_ == model.log_marginal_likelihood_value_


def test_round_trip_keeps_shared_arrays_and_feature_names(tmp_path):
    pd = pytest.importorskip("pandas")
    X, y, G = _data()
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    model = GIKernelRidge(alpha=1e-3).fit(frame, y, G)
    loaded = _round_trip(model, tmp_path)
    assert loaded._system.X is loaded.X_fit_  # one array, stored once
    np.testing.assert_array_equal(loaded.feature_names_in_, ["a", "b", "c"])
    assert loaded.feature_names_in_.dtype == object
    np.testing.assert_array_equal(loaded.predict(frame), model.predict(frame))


@pytest.mark.parametrize("model", [GIRidge(alpha=3.0), GIGaussianProcessRegressor(RBF(2.0)),
                                   GIGaussianProcessRegressor(Exponentiation(RBF(2.0), 2)),
                                   GIKernelRidge(kernel=Matern(nu=1.5)),
                                   make_gi_pipeline(StandardScaler(), GIRidge())],
                         ids=lambda m: type(m).__name__)
def test_unfitted_round_trip(model, tmp_path):
    loaded = _round_trip(model, tmp_path)
    _assert_same_params(model, loaded)
    X, y, G = _data()
    if isinstance(getattr(model, "kernel", None), Exponentiation):
        return  # allowlisted, but not differentiated by the models
    np.testing.assert_array_equal(clone(model).fit(X, y, G).predict(X), loaded.fit(X, y, G).predict(X))


def test_partial_fit_continues_after_load(tmp_path):
    X, y, G = _data(n=20)
    model = GIRidge(alpha=0.1).partial_fit(X[:10], y[:10], G[:10])
    loaded = _round_trip(model, tmp_path)
    np.testing.assert_array_equal(loaded.partial_fit(X[10:], y[10:], G[10:]).coef_,
                                  model.partial_fit(X[10:], y[10:], G[10:]).coef_)


def test_file_object_and_format(tmp_path):
    X, y, G = _data()
    model = GIRidge().fit(X, y, G)
    buffer = io.BytesIO()
    save(model, buffer)
    with zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as archive:
        names = archive.namelist()
        manifest = json.loads(archive.read("manifest.json"))
    assert names[0] == "manifest.json" and all(n.startswith("arrays/") for n in names[1:])
    assert manifest["format"] == "sklearn-gi-model" and manifest["format_version"] == 1
    assert manifest["root"]["class"] == "sklearn_gi.linear_model.GIRidge"
    assert manifest["root"]["params"]["alpha"] == 1.0
    assert {"sklearn_gi", "sklearn", "numpy"} <= set(manifest["versions"])
    np.testing.assert_array_equal(load(io.BytesIO(buffer.getvalue())).coef_, model.coef_)


# ------------------------------------------------------------------------------ refusals
class _Marker:
    """Unpickling this creates a file: the proof that unpickling ran code."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_malicious_pickle_renamed_executes_nothing(tmp_path):
    marker = tmp_path / "pwned"
    payload = pickle.dumps(_Marker(str(marker)))
    pickle.loads(payload).close()  # the payload is live: unpickling it creates the file
    assert marker.exists()
    marker.unlink()
    path = tmp_path / "model.sgi"
    path.write_bytes(payload)
    with pytest.raises(ValueError, match="looks like a pickle"):
        load(path)
    assert not marker.exists()
    # a zip that smuggles the pickle in as a member is refused as well
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("manifest.json", json.dumps({"format": "sklearn-gi-model"}))
        archive.writestr("data.pkl", payload)
    with pytest.raises(ValueError, match="unexpected member 'data.pkl'"):
        load(path)
    assert not marker.exists()


def test_joblib_and_torch_files_are_refused(tmp_path):
    joblib = pytest.importorskip("joblib")
    X, y, G = _data()
    path = tmp_path / "model.sgi"
    joblib.dump(GIRidge().fit(X, y, G), path)
    with pytest.raises(ValueError, match="Not a valid sklearn-gi model file"):
        load(path)


@pytest.mark.parametrize("cut", [0.3, 0.7, 0.99])
def test_truncated_file(cut, tmp_path):
    X, y, G = _data()
    path = tmp_path / "model.sgi"
    save(GIGaussianProcessRegressor(optimizer=None).fit(X, y, G), path)
    data = path.read_bytes()
    path.write_bytes(data[: int(cut * len(data))])
    with pytest.raises(ValueError, match="Not a valid sklearn-gi model file"):
        load(path)
    path.write_bytes(b"")
    with pytest.raises(ValueError, match="not a zip archive"):
        load(path)


def _rewrite(path, edit):
    """Rewrite the archive at ``path`` with ``edit(name, bytes) -> bytes`` applied to each member."""
    with zipfile.ZipFile(path) as archive:
        members = [(name, archive.read(name)) for name in archive.namelist()]
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members:
            archive.writestr(name, edit(name, data))


def _saved(tmp_path):
    X, y, G = _data()
    path = tmp_path / "model.sgi"
    save(GIRidge().fit(X, y, G), path)
    return path


def test_tampered_member_hash_mismatch(tmp_path):
    path = _saved(tmp_path)

    def edit(name, data):
        if name == "arrays/0.npy":
            return data[:-8] + np.float64(1e6).tobytes()
        return data

    _rewrite(path, edit)
    with pytest.raises(ValueError, match="SHA-256 mismatch of member 'arrays/0.npy'"):
        load(path)


def _edit_manifest(path, change):
    def edit(name, data):
        if name != "manifest.json":
            return data
        manifest = json.loads(data)
        change(manifest)
        return json.dumps(manifest).encode()

    _rewrite(path, edit)


def test_non_allowlisted_class_is_refused(tmp_path):
    path = _saved(tmp_path)

    def change(manifest):
        manifest["root"]["class"] = "os.system"

    _edit_manifest(path, change)
    with pytest.raises(ValueError, match="Refusing to load 'os.system'"):
        load(path)


def test_nested_non_allowlisted_class_is_refused(tmp_path):
    path = _saved(tmp_path)

    def change(manifest):
        manifest["root"]["params"]["alpha"] = {"$t": "object", "class": "builtins.eval", "id": 9,
                                               "params": {}, "state": {}}

    _edit_manifest(path, change)
    with pytest.raises(ValueError, match="Refusing to load 'builtins.eval'"):
        load(path)


@pytest.mark.parametrize("change, message", [
    (lambda m: m.update(format_version=99), "Unsupported sklearn-gi model format version 99"),
    (lambda m: m.update(format="something"), "does not name the format"),
    (lambda m: m["root"]["params"].update(bogus=1), "has no parameters"),
    (lambda m: m["root"]["state"].update(predict=1), "would shadow GIRidge.predict"),
    (lambda m: m["root"]["state"].update(__class__=1), "bad attribute name"),
    (lambda m: m["members"].pop("arrays/0.npy"), "do not match its manifest"),
    (lambda m: m["root"]["state"].update(x={"$t": "eval", "v": "1"}), "unknown value tag"),
])
def test_malformed_manifest_is_refused(change, message, tmp_path):
    path = _saved(tmp_path)
    _edit_manifest(path, change)
    with pytest.raises(ValueError, match=message):
        load(path)


def test_path_traversal_member_is_refused(tmp_path):
    path = _saved(tmp_path)
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("../evil.npy", b"x")
    with pytest.raises(ValueError, match="unexpected member '../evil.npy'"):
        load(path)


def test_object_array_member_is_refused(tmp_path):
    path = _saved(tmp_path)
    buffer = io.BytesIO()
    np.save(buffer, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    evil = buffer.getvalue()

    def edit(name, data):
        return evil if name == "arrays/0.npy" else data

    def rehash(manifest):
        import hashlib

        record = manifest["members"]["arrays/0.npy"]
        record.update(sha256=hashlib.sha256(evil).hexdigest(), size=len(evil))

    _rewrite(path, edit)
    _edit_manifest(path, rehash)
    with pytest.raises(ValueError, match="not a plain .npy array"):
        load(path)


def test_version_mismatch_warns(tmp_path):
    path = _saved(tmp_path)
    _edit_manifest(path, lambda m: m["versions"].update(sklearn="0.1"))
    with pytest.warns(UserWarning, match="sklearn 0.1"):
        load(path)


def test_function_transformer_refused_at_save(tmp_path):
    X, y, G = _data()
    model = make_gi_pipeline(GIFunctionTransformer(np.sinh, derivative=np.cosh), GIRidge()).fit(X, y, G)
    path = tmp_path / "model.sgi"
    with pytest.raises(TypeError, match="GIFunctionTransformer holds Python functions"):
        save(model, path)
    assert not path.exists() and list(tmp_path.iterdir()) == []


def test_callables_and_untrusted_classes_refused_at_save(tmp_path):
    X, y, G = _data()
    ttr = GITransformedTargetRegressor(GIRidge(), func=np.log1p, inverse_func=np.expm1,
                                       func_derivative=lambda y: 1 / (1 + y))
    with pytest.raises(TypeError, match=r"GITransformedTargetRegressor\.func is a .*function"):
        save(ttr, tmp_path / "a.sgi")

    class MyRidge(GIRidge):
        pass

    with pytest.raises(TypeError, match="not one of the trusted classes"):
        save(make_gi_pipeline(StandardScaler(), MyRidge()), tmp_path / "b.sgi")
    with pytest.raises(TypeError, match="optimizer is a"):
        save(GIGaussianProcessRegressor(optimizer=lambda f, t, bounds: (t, f(t, False))),
             tmp_path / "c.sgi")


def test_trusted_classes():
    names = trusted_classes()
    assert "sklearn_gi.neural_network.GIMLPRegressor" in names
    assert "sklearn_gi.generative.GIConditionalGAN" in names
    assert "sklearn.gaussian_process.kernels.RBF" in names
    assert not any(name.startswith(("os.", "builtins.", "subprocess.")) for name in names)


def test_io_does_not_import_torch():
    import subprocess
    import sys

    code = ("import sys, io, numpy as np, sklearn_gi.io as sio; from sklearn_gi.linear_model import GIRidge; "
            "b = io.BytesIO(); sio.save(GIRidge().fit(np.eye(3), [1., 2., 3.]), b); "
            "sio.load(io.BytesIO(b.getvalue())); assert 'torch' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


# ------------------------------------------------------------------------- neural networks
def _mlp(**params):
    from sklearn_gi.neural_network import GIMLPRegressor

    return GIMLPRegressor((6,), max_iter=20, random_state=0, device="cpu", **params)


@pytest.mark.parametrize("params, k, dtype", [
    ({}, 1, np.float64),
    ({"solver": "adam", "early_stopping": True, "activation": "silu"}, 2, np.float64),
    ({"gradient_projections": 1}, 2, np.float32),
    ({"solver": "adam", "learning_rate": "one_cycle"}, 1, np.float64),
], ids=["lbfgs", "adam-early-stopping", "projections-float32", "one-cycle-softplus-rms"])
def test_mlp_round_trip(params, k, dtype, tmp_path):
    X, y, G = _data(k=k)
    X = X.astype(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a 20-iteration fit does not converge
        model = _mlp(**params).fit(X, y, G)
    loaded = _round_trip(model, tmp_path)
    _assert_same_model(model, loaded, X[:7])
    assert loaded.predict(X).dtype == dtype
    assert str(loaded.device_) == "cpu"
    assert loaded.loss_curve_ == model.loss_curve_ and loaded.n_iter_ == model.n_iter_
    assert len(loaded.net_.history) == len(model.net_.history)
    # as after a fit, the weights own their storage (no optimizer buffers pickled with them)
    weights = list(loaded.net_.module_.parameters())
    assert len({p.untyped_storage().data_ptr() for p in weights}) == len(weights)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        refit = loaded.fit(X, y, G)  # a loaded model is an ordinary estimator
        again = model.fit(X, y, G)
    np.testing.assert_array_equal(refit.predict(X), again.predict(X))


@pytest.mark.parametrize("params", [{}, {"n_mean_estimators": 1}, {"mean_solver": "adam"},
                                    {"mean_residual": False}],
                         ids=["lbfgs-mean", "one-mean-network", "adam-mean", "direct-generator"])
def test_conditional_gan_round_trip(params, tmp_path):
    from sklearn_gi.datasets import make_stochastic_problem
    from sklearn_gi.generative import GIConditionalGAN

    X, Y, G = make_stochastic_problem("garch", 60, random_state=0)
    gan = GIConditionalGAN((8,), (8,), latent_dim=2, max_iter=2, predict_samples=16, device="cpu",
                           random_state=0, **params).fit(X, Y, G)
    loaded = _round_trip(gan, tmp_path)
    _assert_same_model(gan, loaded, X[:7])
    np.testing.assert_array_equal(loaded.sample(X[:3], 5, random_state=1),
                                  gan.sample(X[:3], 5, random_state=1))
    assert loaded.loss_curve_ == gan.loss_curve_ and len(loaded.net_.history) == 2
    assert (loaded.mean_estimators_ is None) == (gan.mean_estimators_ is None)
    refit, again = loaded.fit(X, Y, G), gan.fit(X, Y, G)  # a loaded model is an ordinary estimator
    np.testing.assert_array_equal(refit.predict(X[:7]), again.predict(X[:7]))


@pytest.mark.parametrize("param, value", [("activation", "bogus"), ("latent_anchors", -1),
                                          ("generator_layers", [3]), ("mean_residual", False),
                                          ("discriminator_layers", [10**6, 10**6]),
                                          # mu would be built of 10**7 networks before any check
                                          ("n_mean_estimators", 10**7), ("n_mean_estimators", 0),
                                          ("n_mean_estimators", 4), ("n_mean_estimators", "5"),
                                          ("mean_solver", "adam"), ("mean_weight", "1")])
def test_conditional_gan_with_tampered_parameters_is_refused(param, value, tmp_path):
    from sklearn_gi.datasets import make_stochastic_problem
    from sklearn_gi.generative import GIConditionalGAN

    X, Y, G = make_stochastic_problem("heteroscedastic", 40, random_state=0)
    path = tmp_path / "gan.sgi"
    save(GIConditionalGAN((8,), (8,), latent_dim=2, max_iter=1, device="cpu", random_state=0)
         .fit(X, Y, G), path)

    def change(manifest):
        manifest["root"]["params"][param] = value

    _edit_manifest(path, change)
    with pytest.raises(ValueError, match="Not a valid sklearn-gi model file"):
        load(path)


@pytest.mark.parametrize("padding", ["zeros", "same-regression", "other-class"])
def test_conditional_gan_with_padded_mean_regressions_is_refused(padding, tmp_path):
    """A file claiming 10**7 mean networks with a list as long must not make the loader build them."""
    from sklearn_gi.datasets import make_stochastic_problem
    from sklearn_gi.generative import GIConditionalGAN

    X, Y, G = make_stochastic_problem("heteroscedastic", 40, random_state=0)
    path = tmp_path / "gan.sgi"
    save(GIConditionalGAN((8,), (8,), latent_dim=2, max_iter=1, device="cpu", random_state=0,
                          n_mean_estimators=2).fit(X, Y, G), path)
    count = 10**7 if padding == "zeros" else 2

    def pad(manifest):
        root = manifest["root"]
        root["params"]["n_mean_estimators"] = count
        first = root["state"]["mean_estimators_"][0]
        root["state"]["mean_estimators_"] = {
            "zeros": [0] * count,
            "same-regression": [first, {"$t": "ref", "v": first["id"]}],  # one regression twice
            "other-class": [first, {"$t": "object", "class": "sklearn_gi.linear_model.GIRidge",
                                    "params": {}, "state": {}, "id": 10**6}],
        }[padding]

    _edit_manifest(path, pad)
    with pytest.raises(ValueError, match="the mean regressions do not match the estimator's parameters"):
        load(path)


def test_conditional_gan_file_of_the_first_release_loads(tmp_path):
    """Files written before n_mean_estimators: one regression in ``mean_estimator_``."""
    from sklearn_gi.datasets import make_stochastic_problem
    from sklearn_gi.generative import GIConditionalGAN

    X, Y, G = make_stochastic_problem("heteroscedastic", 40, random_state=0)
    gan = GIConditionalGAN((8,), (8,), latent_dim=2, max_iter=1, device="cpu", random_state=0,
                           n_mean_estimators=1).fit(X, Y, G)
    path = tmp_path / "gan.sgi"
    save(gan, path)

    def as_first_release(manifest):
        root = manifest["root"]
        del root["params"]["n_mean_estimators"]
        root["state"]["mean_estimator_"] = root["state"].pop("mean_estimators_")[0]

    _edit_manifest(path, as_first_release)
    loaded = load(path)
    assert loaded.n_mean_estimators == 1 and len(loaded.mean_estimators_) == 1
    assert not hasattr(loaded, "mean_estimator_")
    _assert_same_model(gan, loaded, X[:7])


def test_mlp_in_pipeline_round_trip(tmp_path):
    X, y, G = _data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = make_gi_pipeline(StandardScaler(), _mlp()).fit(X, y, G)
    _assert_same_model(model, _round_trip(model, tmp_path), X)


def test_mlp_skorch_callbacks_refused_at_save(tmp_path):
    from skorch.callbacks import LRScheduler

    with pytest.raises(TypeError, match=r"GIMLPRegressor\.callbacks\[0\] is a skorch"):
        save(_mlp(callbacks=[LRScheduler()]), tmp_path / "model.sgi")


def test_cuda_trained_mlp_loads_on_cpu(tmp_path, monkeypatch):
    """A file from a GPU machine (device="cuda", device_ cuda:0) loads where CUDA is absent."""
    import torch

    X, y, G = _data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = _mlp().fit(X, y, G)
    path = tmp_path / "model.sgi"
    save(model, path)

    def as_if_from_gpu(manifest):  # what save writes for a model trained on CUDA
        manifest["root"]["params"]["device"] = "cuda"
        manifest["root"]["state"]["device_"] = {"$t": "torch_device", "v": "cuda:0"}

    _edit_manifest(path, as_if_from_gpu)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    loaded = load(path)
    assert loaded.get_params()["device"] == "cuda"  # the parameter as saved
    assert str(loaded.device_) == "cpu"  # where it runs
    assert next(loaded.net_.module_.parameters()).device.type == "cpu"
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    np.testing.assert_array_equal(loaded.predict_gradient(X), model.predict_gradient(X))


@pytest.mark.cuda
def test_cuda_round_trip(tmp_path):
    import torch

    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    X, y, G = _data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = _mlp().set_params(device="cuda").fit(X, y, G)
    path = tmp_path / "model.sgi"
    save(model, path)
    on_gpu, on_cpu = load(path), load(path, device="cpu")
    assert on_gpu.device_.type == "cuda" and on_cpu.device_.type == "cpu"
    np.testing.assert_array_equal(on_gpu.predict(X), model.predict(X))
    np.testing.assert_allclose(on_cpu.predict(X), model.predict(X), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(on_cpu.predict_gradient(X), model.predict_gradient(X), rtol=1e-10, atol=1e-12)


def test_damaged_files_raise_value_error_only():
    """Random byte damage anywhere in the file: a ValueError, or an intact load, never another error."""
    X, y, G = _data()
    buffer = io.BytesIO()
    save(GIGaussianProcessRegressor(optimizer=None).fit(X, y, G), buffer)
    data = buffer.getvalue()
    rng = np.random.default_rng(0)
    for _ in range(300):
        damaged = bytearray(data)
        damaged[rng.integers(len(damaged))] = rng.integers(256)
        try:
            load(io.BytesIO(bytes(damaged)))
        except ValueError:
            pass


def test_metadata_requests_round_trip(tmp_path):
    import sklearn

    with sklearn.config_context(enable_metadata_routing=True):
        model = GIRidge().set_fit_request(sample_weight=True, dZdX=False)
        model = make_gi_pipeline(StandardScaler(), model)
        loaded = _round_trip(model, tmp_path)
        final = loaded.steps[-1][1]
        assert final._metadata_request._serialize() == model.steps[-1][1]._metadata_request._serialize()
        assert final._metadata_request.owner is final
        assert final.get_metadata_routing().fit.requests["sample_weight"] is True


def _refuse_huge_allocations(monkeypatch):
    """Make any real (not meta) allocation of 10^12 elements a test failure."""
    import torch

    empty = torch.empty

    def guarded_empty(*size, **kwargs):
        shape = size[0] if len(size) == 1 and isinstance(size[0], (tuple, list, torch.Size)) else size
        if int(np.prod(shape)) >= 10**12 and kwargs.get("device") != "meta" and str(
                torch.get_default_device()) != "meta":
            raise AssertionError("a huge network was allocated")
        return empty(*size, **kwargs)

    monkeypatch.setattr(torch, "empty", guarded_empty)


def _small_gan():
    from sklearn_gi.datasets import make_stochastic_problem
    from sklearn_gi.generative import GIConditionalGAN

    X, Y, G = make_stochastic_problem("heteroscedastic", 40, random_state=0)
    return GIConditionalGAN((8,), (8,), latent_dim=2, max_iter=1, device="cpu",
                            random_state=0).fit(X, Y, G)


def _small_mlp():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _mlp().fit(*_data())


@pytest.mark.parametrize("fitted, param", [(_small_mlp, "hidden_layer_sizes"),
                                           (_small_gan, "discriminator_layers")],
                         ids=["mlp", "gan"])
def test_huge_tampered_layers_are_refused_without_building_them(fitted, param, tmp_path, monkeypatch):
    """Shapes are compared on torch's meta device: 10^6 x 10^6 weights (8 TB) are never allocated."""
    path = tmp_path / "model.sgi"
    save(fitted(), path)

    def change(manifest):
        manifest["root"]["params"][param] = [10**6, 10**6]

    _edit_manifest(path, change)
    _refuse_huge_allocations(monkeypatch)
    with pytest.raises(ValueError, match="Not a valid sklearn-gi model file"):
        load(path)
