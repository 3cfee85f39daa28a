"""Benchmarks of sklearn-gi estimators against standard regressors (``python -m benchmarks``)."""
