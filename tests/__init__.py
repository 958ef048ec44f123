"""The test suite. `ROOT`, the repository root, is the one name test modules share by import; fixtures live in
conftest.py."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
