"""Pure policy checks producing Findings, each citing a policy article."""
