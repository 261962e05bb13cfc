"""Reports: drift, inventory, review, and their renderers."""
