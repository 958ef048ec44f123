"""The one error path of every entry point: an expected failure (bad input, a missing or corrupt file, an
unreachable cluster) ends in one `error:` line and a non-zero exit; anything else keeps its traceback, so a bug
stays visible."""

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


class Failure(RuntimeError):
    """A failure the project detects and explains itself: missing or corrupt data, an unreachable cluster."""


class OneLineParser(ArgumentParser):
    """argparse whose usage errors are one line, `error: ... (see --help)`, with exit status 2, as every other
    expected failure is one line."""

    def error(self, message: str) -> NoReturn:
        self.exit(USAGE, f"error: {message} (see --help)\n")


def expected() -> tuple[type[BaseException], ...]:
    """The exceptions that mean bad input or a broken environment rather than a bug; declared here only."""
    kinds: list[type[BaseException]] = [Failure, ValueError, OSError, yaml.YAMLError, ArgumentError]
    for module, name in LIBRARY_ERRORS:
        if module in sys.modules:
            kinds.append(getattr(sys.modules[module], name))
    return tuple(kinds)


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
        if not isinstance(e, expected()):
            raise
        print(message(e, usage_hint), file=sys.stderr)
        sys.exit(USAGE if isinstance(e, ArgumentError) else FAILURE)
