"""The ground floor: errors, whole-file writes, hashing, names, YAML, the repository's layout."""
