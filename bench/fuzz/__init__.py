"""The parts of bench/fuzz_mlflow_api.py (the entry point, run as a script: `bench/` is on sys.path then)."""
