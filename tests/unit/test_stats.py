import json
import math
from pathlib import Path

import pytest
from scipy import stats as sps

from harness.analysis import stats

FIXTURE = Path(__file__).parent.parent / "fixtures" / "results" / "run-small.json"


def test_describe_small_n_uses_student_t_on_the_logs_of_positive_values():
    d = stats.describe([1.0, 2.0, 4.0])
    assert (d["n"], d["median"]) == (3, 2.0)
    half = 4.302652729911275 * math.log(2) / math.sqrt(3)  # t(0.975, df=2) * sd(logs) / sqrt(n)
    assert d["ci_low"] == pytest.approx(2 * math.exp(-half))
    assert d["ci_high"] == pytest.approx(2 * math.exp(half))
    assert d["ci_method"] == "t-log"
    assert d["warnings"] == ["noisy"]
    assert stats.describe([300.0, 330.0])["ci_low"] > 0  # never a negative req/s


def test_describe_small_n_with_zeros_uses_student_t_around_the_mean():
    d = stats.describe([0.0, 1.0, 2.0])
    half = 4.302652729911275 / math.sqrt(3)  # t(0.975, df=2) * sd(=1) / sqrt(n)
    assert d["ci_low"] == pytest.approx(1 - half)
    assert d["ci_high"] == pytest.approx(1 + half)
    assert d["ci_method"] == "t"


def test_describe_n_6_and_more_uses_order_statistics_of_the_median():
    six = stats.describe([5, 1, 4, 2, 6, 3])
    assert (six["ci_low"], six["ci_high"], six["ci_method"]) == (1, 6, "order")
    ten = stats.describe(list(range(1, 11)))
    # P(B(10, .5) <= 1) = 1.1% <= 2.5% < P(B <= 2) = 5.5%: the 2nd and 9th order statistics.
    assert (ten["ci_low"], ten["ci_high"]) == (2, 9)
    assert ten["median"] == 5.5


def test_describe_warnings_are_data():
    assert stats.describe([100, 101, 99])["warnings"] == []
    assert stats.describe([100, 102])["warnings"] == ["few_repeats"]
    one = stats.describe([100])
    assert one["warnings"] == ["few_repeats"]
    assert (one["ci_low"], one["ci_high"], one["cv"]) == (None, None, None)
    assert stats.describe([])["warnings"] == ["no_data"]
    # CV exactly at 10% is noisy (pyperf's >= rule); just under is not.
    sd_10pct = [90, 100, 110]  # sd = 10, mean = 100
    assert stats.describe(sd_10pct)["cv"] == pytest.approx(0.10)
    assert "noisy" in stats.describe(sd_10pct)["warnings"]
    assert "noisy" not in stats.describe([91, 100, 109])["warnings"]


def test_describe_zero_mean_has_no_cv():
    d = stats.describe([0.0, 0.0, 0.0])
    assert d["cv"] is None and d["warnings"] == []
    assert (d["ci_low"], d["ci_high"]) == (0.0, 0.0)


def test_compare_is_a_geometric_ratio_with_welch_on_logs():
    a = [1900.0, 2000.0, 2100.0]
    b = [1000.0, 1010.0, 990.0]
    c = stats.compare(a, b)
    expected = math.exp(sum(map(math.log, a)) / 3 - sum(map(math.log, b)) / 3)
    assert c["ratio"] == pytest.approx(expected)
    assert c["ci_low"] < c["ratio"] < c["ci_high"]
    ref = sps.ttest_ind([math.log(x) for x in a], [math.log(x) for x in b], equal_var=False)
    assert c["p_value"] == pytest.approx(ref.pvalue)
    assert c["verdict"] == "faster"
    assert stats.compare(b, a)["verdict"] == "slower"


def test_compare_needs_both_significance_and_minimum_effect():
    # 3% apart with almost no noise: significant, but under the 5% minimum effect.
    small = stats.compare([1030.0, 1030.5, 1029.5], [1000.0, 1000.5, 999.5])
    assert small["p_value"] < 0.001
    assert small["verdict"] == "no detectable difference"
    assert stats.compare([1030.0, 1030.5, 1029.5], [1000.0, 1000.5, 999.5],
                         min_effect=0.02)["verdict"] == "faster"
    # 20% apart but very noisy: large, not significant.
    noisy = stats.compare([1200.0, 700.0, 1700.0], [1000.0, 1300.0, 700.0])
    assert noisy["p_value"] > 0.05
    assert noisy["verdict"] == "inconclusive"  # its CI cannot rule out ±5% either way


def test_compare_never_declares_a_winner_from_one_sample():
    c = stats.compare([2000.0], [1000.0, 1001.0, 999.0])
    assert c["ratio"] == pytest.approx(2.0, rel=1e-3)
    assert c["verdict"] == "inconclusive"
    assert c["p_value"] is None and c["ci_low"] is None
    assert "single_sample" in c["warnings"]


def test_compare_latency_direction_and_degenerate_inputs():
    slower = stats.compare([50.0, 51, 49], [20.0, 21, 19], higher_is_better=False)
    assert slower["verdict"] == "slower"
    assert stats.compare([], [1.0])["warnings"] == ["no_data"]
    assert stats.compare([0.0, 1.0], [1.0, 2.0])["warnings"] == ["non_positive"]
    exact = stats.compare([2.0, 2.0], [1.0, 1.0])
    assert (exact["ratio"], exact["p_value"], exact["verdict"]) == (2.0, 0.0, "faster")


def test_summarize_groups_and_keeps_failed_cells_out_of_the_numbers():
    run = json.loads(FIXTURE.read_text())
    summary = stats.summarize(run["cells"])
    assert len(summary) == 2 * 3 * 3
    keys = [(g["scenario"], g["app"], g["connections"]) for g in summary]
    assert keys[:4] == [("users_list", "flask_sync", 1), ("users_list", "flask_sync", 12),
                        ("users_list", "flask_sync", 48), ("users_list", "fastapi_sync", 1)]
    broken = summary[keys.index(("users_list", "fastapi_sync", 48))]
    assert (broken["n_ok"], broken["n_failed"]) == (2, 1)
    assert broken["failures"] == [
        {"repeat": 2, "reason": "not measured: the app exited (see its log)"}]
    assert broken["rps"]["n"] == 2 and "few_repeats" in broken["rps"]["warnings"]
    assert broken["timeouts"] == 19
    assert broken["error_rate"]["mean"] > 0
    ok = summary[0]
    assert ok["rps"]["n"] == 3 and ok["p99"]["median"] > ok["p50"]["median"]
    json.dumps(summary)  # plain data


def test_summarize_tolerates_missing_fields():
    summary = stats.summarize([{"scenario": "s", "app": "a", "connections": 1, "rps": 10.0}])
    assert summary[0]["rps"]["median"] == 10.0
    assert summary[0]["p99"]["warnings"] == ["no_data"]
    assert summary[0]["timeouts"] is None
