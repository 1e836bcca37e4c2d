"""Helpers of `bench/compare_mlflow.py`: servers, seeding, load and the report."""
