"""The dashboard's inline SVG charts and display text, from the collection report.

No chart library: each chart is a list of bars with pixel geometry computed here, and the
template draws them as <rect> and <text>. A balance chart shows each group's share as a bar and
its target as a shaded band (or a tick for a single target), coloured by status (under, ok, over).
"""

from __future__ import annotations

WIDTH = 560        # the SVG's width in px
LABEL_W = 120      # room for the group names on the left
VALUE_W = 110      # room for the figures on the right
ROW_H = 26
BAR_H = 16
_BYTE_TABLES = ("storage_for", "storage_by_table")  # report dicts whose values are byte counts


def balance_chart(rows: list[dict], label_key: str) -> dict:
    """Bars of each row's share against its target range (target_min..target_max, or target)."""
    if not rows:
        return {"bars": [], "width": WIDTH, "height": 0}
    shares = [float(r.get("share") or 0.0) for r in rows]
    highs = [float(r.get("target_max", r.get("target")) or 0.0) for r in rows]
    scale_max = min(1.0, max(shares + highs) * 1.15) or 1.0
    area = WIDTH - LABEL_W - VALUE_W

    def px(share: float) -> float:
        return round(LABEL_W + area * share / scale_max, 1)

    bars = []
    for i, row in enumerate(rows):
        share = float(row.get("share") or 0.0)
        low = row.get("target_min", row.get("target"))
        high = row.get("target_max", row.get("target"))
        y = i * ROW_H + 4
        bar = {"label": str(row.get(label_key)), "y": y, "text_y": y + BAR_H - 3, "x": LABEL_W,
               "width": max(0.0, px(share) - LABEL_W), "status": row.get("status") or "ok",
               "value": f"{100 * share:.1f}% ({row.get('songs', 0)})", "value_x": WIDTH - VALUE_W + 6,
               "target": None}
        if low is not None and high is not None:
            low, high = float(low), float(high)
            bar["target"] = {"x": px(low), "width": max(2.0, px(high) - px(low)),
                             "text": f"target {100 * low:.0f}%" if low == high else f"target {100 * low:.0f}–{100 * high:.0f}%"}
        bars.append(bar)
    return {"bars": bars, "width": WIDTH, "height": len(rows) * ROW_H + 8}


def checks_chart(checks: list[dict], label_w: int = 170) -> dict:
    """One bar per quality check: the passed part and the failed part of the songs."""
    area = WIDTH - label_w - VALUE_W
    bars = []
    for i, check in enumerate(checks):
        passed, failed = int(check.get("passed") or 0), int(check.get("failed") or 0)
        total = passed + failed
        passed_w = round(area * passed / total, 1) if total else 0.0
        y = i * ROW_H + 4
        bars.append({"label": str(check.get("name")), "y": y, "text_y": y + BAR_H - 3, "x": label_w,
                     "passed_w": passed_w, "failed_x": label_w + passed_w,
                     "failed_w": round(area * failed / total, 1) if total else 0.0,
                     "value": f"{passed} ok, {failed} not", "value_x": WIDTH - VALUE_W + 6})
    return {"bars": bars, "width": WIDTH, "height": len(checks) * ROW_H + 8}


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"


def human_seconds(s: float) -> str:
    if s < 120:
        return f"{s:.1f} s"
    if s < 7200:
        return f"{s / 60:.1f} min"
    if s < 172800:
        return f"{s / 3600:.1f} h"
    return f"{s / 86400:.1f} days"


def readable(value, key: str = ""):
    """A nested report value with its figures as display text: byte and second counts made human,
    dicts and lists kept as structure for the template's tree."""
    if isinstance(value, dict):
        if value.get("measured") is False:
            return {"not measured": value.get("why") or "no measurement"}
        in_bytes = "bytes" in key or key in _BYTE_TABLES
        return {str(k): readable(v, "bytes" if in_bytes and not isinstance(v, dict) else str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [readable(v, key) for v in value]
    if isinstance(value, bool) or value is None:
        return "—" if value is None else ("yes" if value else "no")
    if isinstance(value, (int, float)):
        if "bytes" in key:
            return human_bytes(float(value))
        if key.startswith("seconds") or key.endswith(("seconds", "_s")):
            return human_seconds(float(value))
        if isinstance(value, float):
            return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"
        return f"{value:,}"
    return str(value)
