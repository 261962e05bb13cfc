"""Pure diff: desired access x Snapshot -> Plan."""
