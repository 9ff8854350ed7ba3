"""Geometry of the check page's chart: baseline against canary rate per feature.

Paired horizontal bars on a log scale: rates of features span orders of magnitude
(read() thousands of times a second, /etc/shadow once), and a linear axis would turn
every rare feature, which is where attacks show, into an invisible sliver. A rate of
zero has no logarithm; it is drawn as an open marker at the axis origin labelled
"absent", which is exactly what "new" and "missing" mean. Anomalies come first and
carry their severity colour, so the page reads top-down in order of concern.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Optional

from gate_server.analysis.verdict import severity_rank

MAX_ROWS = 30

# Layout in SVG user units (the SVG scales to its container via viewBox).
WIDTH = 1000
LABEL_WIDTH = 330
VALUE_WIDTH = 170
PLOT_LEFT = LABEL_WIDTH + 10
PLOT_WIDTH = WIDTH - PLOT_LEFT - VALUE_WIDTH
ROW_HEIGHT = 34
TOP = 44
BAR_HEIGHT = 10


@dataclass
class ChartRow:
    kind: str
    key: str
    baseline_rate: float
    canary_rate: float
    severity: Optional[str] = None
    change: Optional[str] = None
    y: float = 0.0
    baseline_width: float = 0.0
    canary_width: float = 0.0

    @property
    def is_anomaly(self) -> bool:
        return self.severity is not None

    @property
    def ratio_label(self) -> str:
        if self.baseline_rate <= 0 and self.canary_rate > 0:
            return "new"
        if self.canary_rate <= 0 and self.baseline_rate > 0:
            return "gone"
        if self.baseline_rate <= 0:
            return ""
        return f"×{self.canary_rate / self.baseline_rate:.2g}"


@dataclass
class Chart:
    rows: list[ChartRow]
    ticks: list[tuple[float, str]] = field(default_factory=list)
    hidden: int = 0
    height: float = 0.0
    width: int = WIDTH
    plot_left: int = PLOT_LEFT
    plot_width: int = PLOT_WIDTH
    label_width: int = LABEL_WIDTH
    top: int = TOP
    row_height: int = ROW_HEIGHT
    bar_height: int = BAR_HEIGHT


def _rate(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return 0.0
    return number if math.isfinite(number) and number > 0 else 0.0


def _feature_entries(document: dict[str, Any]) -> list[dict[str, Any]]:
    features = document.get("features")
    if isinstance(features, dict):  # {"kind:key": {...}} or {kind: {key: {...}}}: flatten
        features = [dict(v, key=v.get("key", k)) for k, v in features.items() if isinstance(v, dict)]
    entries = [f for f in (features or []) if isinstance(f, dict) and "key" in f]
    # Older documents without a features table still chart their anomalies.
    return entries or [a for a in document.get("anomalies") or [] if isinstance(a, dict)]


def build_chart(document: dict[str, Any], max_rows: int = MAX_ROWS) -> Chart:
    anomalies = {
        (a.get("kind"), a.get("key")): a for a in document.get("anomalies") or [] if isinstance(a, dict)
    }
    rows: dict[tuple[str, str], ChartRow] = {}
    for entry in _feature_entries(document) + list(anomalies.values()):
        identity = (str(entry.get("kind", "")), str(entry.get("key", "")))
        if identity in rows:
            continue
        anomaly = anomalies.get(identity, {})
        rows[identity] = ChartRow(
            kind=identity[0], key=identity[1],
            baseline_rate=_rate(entry.get("baseline_rate")), canary_rate=_rate(entry.get("canary_rate")),
            severity=anomaly.get("severity") if anomaly else None, change=anomaly.get("change") if anomaly else None,
        )
    ordered = sorted(
        rows.values(),
        key=lambda r: (not r.is_anomaly, severity_rank(r.severity),
                       -max(r.baseline_rate, r.canary_rate), r.kind, r.key),
    )
    shown = ordered[:max_rows]
    chart = Chart(rows=shown, hidden=len(ordered) - len(shown))
    _lay_out(chart)
    return chart


def _lay_out(chart: Chart) -> None:
    positive = [r for row in chart.rows for r in (row.baseline_rate, row.canary_rate) if r > 0]
    low_exp = math.floor(math.log10(min(positive))) if positive else 0
    high_exp = math.ceil(math.log10(max(positive))) if positive else 1
    if high_exp <= low_exp:
        high_exp = low_exp + 1
    span = high_exp - low_exp

    def width(rate: float) -> float:
        if rate <= 0:
            return 0.0
        # Keep the smallest real rate visible: 3 units beats an invisible bar.
        return max(3.0, (math.log10(rate) - low_exp) / span * PLOT_WIDTH)

    chart.ticks = [
        (PLOT_LEFT + (exp - low_exp) / span * PLOT_WIDTH, format_rate(10.0 ** exp))
        for exp in range(low_exp, high_exp + 1)
    ]
    for index, row in enumerate(chart.rows):
        row.y = TOP + index * ROW_HEIGHT
        row.baseline_width = width(row.baseline_rate)
        row.canary_width = width(row.canary_rate)
    chart.height = TOP + len(chart.rows) * ROW_HEIGHT + 30


def format_rate(value: float) -> str:
    if value <= 0:
        return "0"
    if value >= 1e6:
        return f"{value / 1e6:.3g}M"
    if value >= 1e3:
        return f"{value / 1e3:.3g}k"
    return f"{value:.3g}"
