"""conf/ and params.yaml: composition, checks, values written back, selection, experiments."""
