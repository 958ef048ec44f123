"""What one fit returns: a benchmark record (`runs.run`, one JSON line of the results file) and a validation record
(`runs.validate`, the tuner's score); and a tuning trial as the tuner exports it. Declared here, apart from their
writers and readers, so that the fit's code (`runs`, whose imports make the code version) and the files' readers
(`results`, `budget`, which a fit never runs) share them, and the report's modules read them without importing
Lightning."""

from typing import Any, NotRequired, TypedDict


class Record(TypedDict):
    """One benchmark fit, tested once: the keys a results file must hold (`results.FIELDS`), then those `runs.run`
    writes that a reader takes with a default, and the block of seeds `benchmark.py` marks it with."""

    config: str  # the config's name; a run that varies one source alone: study.run_name
    config_hash: str
    seed: int
    metrics: dict[str, float]  # test metric -> value, at the last epoch
    fit_seconds: float
    params: NotRequired[int]
    test_pairs: NotRequired[int]
    threads: NotRequired[int]
    code: NotRequired[str]  # runs.code_version
    torch: NotRequired[str]
    lightning: NotRequired[str]
    host: NotRequired[str]
    block: NotRequired[str]  # results.BLOCKS; results.MAIN where absent


class Validation(TypedDict):
    """One fit scored on its validation pairs at the last epoch; the test pairs never evaluated."""

    config: str
    seed: int
    parameters: int
    val_acc: float
    fit_seconds: float
    threads: int


class TrialRow(TypedDict):
    """One finished tuning trial, as `tune.py --export` writes it and `pairs.budget` reads it back: its order in the
    cell's search, its state, parameters and epochs, its validation accuracy per scored epoch per seed (keys as
    text, as JSON has them), its value (the mean at its last scored epoch), its size and fit time."""

    cell: str
    trial: int
    state: str  # "complete" or "pruned"
    params: dict[str, Any]
    epochs: int
    scores: dict[str, dict[str, float]]
    value: float
    parameters: int
    fit_seconds: float
