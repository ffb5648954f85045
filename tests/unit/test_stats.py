import math
import sys

import pytest
from scipy import stats as sps

from harness.analysis import dist, stats
from harness.analysis.findings import Verdict, Warn


@pytest.mark.parametrize("df", [0.7, 1, 1.5, 2, 2.5, 3, 4, 7.3, 13, 29, 100, 1e4])
def test_student_t_matches_scipy(df):
    for p in (0.5001, 0.6, 0.8, 0.9, 0.95, 0.975, 0.99, 0.995, 0.9995, 0.99999):
        assert dist.t_ppf(p, df) == pytest.approx(sps.t.ppf(p, df), rel=1e-8)
        assert dist.t_ppf(1 - p, df) == pytest.approx(sps.t.ppf(1 - p, df), rel=1e-8)
    for t in (0.0, 1e-4, 0.3, 1.0, 2.0, 4.0, 10.0, 100.0):
        assert dist.t_sf(t, df) == pytest.approx(sps.t.sf(t, df), rel=1e-10, abs=1e-300)
        assert dist.t_sf(-t, df) == pytest.approx(sps.t.sf(-t, df), rel=1e-10)


def test_median_rank_matches_the_binomial_rule():
    for n in range(1, 200):
        k = 0
        while sps.binom.cdf(k, n, 0.5) <= 0.025:
            k += 1
        assert dist.median_rank(n, 0.05) == max(k, 1), n
    assert dist.median_rank(3000, 0.05) < 1500  # exact integers: no underflow at large n


def test_median_rank_in_floating_point_is_the_exact_rank():
    for n in [*range(dist.FLOAT_RANK_N, 3000, 13), 7207, 20011]:
        for alpha in (0.05, 0.01, 0.2):
            assert dist._median_rank_float(n, alpha) in (None, dist._median_rank_exact(n, alpha))
        assert dist.median_rank(n, 0.05) == dist._median_rank_exact(n, 0.05), n


def test_statistics_do_not_import_scipy():
    import subprocess
    code = ("import sys, harness.analysis.analyze, harness.render.markdown; "
            "print('scipy' in sys.modules, 'matplotlib' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.split() == ["False", "False"]  # scipy alone costs more than a report may take


def test_describe_small_n_uses_student_t_on_the_logs_of_positive_values():
    d = stats.describe([1.0, 2.0, 4.0])
    assert (d.n, d.median) == (3, 2.0)
    half = 4.302652729911275 * math.log(2) / math.sqrt(3)  # t(0.975, df=2) * sd(logs) / sqrt(n)
    assert d.ci_low == pytest.approx(2 * math.exp(-half))
    assert d.ci_high == pytest.approx(2 * math.exp(half))
    assert d.ci_method == "t-log"
    assert d.warnings == (Warn.NOISY,)
    assert stats.describe([300.0, 330.0]).ci_low > 0  # never a negative req/s


def test_describe_small_n_with_zeros_uses_student_t_around_the_mean_cut_at_zero():
    d = stats.describe([0.0, 1.0, 2.0])
    half = 4.302652729911275 / math.sqrt(3)  # t(0.975, df=2) * sd(=1) / sqrt(n)
    assert d.ci_low == 0.0  # not 1 - half = -1.48: no negative req/s
    assert d.ci_high == pytest.approx(1 + half)
    assert d.ci_method == "t"
    signed = stats.describe([-1.0, 1.0, 2.0])
    assert signed.ci_low < -1  # values that can be negative keep the whole interval


def test_describe_n_6_and_more_uses_order_statistics_of_the_median():
    six = stats.describe([5, 1, 4, 2, 6, 3])
    assert (six.ci_low, six.ci_high, six.ci_method) == (1, 6, "order")
    ten = stats.describe(list(range(1, 11)))
    # P(B(10, .5) <= 1) = 1.1% <= 2.5% < P(B <= 2) = 5.5%: the 2nd and 9th order statistics.
    assert (ten.ci_low, ten.ci_high) == (2, 9)
    assert ten.median == 5.5


def test_describe_warnings_are_data():
    assert stats.describe([100, 101, 99]).warnings == ()
    assert stats.describe([100, 102]).warnings == (Warn.FEW_REPEATS,)
    one = stats.describe([100])
    assert one.warnings == (Warn.FEW_REPEATS,)
    assert (one.ci_low, one.ci_high, one.cv) == (None, None, None)
    assert stats.describe([]).warnings == (Warn.NO_DATA,)
    # CV exactly at 10% is noisy (pyperf's >= rule); just under is not.
    sd_10pct = [90, 100, 110]  # sd = 10, mean = 100
    assert stats.describe(sd_10pct).cv == pytest.approx(0.10)
    assert Warn.NOISY in stats.describe(sd_10pct).warnings
    assert Warn.NOISY not in stats.describe([91, 100, 109]).warnings


def test_describe_zero_mean_has_no_cv():
    d = stats.describe([0.0, 0.0, 0.0])
    assert d.cv is None and d.warnings == ()
    assert (d.ci_low, d.ci_high) == (0.0, 0.0)


def test_compare_is_a_geometric_ratio_with_welch_on_logs():
    a = [1900.0, 2000.0, 2100.0]
    b = [1000.0, 1010.0, 990.0]
    c = stats.compare(a, b)
    expected = math.exp(sum(map(math.log, a)) / 3 - sum(map(math.log, b)) / 3)
    assert c.ratio == pytest.approx(expected)
    assert c.ci_low < c.ratio < c.ci_high
    ref = sps.ttest_ind([math.log(x) for x in a], [math.log(x) for x in b], equal_var=False)
    assert c.p_value == pytest.approx(ref.pvalue, rel=1e-9)
    assert c.verdict is Verdict.FASTER
    assert stats.compare(b, a).verdict is Verdict.SLOWER


def test_compare_needs_both_significance_and_minimum_effect():
    # 3% apart with almost no noise: significant, but under the 5% minimum effect.
    small = stats.compare([1030.0, 1030.5, 1029.5], [1000.0, 1000.5, 999.5])
    assert small.p_value < 0.001
    assert small.verdict is Verdict.NO_DIFFERENCE
    assert stats.compare([1030.0, 1030.5, 1029.5], [1000.0, 1000.5, 999.5],
                         min_effect=0.02).verdict is Verdict.FASTER
    # 20% apart but very noisy: large, not significant.
    noisy = stats.compare([1200.0, 700.0, 1700.0], [1000.0, 1300.0, 700.0])
    assert noisy.p_value > 0.05
    assert noisy.verdict is Verdict.INCONCLUSIVE  # its CI cannot rule out ±5% either way
    assert not noisy.verdict.decided and small.verdict.decided


def test_minimum_detectable_effect_is_t_plus_z_standard_errors():
    a, b = [1000.0, 1100.0, 900.0, 1050.0], [1000.0, 950.0, 1080.0, 990.0]
    c = stats.compare(a, b)
    la, lb = [math.log(x) for x in a], [math.log(x) for x in b]
    va, vb = sps.tvar(la) / 4, sps.tvar(lb) / 4
    df = (va + vb) ** 2 / (va**2 / 3 + vb**2 / 3)
    expected = math.expm1((sps.t.ppf(0.975, df) + sps.norm.ppf(0.8)) * math.sqrt(va + vb))
    assert c.mde == pytest.approx(expected, rel=1e-9)
    # More repeats of the same spread detect smaller differences.
    assert stats.compare(a * 4, b * 4).mde < c.mde
    assert stats.compare([2.0, 2.0], [1.0, 1.0]).mde == 0.0  # exact: any difference shows


def test_compare_never_declares_a_winner_from_one_sample():
    c = stats.compare([2000.0], [1000.0, 1001.0, 999.0])
    assert c.ratio == pytest.approx(2.0, rel=1e-3)
    assert c.verdict is Verdict.INCONCLUSIVE
    assert c.p_value is None and c.ci_low is None and c.mde is None
    assert c.warnings == (Warn.SINGLE_SAMPLE,)


def test_compare_latency_direction_and_degenerate_inputs():
    slower = stats.compare([50.0, 51, 49], [20.0, 21, 19], higher_is_better=False)
    assert slower.verdict is Verdict.SLOWER
    assert stats.compare([], [1.0]).warnings == (Warn.NO_DATA,)
    assert stats.compare([0.0, 1.0], [1.0, 2.0]).warnings == (Warn.NON_POSITIVE,)
    exact = stats.compare([2.0, 2.0], [1.0, 1.0])
    assert (exact.ratio, exact.p_value, exact.verdict) == (2.0, 0.0, Verdict.FASTER)


def test_welch_matches_scipy_on_raw_values():
    a, b = [0.02, 0.021, 0.022], [0.0, 0.001, 0.0005, 0.0]
    w = stats.welch(a, b)
    ref = sps.ttest_ind(a, b, equal_var=False)
    assert w.p_value == pytest.approx(ref.pvalue, rel=1e-9)
    assert w.ci_low < w.diff < w.ci_high
    assert stats.welch([1.0], b) is None
