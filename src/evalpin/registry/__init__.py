"""Keeping and sharing: DVC remotes, restore, release tags, reproducing a revision."""
