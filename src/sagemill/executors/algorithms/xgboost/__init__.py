"""The built-in XGBoost algorithm (`sagemaker-xgboost` images) on the real `xgboost` library."""

import sys

# xgboost's compat layer imports scikit-learn eagerly when it is installed (most of a second per job),
# only for its sklearn-style estimator wrappers, which this runner never uses. Hide scikit-learn while
# xgboost loads; metrics.py imports sklearn.metrics later, only if a job asks for such a metric.
if "xgboost" not in sys.modules and "sklearn" not in sys.modules:
    sys.modules["sklearn"] = None  # type: ignore[assignment]
    try:
        import xgboost  # noqa: F401
    finally:
        del sys.modules["sklearn"]
