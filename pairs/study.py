"""The study's definition: its cells, the protocols that chose their recipes, and the seeds each use may take."""

import re
from pathlib import Path

from common.errors import InputError

CONFIGS = Path("configs")
FIXED = CONFIGS / "fixed"  # the fixed recipe of every cell; configs/<cell>.yaml is the tuned one
NOT_STUDY = ("framework/", "search/")  # other formats under configs/: the framework's runs, the tuner's space

# the eight cells of the factorial design: trunk x auxiliary loss x weight sharing
FACTORIAL_CELLS = [f"{t}_{a}_{s}" for t in ("cnn", "mlp") for a in ("aux", "noaux") for s in ("shared", "separate")]
STUDY_CONFIGS = FACTORIAL_CELLS + ["baseline_cnn", "baseline_mlp"]  # the ten configs of the study, under each protocol
STUDY = re.compile(r"^(?P<protocol>fixed/)?(?P<trunk>cnn|mlp)_(?P<aux>aux|noaux)_(?P<sharing>shared|separate)$")
PROTOCOLS = {"": "tuned", "fixed/": "fixed recipe"}  # config-name prefix -> how the cell's recipe was chosen

# Seeds that end in a test-set evaluation and seeds that choose something (a hyper-parameter, a candidate) never
# meet: a choice made on a round that is later tested would select on the test pairs.
TEST_SEEDS = range(0, 100)  # benchmark.py's rounds; its default is the first BENCHMARK_SEEDS
SELECTION_SEEDS = range(100, 1_000_000)  # tune.py's search and re-scoring seeds, scripts/validate.py's seeds
BENCHMARK_SEEDS = 10
SEED_BLOCK, MAX_SEEDS = 10, 60  # benchmark.py --precision: seeds added at a time, and its default most seeds
TUNING_FIRST_SEED = SELECTION_SEEDS.start  # search seeds 100.., fresh re-scoring seeds right after them

# The three sources of a run's randomness, each with the argument that seeds it and a generator of its own. A run's
# seed seeds all three (the data seed and the order seed default to seed_everything), so the run with all three at
# s is the run s; `benchmark.py --vary` varies one alone. "init" is everything drawn from the global RNG: initial
# weights, and dropout and augmentations if a config has them.
SOURCES = {"data": "data.seed", "init": "seed_everything", "order": "data.order_seed"}
VARIED = re.compile(rf"^(?P<config>.+) \(vary (?P<source>{'|'.join(SOURCES)})\)$")  # run_name's, read back


def run_name(config: str, source: str | None = None) -> str:
    """The name a run is recorded under: its config's, or for a run that varies only `source`, 'config (vary
    source)'."""
    return config if source is None else f"{config} (vary {source})"


def check_seeds(seeds: list[int], allowed: range, use: str) -> list[int]:
    """`seeds` if each lies in `allowed` and none repeats; else an InputError naming the first that does not."""
    for seed in seeds:
        if seed not in allowed:
            raise InputError(
                f"seed {seed} cannot be used for {use}: its seeds are {allowed.start}-{allowed.stop - 1} "
                f"(seeds {TEST_SEEDS.start}-{TEST_SEEDS.stop - 1} are tested on the test pairs, "
                f"{SELECTION_SEEDS.start} and up choose hyper-parameters; they never meet)"
            )
    repeated = sorted({s for s in seeds if seeds.count(s) > 1})
    if repeated:
        raise InputError(f"seed {repeated[0]} is listed twice; list each seed once")
    return seeds
