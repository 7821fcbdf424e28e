"""The evaluate stage: lm-eval on the pins, each task keyed and stored, launchers, numerics."""
