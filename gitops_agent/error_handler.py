"""The one place that turns exceptions into a line on stderr and an exit code."""

from __future__ import annotations

import logging
import os
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager

from gitops_agent.errors import EXIT_FAILED, EXIT_INTERRUPTED, ConfigError, FatalError


def say(message: str) -> None:
    print(f"gitops-agent: {message}", file=sys.stderr)


@contextmanager
def exit_codes(debug: bool) -> Iterator[None]:
    """Run a command body; map its failures to SystemExit with one clear line."""
    try:
        yield
    except FatalError as error:
        if debug:
            traceback.print_exc()
        message = str(error)
        if isinstance(error, ConfigError) and len(error.problems) > 1:
            message += f" (and {len(error.problems) - 1} more problem(s) in that file)"
        say(f"error: {message}")
        raise SystemExit(error.exit_code) from None
    except KeyboardInterrupt:
        say("interrupted")
        raise SystemExit(EXIT_INTERRUPTED) from None
    except BrokenPipeError:  # `gitops-agent setup | head`: the reader had enough, no error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing to flush
        raise SystemExit(EXIT_FAILED) from None
    except Exception as error:  # anything unforeseen: short line, traceback only with --debug
        if debug:
            traceback.print_exc()
        else:
            logging.getLogger(__name__).debug("unexpected error", exc_info=True)
        say(f"internal error: {type(error).__name__}: {error} (run with --debug for details)")
        raise SystemExit(EXIT_FAILED) from None

