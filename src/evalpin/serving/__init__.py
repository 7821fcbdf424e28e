"""A pinned model served: the server command derived from conf/, and proof of what it serves."""
