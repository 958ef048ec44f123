"""The study's statistics on hand-made numbers whose answers are known: Holm's adjustment, the paired t-test, the
prediction interval and the replication verdicts, the interaction of a 2×2, the families and the conclusions worded
from them."""

import math

import pytest
from scipy import stats

from common.stats import holm, prediction_interval, t_test
from pairs import effects, report


def test_holm_against_a_hand_computation():
    # sorted: 0.005 × 4 = 0.02; 0.01 × 3 = 0.03; 0.03 × 2 = 0.06; 0.04 × 1 = 0.04, kept at the 0.06 before it
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.6, 0.001]) == pytest.approx([1.0, 1.0, 0.003])  # capped at 1, and never decreasing
    assert holm([0.2]) == [0.2] and holm([]) == []


def test_the_paired_t_test_is_scipys():
    values = [0.012, -0.004, 0.020, 0.007, 0.015]
    assert t_test(values) == pytest.approx(stats.ttest_1samp(values, 0).pvalue)
    assert t_test([0.01, 0.01, 0.01]) == 0.0 and t_test([0.0, 0.0]) == 1.0  # no spread: certain either way
    assert math.isnan(t_test([0.01]))


def test_the_prediction_interval_against_a_hand_computation():
    # mean 3, sd sqrt(2.5); sqrt(2.5) × sqrt(1/5 + 1/5) = 1, so the half-width is t(0.975, 4) = 2.7764
    low, high = prediction_interval([1, 2, 3, 4, 5], 5)
    assert (low, high) == pytest.approx((3 - 2.776445, 3 + 2.776445), abs=1e-6)
    assert all(math.isnan(v) for v in prediction_interval([1], 5))


# ---- the replication block against the main one, on tuned − fixed records -----------------------------------------

# per-seed tuned − fixed differences (accuracy) of the main block, seeds 0-7, and of the replication block, seeds 8-11
STEADY = [0.01, 0.03] * 4  # mean 0.02, sd 0.010690: prediction interval for 4 fresh seeds 0.02 ± 0.015480
SMALL = [0.03, -0.02] * 4  # mean 0.005, sd 0.02673: 0.005 ± 0.0387
FRESH = {
    "cnn_aux_shared": (STEADY, [0.02, 0.03, 0.01, 0.02]),  # mean 0.02: inside, same sign
    "cnn_aux_separate": (STEADY, [0.05, 0.06, 0.04, 0.05]),  # mean 0.05: outside
    "cnn_noaux_shared": (SMALL, [-0.01, -0.01, -0.01, -0.01]),  # mean -0.01: inside, but of the other sign
}


def records(differences: dict[str, tuple[list[float], list[float]]]) -> list[dict]:
    """Each config and its fixed recipe (80%) on the main block's seeds and then the replication block's."""
    made = []
    for config, (main, fresh) in differences.items():
        for seed, (diff, block) in enumerate([(d, "main") for d in main] + [(d, "replication") for d in fresh]):
            for name, acc in ((config, 0.80 + diff), (f"fixed/{config}", 0.80)):
                run = {"config": name, "config_hash": name, "seed": seed, "fit_seconds": 1.0, "metrics": {"acc": acc}}
                made.append(run | {"block": block})
    return made


def tuning_effects(runs: list[dict]) -> dict[str, effects.Effect]:
    main, fresh = effects.split(runs)
    measured = effects.effects(effects.by_config(main), effects.by_config(fresh))
    return {e.a: e for e in measured if e.group == effects.TUNING}


def test_a_replication_inside_the_prediction_interval_and_of_the_same_sign_is_consistent():
    found = tuning_effects(records(FRESH))
    steady = found["cnn_aux_shared"].replication()
    assert steady is not None
    # t(0.975, 7) = 2.364624, sd sqrt(8e-4 / 7) = 0.0106904, sqrt(1/8 + 1/4) = 0.612372
    assert steady.predicted == pytest.approx((0.02 - 0.0154801, 0.02 + 0.0154801), abs=1e-7)
    assert steady.fresh[0] == pytest.approx(0.02) and steady.fresh[3] == 4
    assert steady.pooled[0] == pytest.approx(0.02) and steady.pooled[3] == 12
    assert steady.consistent(found["cnn_aux_shared"].interval()[0])
    outside = found["cnn_aux_separate"].replication()
    assert outside is not None and not outside.inside and not outside.consistent(0.02)
    other_sign = found["cnn_noaux_shared"].replication()
    assert other_sign is not None and other_sign.inside and not other_sign.same_sign(0.005)


def test_the_report_marks_each_replication_and_pools_the_blocks():
    text = report.render(records(FRESH))
    assert "Main block: 48 runs, seeds 0–7; replication block: 24 runs, seeds 8–11." in text
    rows = {line.split(" | ")[0]: line for line in text.split("## Replication")[1].splitlines()}
    # pooled: 12 seeds, mean 0.02, sd sqrt(1e-3 / 11) = 0.009535, t(0.975, 11) = 2.201 -> ±0.61 points
    assert rows["| cnn_aux_shared"] == (
        "| cnn_aux_shared | +2.00 (8) | [+0.45, +3.55] | +2.00 [+0.70, +3.30] (4) | consistent | "
        "+2.00 [+1.39, +2.61] (12) |"
    )
    assert "| outside the prediction interval |" in rows["| cnn_aux_separate"]
    assert "| opposite sign |" in rows["| cnn_noaux_shared"]
    said = text.split("## Conclusions")[1]
    assert "The replication block's -1.00 over 4 seeds lies inside the 95% prediction interval" in said
    assert "has the opposite sign: not consistent." in said
    # the tables and conclusions are the main block's: cnn_aux_separate's main mean is +2.00, not the pooled +3.00
    assert "| cnn_aux_separate | 80.0 ± 0.0 | 82.0 ± 1.1 | +2.00 |" in text


def test_without_a_replication_block_the_report_says_so_and_marks_nothing():
    text = report.render([r for r in records(FRESH) if r["block"] == "main"])
    assert "no replication block yet." in text and "No replication block yet: `benchmark.py --replicate N`" in text
    assert "consistent" not in text and "replicated" not in text and "even seeds" not in text


# ---- families and the conclusions worded from them ---------------------------------------------------------------


def test_a_family_adjusts_its_members_together():
    made = {"cnn_aux_shared": (STEADY, []), "cnn_noaux_shared": (SMALL, [])}
    found = list(tuning_effects(records(made)).values())
    family = effects.Family("tuned − fixed effects", "test", found)
    raw = [e.p() for e in found]
    assert [family.holm(e) for e in found] == pytest.approx(holm(raw))
    # Bonferroni over 2: each interval at confidence 1 − 0.05/2, t quantile at 1 − 0.0125
    steady = found[0]
    half = stats.t.ppf(1 - 0.0125, 7) * stats.tstd(STEADY) / math.sqrt(8)
    assert family.simultaneous(steady) == pytest.approx((0.02 - half, 0.02 + half))
    assert family.resolved(steady) and not family.resolved(found[1])


def test_conclusions_give_a_direction_only_where_holm_resolves_it():
    made = {
        "cnn_aux_shared": ([0.020, 0.021, 0.019, 0.020, 0.022, 0.018, 0.020, 0.021], []),
        "cnn_aux_separate": ([-d for d in STEADY], []),
        "cnn_noaux_shared": (SMALL, []),
    }
    said = report.render(records(made)).split("## Conclusions")[1]
    assert "### The 3 tuned − fixed effects" in said
    assert "- **resolved**: tuning helps cnn_aux_shared by +2.01 points (simultaneous 95% interval" in said
    assert "- **resolved**: tuning hurts cnn_aux_separate by -2.00 points" in said
    assert (
        "- **unresolved**: the effect of tuning on cnn_noaux_shared, +0.50 points, cannot be told from 0 among the 3 "
        "tuned − fixed effects"
    ) in said
    assert "cnn_noaux_shared by" not in said  # no direction for an unresolved one


def square(trunk: str, protocol: str, sharing_without_aux: float, sharing_with_aux: float) -> list[dict]:
    """The four cells of one 2×2 over seeds 0-7, sums of binary fractions (exact in floating point): a per-seed
    base, +1/8 for the aux loss, and weight sharing worth the given amounts without and with it."""
    cells = {
        "noaux_separate": 0.0,
        "noaux_shared": sharing_without_aux,
        "aux_separate": 0.125,
        "aux_shared": 0.125 + sharing_with_aux,
    }
    return [
        {
            "config": f"{protocol}{trunk}_{cell}",
            "config_hash": cell,
            "seed": seed,
            "fit_seconds": 1.0,
            "metrics": {"acc": 0.5 + seed / 64 + (seed % 3) / 256 + gain},
        }
        for seed in range(8)
        for cell, gain in cells.items()
    ]


def test_an_interaction_of_exactly_zero_is_not_called_worth_most_when_the_other_is_absent():
    runs = square("cnn", "", 0.0625, 0.0625) + square("mlp", "", 0.0625, 0.03125)
    # the MLP's sharing with the aux loss gets 1/512 on odd seeds, so that its interaction varies across seeds
    for r in runs:
        if r["config"] == "mlp_aux_shared":
            r["metrics"]["acc"] += (r["seed"] % 2) / 512
    crossed = {x.group: x for x in effects.interactions(effects.by_config(runs))}
    zero = crossed["CNN trunk, tuned"]
    assert set(zero.diffs.values()) == {0.0} and zero.interval()[:3] == (0.0, 0.0, 0.0) and zero.p() == 1.0
    assert crossed["MLP trunk, tuned"].interval()[0] == pytest.approx(0.03125 - 1 / 1024)
    text = report.render(runs)
    said = text.split("### The 2 interactions")[1]
    assert (
        "- **no interaction resolved** in the CNN (tuned): weight sharing adds +6.25 points without the auxiliary "
        "loss and +6.25 with it, a difference of +0.00 points that cannot be told from 0"
    ) in said
    assert (
        "- **each factor is worth most when the other is absent** in the MLP (tuned): weight sharing adds +6.25 "
        "points without the auxiliary loss and +3.22 with it, a difference of +3.03 points"
    ) in said
    assert said.count("worth most when the other is absent") == 1
    assert "| CNN trunk, tuned | +0.00 | [+0.00, +0.00] | 8 | 1.0 | 1.0 |" in text  # Holm p over the 2: 1


def test_an_interaction_is_the_same_read_either_way():
    runs = square("cnn", "fixed/", 0.0625, 0.015625)
    (crossed,) = effects.interactions(effects.by_config(runs))
    measured = {(e.label, e.given): e.interval()[0] for e in effects.effects(effects.by_config(runs))}
    sharing = measured["weight sharing (shared − separate)", "no auxiliary loss"]
    sharing -= measured["weight sharing (shared − separate)", "auxiliary loss"]
    aux = measured["auxiliary loss (aux − no aux)", "no weight sharing"]
    aux -= measured["auxiliary loss (aux − no aux)", "weight sharing"]
    assert crossed.interval()[0] == pytest.approx(sharing) == pytest.approx(aux) == pytest.approx(0.046875)
