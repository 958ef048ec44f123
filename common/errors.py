"""The one error path of every entry point: an expected failure (bad input, a missing or corrupt file, a full disk,
an unreachable cluster) ends in one `error:` line and a non-zero exit; anything else keeps its traceback, so a bug
stays visible."""

import errno
import sys
from argparse import ArgumentError, ArgumentParser
from collections.abc import Callable
from typing import NoReturn

import yaml

# Failures of libraries, by module and class: expected only once their library is loaded, so a runner that never
# imports Lightning or Optuna does not import them to catch their errors.
LIBRARY_ERRORS = (
    ("lightning.fabric.utilities.exceptions", "MisconfigurationException"),
    ("optuna.exceptions", "StorageInternalError"),
)
USAGE, FAILURE = 2, 1  # exit codes: a command line that cannot work; any other expected failure
# What the operating system says about the machine rather than the code: a full disk or quota, a read-only file
# system, a permission the user lacks. Any other OSError (a file our own code expected) keeps its traceback.
ENVIRONMENT = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM}


class Failure(RuntimeError):
    """A failure the project detects and explains itself: missing or corrupt data, an unreachable cluster, two
    implementations that do not compute the same thing."""


class InputError(ValueError):
    """Bad input, raised where it is checked: a value, key, file or path the user gave, named in the message with
    what to do. (A ValueError, so the argparse types that check values turn it into a usage error.)"""


class OneLineParser(ArgumentParser):
    """argparse whose usage errors are one line, `error: ... (see --help)`, with exit status 2, as every other
    expected failure is one line."""

    def error(self, message: str) -> NoReturn:
        self.exit(USAGE, f"error: {message} (see --help)\n")


def expected(error: BaseException) -> bool:
    """Whether `error` means bad input or a broken environment rather than a bug; declared here only."""
    kinds: list[type[BaseException]] = [Failure, InputError, yaml.YAMLError, ArgumentError]
    for module, name in LIBRARY_ERRORS:
        if module in sys.modules:
            kinds.append(getattr(sys.modules[module], name))
    return isinstance(error, tuple(kinds)) or isinstance(error, OSError) and error.errno in ENVIRONMENT


def message(error: BaseException, usage_hint: str = "") -> str:
    """The one line that reports `error`: its text on one line, and for a usage error the hint that helps."""
    text = " ".join(str(error).split())
    return f"error: {text} ({usage_hint})" if usage_hint and isinstance(error, ArgumentError) else f"error: {text}"


def run_main(main: Callable[[], object], usage_hint: str = "", interrupted: str = "interrupted") -> None:
    """Run an entry point's `main`: expected failures become one `error:` line on stderr (exit 2 for a usage error,
    1 otherwise), Ctrl-C one line saying what was kept (exit 130); other exceptions propagate with their traceback."""
    try:
        main()
    except KeyboardInterrupt:
        print(interrupted, file=sys.stderr)
        sys.exit(130)
    except Exception as e:
        if not expected(e):
            raise
        print(message(e, usage_hint), file=sys.stderr)
        sys.exit(USAGE if isinstance(e, ArgumentError) else FAILURE)
