"""Nothing accepted silently (issue 31), beyond the rows of tests/test_bad_input.py: what its table cannot express — a
warning, a file's mode, a mocked permission, a reader kept as it reads, what a refused tuning leaves — for each
class: a YAML key given twice, an integer out of range, a checkpoint of another model, inputs on another scale,
repeats and empty lists, the umask's permissions, read-only inputs, checks before writes."""

import errno
import os
import stat
import tempfile
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch
from jsonargparse import Namespace

import benchmark
import train
import tune
from common import options, paths
from common.errors import InputError
from common.files import write_atomically
from framework.exercises import course
from framework.exercises import mnist as framework_mnist
from pairs import runs, tuning
from pairs.cli import PairCLI
from pairs.space import Space, TuneError
from scripts import validate

pytestmark = pytest.mark.filterwarnings("ignore::jsonargparse._deprecated.JsonargparseDeprecationWarning")
SPACE = "space:\n  optimizer.init_args.lr: {low: 1.0e-3, high: 1.0e-1, log: true}\n"
GOOD = '{"config": "a", "config_hash": "h", "seed": 0, "metrics": {"acc": 0.5}, "fit_seconds": 1}'


# ---- a YAML key given twice ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, words",
    [
        ("model:\n  trunk: cnn\ndata: {}\nmodel:\n  trunk: mlp\n", "key model is given twice, on line 1 and line 4"),
        ("model:\n  trunk: cnn\n  trunk: mlp\n", "key model.trunk is given twice, on line 2 and line 3"),
        ("cells:\n  - {a: 1, a: 2}\n", "key cells[0].a is given twice, on line 2, at columns 6 and 12"),
        ("1: a\n01: b\n", "key 01 is given twice, on line 1 and line 2"),  # one key as the loader reads it
    ],
)
def test_a_key_given_twice_names_the_file_the_key_and_both_lines(tmp_path, text, words):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(InputError) as info:
        options.load_mapping(path)
    assert str(info.value).startswith(f"{path}: {words}")


@pytest.mark.parametrize("text", ["a: &x {q: 1}\nb: *x\n", "1: a\n'1': b\n", "a: {b: 1}\nb: {b: 1}\n", ""])
def test_distinct_keys_and_aliases_pass(tmp_path, text):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    assert options.load_mapping(path) == (options.load_yaml(text, "c") or {})


def test_a_mapping_value_on_the_command_line_gives_no_key_twice(workdir):
    with pytest.raises(InputError, match="key n_pairs is given twice, on line 1, at columns 2 and 17"):
        PairCLI(["--config", "configs/tiny_pair.yaml", *runs.QUIET, "--data", '{"n_pairs": 60, "n_pairs": 50}'])


def test_jsonargparse_still_reads_yaml_its_own_way(workdir):
    """1e-3 is a float to jsonargparse's reader (yaml.safe_load reads a string): the check wraps its reader."""
    Path("lr.yaml").write_text(Path("configs/tiny_pair.yaml").read_text().replace("lr: 0.01", "lr: 1e-3"))
    assert PairCLI(["--config", "lr.yaml", *runs.QUIET]).config.optimizer.init_args.lr == 0.001


# ---- an integer out of range ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, words",
    [
        ([f"--seed_everything={2**32}"], "seed_everything is 4294967296: a seed must be an integer in [0, 4294967295]"),
        ([f"--trainer.max_epochs={2**63}"], f"trainer.max_epochs is {2**63}: every integer of a run must fit"),
        ([f"--optimizer.init_args.lr={10**30}"], None),  # a float: finite, so taken as the number it is
    ],
)
def test_integers_of_a_run_beyond_what_torch_and_the_seeds_hold(workdir, args, words):
    if words is None:
        PairCLI(["--config", "configs/tiny_pair.yaml", *runs.QUIET, *args])
        return
    with pytest.raises(InputError) as info:
        PairCLI(["--config", "configs/tiny_pair.yaml", *runs.QUIET, *args])
    assert str(info.value).startswith(words)


@pytest.mark.parametrize("key", ["data.seed", "data.order_seed"])
def test_the_study_s_seeds_are_typed_32_bits(workdir, key):
    config = PairCLI(["--config", "configs/tiny_pair.yaml", *runs.QUIET, f"--{key}={2**32 - 1}"]).config
    assert config[key] == 2**32 - 1
    with pytest.raises(Exception, match=rf'(?s)"{key}".*v<=4294967295'):  # jsonargparse's ArgumentError
        PairCLI(["--config", "configs/tiny_pair.yaml", *runs.QUIET, f"--{key}={2**32}"])


def test_an_integer_option_holds_what_torch_holds_and_says_so():
    count = options.integer(1)
    assert count(str(2**63 - 1)) == 2**63 - 1 and count.__name__ == "integer >= 1 and < 2^63"
    with pytest.raises(Exception, match=r"is not an integer >= 1 and < 2\^63"):
        count(str(2**63))
    assert options.seed_count(str(2**32)) == 2**32  # seeds 0..2^32-1
    with pytest.raises(Exception, match=r"in \[1, 4294967296\]"):
        options.seed_count(str(2**32 + 1))


# ---- a checkpoint of another model ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [["fit"], ["test"], ["predict", "--pairs", "pairs.pt", "--output", "out.pt"]],
    ids=["fit", "test", "predict"],
)
def test_a_checkpoint_of_another_model_is_refused_by_every_subcommand(workdir, command):
    run = Path("runs/mlp/version_0")
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.yaml").write_text("model:\n  arch: baseline_mlp\n")
    torch.save({"hyper_parameters": {"arch": "baseline_mlp", "hidden": [8]}}, run / "checkpoints" / "last.ckpt")
    torch.save(torch.full((2, 2, 14, 14), 100.0), "pairs.pt")
    args = [
        "--config",
        "configs/tiny_pair.yaml",
        "--trainer.logger",
        "false",
        "--ckpt_path",
        str(run / "checkpoints/last.ckpt"),
    ]
    with pytest.raises(InputError) as info:
        train.main([command[0], *args, *command[1:]])
    message = str(info.value)
    assert "model.arch 'baseline_mlp' in the checkpoint, 'pairnet' in the config; model.hidden [8] in the" in message
    assert message.endswith(f"give --config {run / 'config.yaml'}, the config it was trained with")
    assert not Path("out.pt").exists()


def test_a_checkpoint_lacking_a_newer_key_keeps_the_config_s_value():
    model = Namespace(arch="pairnet", members=1)
    train.check_model({"hyper_parameters": {"arch": "pairnet"}}, model, Path("old.ckpt"), ["c.yaml"])
    with pytest.raises(InputError, match="no model hyper-parameters in it"):
        train.check_model({"state_dict": {}}, model, Path("old.ckpt"), ["c.yaml"])


# ---- inputs on another scale than documented -----------------------------------------------------------------------

PIXELS = torch.rand(3, 2, 14, 14, generator=torch.Generator().manual_seed(0)) * 255


@pytest.mark.parametrize(
    "pairs",
    [PIXELS, PIXELS.to(torch.uint8), PIXELS.double(), torch.zeros(3, 2, 14, 14)],
    ids=["float", "uint8", "float64", "blank"],
)
def test_pixels_0_to_255_of_any_real_dtype_are_read(tmp_path, pairs):
    torch.save(pairs, tmp_path / "p.pt")
    read = train.load_pairs(tmp_path / "p.pt")
    assert read.dtype == torch.float32 and torch.equal(read, pairs.float())


@pytest.mark.parametrize(
    "pairs, words",
    [
        (PIXELS / 255, "to 0.999838 (as if scaled to 0..1: multiply by 255)"),
        ((PIXELS - 128) / 64, "pixel values from -1.99968 to 1.98373; expected raw pixel values 0..255"),
        (PIXELS * 2, "to 509"),
        (PIXELS > 128, "a tensor of torch.bool"),
        (PIXELS.index_fill(0, torch.tensor([1]), float("nan")), "holds NaN or infinite values"),
    ],
    ids=["0..1", "standardised", "0..510", "bool", "nan"],
)
def test_pixels_on_another_scale_are_refused_with_the_range_found(tmp_path, pairs, words):
    torch.save(pairs, tmp_path / "p.pt")
    with pytest.raises(InputError, match=f"--pairs {tmp_path / 'p.pt'}: ") as info:
        train.load_pairs(tmp_path / "p.pt")
    assert words in str(info.value) and ("multiply by 255" in str(info.value)) == ("0..1" in words)


def course_file(folder: Path, ct: np.ndarray, cv: np.ndarray) -> Path:
    """GMMData.mat with 2 features and these labels."""
    rng = np.random.default_rng(0)
    variables = {"Yt": rng.normal(size=(2, ct.shape[1])), "Ct": ct, "Yv": rng.normal(size=(2, cv.shape[1])), "Cv": cv}
    scipy.io.savemat(folder / "GMMData.mat", {k: v.astype(np.float32) for k, v in variables.items()})
    return folder / "GMMData.mat"


def test_matlab_s_1_based_labels_are_read_from_0_with_a_warning(tmp_path, capsys):
    labels = np.arange(40)[None] % 5
    path = course_file(tmp_path, labels + 1, labels[:, :10] + 1)
    data = course.read_set(path, "GMM")
    assert data.classes == 5 and data.labels.tolist() == labels[0].tolist()
    assert data.val_labels.tolist() == labels[0, :10].tolist()
    assert capsys.readouterr().err.strip() == (
        f"warning: {path}: Ct and Cv hold labels 1..5, counted from 1 as MATLAB counts; read as classes 0..4"
    )
    one_hot = np.eye(5)[:, labels[0]]  # one-hot columns have no base: read as they are, without a word
    assert course.read_set(course_file(tmp_path, one_hot, labels[:, :10]), "GMM").labels.tolist() == labels[0].tolist()
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("kind", ["integer", "one-hot"])
def test_a_class_without_a_training_sample_is_refused(tmp_path, kind):
    labels = np.array([[0, 1, 3, 4] * 10])  # no class 2
    ct = labels if kind == "integer" else np.eye(5)[:, labels[0]]
    with pytest.raises(course.DataError, match="Ct has no training sample of class 2 of 0..4"):
        course.read_set(course_file(tmp_path, ct, labels[:, :8]), "GMM")


# ---- repeats and empty lists ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "main, argv, words",
    [
        (benchmark.main, ["--configs", "tiny_pair", "--vary", "data", "data"], "argument --vary: data given twice"),
        (benchmark.main, ["--configs", "tiny_pair", "tiny_pair"], "argument --configs: tiny_pair given twice"),
        (validate.main, ["--config", "configs/tiny_pair.yaml", "--set"], "argument --set: expected at least one"),
        (
            validate.main,
            [
                "--config",
                "configs/tiny_pair.yaml",
                "--set",
                "data.shift=1",
                "model.dropout=0.1",
                "--set",
                "model.dropout=0.1",
                "data.shift=1",
            ],
            "--set model.dropout=0.1 data.shift=1 given twice; give each candidate once",
        ),
        (
            validate.main,
            ["--config", "configs/tiny_pair.yaml", "--set", "model.dropout=0.1", "model.dropout=0.2"],
            "--set model.dropout=0.1 model.dropout=0.2: model.dropout given twice; give each key once",
        ),
    ],
    ids=["vary", "configs", "empty set", "set twice", "key twice"],
)
def test_a_list_option_refuses_a_repeat_and_an_empty_list(workdir, error_of, main, argv, words):
    code, line = error_of(main, argv)
    assert code == 2 and line.startswith(f"error: {words}") and line.endswith("(see --help)"), line


@pytest.mark.parametrize(
    "argv, words",
    [
        (["hidden=8", "hidden=16"], "override hidden given twice (hidden=8 hidden=16); give each key once"),
        (["lr=0.5", "--sweep", "lr", "0.1", "0.2"], "--sweep lr sets lr, so the override lr=0.5 has no effect"),
    ],
)
def test_an_override_given_twice_or_without_effect_is_refused(tmp_path, error_of, argv, words):
    (tmp_path / "c.yaml").write_text(f"model: two_layer\nhidden: 8\nepochs: 1\nout_dir: {tmp_path / 'out'}\n")
    code, line = error_of(framework_mnist.main, ["--config", str(tmp_path / "c.yaml"), *argv])
    assert code == 1 and line.startswith(f"error: {words}") and not (tmp_path / "out").exists()


# ---- permissions: the umask's for what is written, read access for what is read -------------------------------------


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077], ids=oct)
def test_a_file_written_whole_gets_the_permissions_the_umask_gives(tmp_path, umask):
    previous = os.umask(umask)
    try:
        written = write_atomically(tmp_path / "report.md", "text\n")
        (tmp_path / "plain.md").write_text("text\n")  # as open() creates a file
    finally:
        os.umask(previous)
    mode = stat.S_IMODE(written.stat().st_mode)
    assert mode == 0o666 & ~umask == stat.S_IMODE((tmp_path / "plain.md").stat().st_mode), oct(mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain.md", "report.md"]  # no temporary file left


def test_report_only_reads_a_journal_in_a_folder_it_may_not_write(workdir, monkeypatch, error_of):
    """CI runs as root, whom permission bits do not stop: the folder is made read-only and, as for any other user,
    creating a file in it (what paths.writable_folder tries) fails."""
    shared = workdir / "shared"
    shared.mkdir()
    (shared / "r.jsonl").write_text(GOOD + "\n")
    temporary_file = tempfile.TemporaryFile

    def as_a_user(*args, dir=None, **kwargs):
        if dir is not None and Path(dir).resolve() == shared.resolve():
            raise PermissionError(errno.EACCES, "Permission denied", str(dir))
        return temporary_file(*args, dir=dir, **kwargs)

    monkeypatch.setattr(paths.tempfile, "TemporaryFile", as_a_user)
    shared.chmod(0o555)
    try:
        outputs = ["--results", str(shared / "r.jsonl"), "--report", "r.md", "--figure", "r.png"]
        code, line = error_of(benchmark.main, ["--configs", "tiny_pair", *outputs])  # fits write the journal
        assert code == 2 and f"--results {shared}: cannot write in {shared} (Permission denied)" in line
        benchmark.main(["--report-only", *outputs])  # the report only reads it
    finally:
        shared.chmod(0o755)
    assert "| a |" in Path("r.md").read_text() and Path("r.png").is_file()


# ---- every check before anything is written ------------------------------------------------------------------------


def tuning_folder(tiny_config, cells: dict[str, int]) -> list[str]:
    """configs/fixed/<cell>.yaml of `cells` (name -> n_pairs) and space.yaml in the current folder; tune's quick
    arguments."""
    Path("configs/fixed").mkdir(parents=True, exist_ok=True)
    for name, n in cells.items():
        Path(f"configs/fixed/{name}.yaml").write_text(
            tiny_config("baseline_cnn").replace("n_pairs: 60", f"n_pairs: {n}")
        )
    Path("space.yaml").write_text(SPACE)
    quick = "--trials 1 --seeds 1 --finalists 1 --fresh-seeds 1 --workers 1 --space space.yaml --storage store"
    return [*quick.split(), "--output", "tuned", "--configs", *cells]


def test_validation_pairs_as_many_as_the_pairs_are_refused_before_any_journal(workdir, tiny_config):
    argv = tuning_folder(tiny_config, {"tiny_ok": 60, "tiny_small": 20})
    with pytest.raises(TuneError) as info:
        tune.main([*argv, "--val-pairs", "20"])
    assert str(info.value) == (
        "configs/fixed/tiny_small.yaml, as every trial runs it (--val-pairs 20): data.val_pairs must be in "
        "[0, n_pairs=20), got 20"
    )
    assert not Path("store").exists() and not Path("tuned").exists()


def test_a_stored_study_of_another_protocol_is_refused_before_any_journal(workdir, tiny_config):
    argv = tuning_folder(tiny_config, {"tiny_a": 60, "tiny_b": 60})
    tuning.open_study("tiny_b", Path("store/tiny_b.journal"), {"val_pairs": 1}, Space({}, {}))
    stored = Path("store/tiny_b.journal").read_bytes()
    with pytest.raises(TuneError, match="tiny_b.journal holds a study of tiny_b with a different"):
        tune.main([*argv, "--val-pairs", "20"])
    assert sorted(p.name for p in Path("store").iterdir()) == ["tiny_b.journal"]
    assert Path("store/tiny_b.journal").read_bytes() == stored


def test_fresh_keeps_the_journal_when_a_config_cannot_run(workdir):
    Path("configs/bad.yaml").write_text(
        Path("configs/tiny_base.yaml").read_text().replace("n_pairs: 60", "n_pairs: 60\n  val_pairs: 60")
    )
    Path("r.jsonl").write_text(GOOD + "\n")
    argv = ["--configs", "bad", "--fresh", "--workers", "1", "--results", "r.jsonl", "--report", "r.md"]
    with pytest.raises(InputError, match="data.val_pairs must be in"):
        benchmark.main([*argv, "--figure", "r.png"])
    assert Path("r.jsonl").read_text() == GOOD + "\n"
