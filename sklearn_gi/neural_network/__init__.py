"""Neural-network estimators trained on values and input-gradients.

Work in progress (issue 3): the Sobolev loss and device selection are here;
``GIMLPRegressor`` builds on them.
"""
