"""The errors evalpin raises on purpose; the CLI maps each to an exit code and prints only its message."""


class EvalpinError(Exception):
    """A usage or configuration error (exit 2). The message names the file, the field and the fix."""

    exit_code = 2


class DriftError(EvalpinError):
    """What is on disk is not what was pinned (exit 1)."""

    exit_code = 1
