"""Benchmarks. `make bench` (python -m bench) runs each module in BENCHES."""
