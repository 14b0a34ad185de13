"""Demo scenarios: one module per pipeline, run by `pipelines demo` (see deployments/demo.py)."""
