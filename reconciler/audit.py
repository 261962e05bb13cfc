"""Append-only, hash-chained JSONL audit log and its verifier."""
