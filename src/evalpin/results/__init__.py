"""What a run gave: per-sample outputs, reports, the regression gate, levels of reproduction."""
