"""Benchmark code: generated repos, computed minimums and the benchmark run."""
