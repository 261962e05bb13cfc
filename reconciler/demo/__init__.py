"""Demo and benchmark worlds built from a desired state."""
