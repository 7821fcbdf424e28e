"""The errors evalpin raises on purpose, and the exit codes: the CLI maps each error to its code and
prints only its message."""

from enum import IntEnum


class ExitCode(IntEnum):
    """What `evalpin` exits with; the --help epilog lists every code with its EXIT_MEANINGS entry."""

    OK = 0
    DRIFT = 1  # also a regression (compare) and a revision not reproduced (reproduce)
    REGRESSION = 1
    USAGE = 2  # also argparse's own usage errors
    NOT_COMPARABLE = 3  # compare: the two sides do not measure the same thing
    EQUIVALENT = 4  # reproduce: every decision equal, log-likelihoods within the tolerance, bytes not
    INTERRUPTED = 130  # Ctrl-C: 128 + SIGINT, as shells report it
    BROKEN_PIPE = 141  # stdout closed early (`evalpin verify | head -1`): 128 + SIGPIPE, as git and cat


EXIT_MEANINGS = {
    ExitCode.OK: "ok",
    ExitCode.DRIFT: "drift (compare: a regression; reproduce: not reproduced)",
    ExitCode.USAGE: "usage or configuration error (check-server: cannot tell)",
    ExitCode.NOT_COMPARABLE: "not comparable (compare: the sides measure different things)",
    ExitCode.EQUIVALENT: "reproduce: equivalent (every decision equal, log-likelihoods within tolerance)",
    ExitCode.INTERRUPTED: "interrupted",
    ExitCode.BROKEN_PIPE: "its reader closed the output pipe (| head), quietly",
}


class EvalpinError(Exception):
    """A usage or configuration error (exit 2). The message names the file, the field and the fix."""

    exit_code = ExitCode.USAGE


class DriftError(EvalpinError):
    """What is on disk is not what was pinned (exit 1)."""

    exit_code = ExitCode.DRIFT
