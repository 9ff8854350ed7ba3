"""The check page's chart: log-scale geometry and the order a reviewer reads it in."""

from __future__ import annotations

from gate_server.dashboard.chart import PLOT_WIDTH, build_chart, format_rate


def _document(features, anomalies=()):
    return {"features": list(features), "anomalies": list(anomalies)}


def _feature(key, baseline, canary, kind="syscall"):
    return {"kind": kind, "key": key, "baseline_rate": baseline, "canary_rate": canary}


def test_anomalies_come_first_by_severity_then_features_by_rate():
    chart = build_chart(_document(
        [_feature("read", 400, 410), _feature("openat", 20, 21), _feature("/bin/sh", 0, 0.2, "exec"),
         _feature("/etc/shadow:r", 0, 0.3, "file")],
        [{"kind": "exec", "key": "/bin/sh", "severity": "high", "change": "new"},
         {"kind": "file", "key": "/etc/shadow:r", "severity": "critical", "change": "new"}],
    ))
    assert [row.key for row in chart.rows] == ["/etc/shadow:r", "/bin/sh", "read", "openat"]
    assert [row.is_anomaly for row in chart.rows] == [True, True, False, False]


def test_bars_are_log_scaled_and_zero_is_drawn_as_absent():
    chart = build_chart(_document([_feature("a", 1000, 10), _feature("b", 0.1, 0)]))
    a, b = chart.rows
    # Four decades (0.1 .. 1000): each decade is a quarter of the plot.
    assert round(a.baseline_width) == PLOT_WIDTH
    assert round(a.canary_width) == round(PLOT_WIDTH / 2)
    assert b.canary_width == 0 and b.ratio_label == "gone"
    assert [label for _, label in chart.ticks] == ["0.1", "1", "10", "100", "1k"]


def test_rows_are_capped_and_the_rest_counted():
    chart = build_chart(_document([_feature(f"s{i}", i + 1, i + 1) for i in range(45)]), max_rows=30)
    assert len(chart.rows) == 30 and chart.hidden == 15
    assert chart.rows[0].key == "s44"  # the busiest first


def test_anomalies_are_charted_even_without_a_features_table():
    chart = build_chart({"anomalies": [{"kind": "exec", "key": "/bin/sh", "severity": "high", "change": "new",
                                        "baseline_rate": 0, "canary_rate": 0.5}]})
    assert [row.key for row in chart.rows] == ["/bin/sh"] and chart.rows[0].ratio_label == "new"


def test_rates_read_as_short_numbers():
    assert [format_rate(v) for v in (0, 0.0993, 2.02, 617, 12_500, 3_400_000)] == \
        ["0", "0.0993", "2.02", "617", "12.5k", "3.4M"]
