"""Tests of the executor, the run lock and saved plans."""
