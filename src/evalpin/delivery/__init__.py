"""A pinned delivery (model or dataset): its lock, files, roles, card, readers, golden checks."""
