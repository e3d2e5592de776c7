"""The built-in XGBoost algorithm (`sagemaker-xgboost` images) on the real `xgboost` library."""
