"""Tests of the hash-chained audit log and its CLI."""
