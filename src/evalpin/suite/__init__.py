"""The suite's tasks and their data: local tasks, lm-eval's catalog on pinned data, the cache."""
