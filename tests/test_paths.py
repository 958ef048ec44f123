"""Output paths are checked before any work starts, in every entry point that writes them: a folder where a
file goes, a file where a folder goes, a folder nobody can write in (under /proc, unwritable even for root)."""

from pathlib import Path

import pytest

import benchmark
import tune

BAD = {
    "a folder as a file": lambda tmp: tmp,
    "a file as a folder": lambda tmp: tmp / "file" / "out",
    "an unwritable folder": lambda tmp: Path("/proc/no-such-folder/out"),
}
WORDS = {"a folder as a file": "is a folder", "a file as a folder": "is a file", "an unwritable folder": "cannot"}
FOLDER_WORDS = WORDS | {"a folder as a file": "is a file"}  # for a folder option, the first case is a file


@pytest.mark.parametrize("case", BAD)
@pytest.mark.parametrize("flag", ["--results", "--report", "--figure"])
def test_benchmark_output_files(workdir, error_of, monkeypatch, case, flag):
    (workdir / "file").write_text("")
    monkeypatch.setattr(benchmark.executors, "execute", lambda *a, **k: pytest.fail("trained before the check"))
    code, line = error_of(benchmark.main, ["--configs", "tiny_*", "--seeds", "1", flag, str(BAD[case](workdir))])
    named = (f"error: argument {flag}: ", f"error: {flag} ")  # --results is checked once fits will write it
    assert code == 2 and line.startswith(named) and WORDS[case] in line, line
    assert not (workdir / "results").exists()


@pytest.mark.parametrize("case", BAD)
@pytest.mark.parametrize(
    "flag, main", [("--tensorboard", benchmark.main), ("--storage", tune.main), ("--output", tune.main)]
)
def test_output_folders(workdir, error_of, case, flag, main):
    (workdir / "file").write_text("")
    (workdir / "configs" / "fixed").mkdir()
    (workdir / "configs" / "tiny_base.yaml").rename(workdir / "configs" / "fixed" / "tiny_base.yaml")  # tune's cells
    target = workdir / "file" if case == "a folder as a file" else BAD[case](workdir)
    argv = ["--configs", "tiny_*", "--seeds", "1"]
    code, line = error_of(main, [*argv, flag, str(target)])
    assert code == 2 and line.startswith(f"error: argument {flag}: ") and FOLDER_WORDS[case] in line, line
