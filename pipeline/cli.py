"""What run.py and run_ssl.py share once Jittor is configured: parse the flags against the registries, run,
and turn a :class:`~utils.errors.UserError` into one ``error:`` line and exit status 2."""
from utils import distributed as dist
from utils.errors import UserError


def main(build_parser, run, argv):
    """``run(build_parser().parse_args(argv))`` with the library's error handling; returns the exit status.

    Under MPI a failure ends the whole job (:func:`utils.distributed.fail`) instead of leaving the other
    ranks waiting in a collective.
    """
    try:
        return run(build_parser().parse_args(argv))
    except UserError as e:
        return dist.fail(f"error: {e}", 2)
    except KeyboardInterrupt:
        return dist.fail("interrupted", 130)
