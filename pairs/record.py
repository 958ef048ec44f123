"""What one fit returns: a benchmark record (`runs.run`, one JSON line of the results file) and a validation record
(`runs.validate`, the tuner's score). Declared here, apart from both, so that the fit's code (`runs`, whose imports
make the code version) and the results file's reader (`results`, which a fit never runs) share them, and the report's
modules read them without importing Lightning."""

from typing import NotRequired, TypedDict


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
