"""Charts for the report as small SVG files: no plotting library for a dozen bars."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape


def latency_histogram_svg(buckets: list[dict[str, Any]], title: str) -> str:
    """Bars of delivery-latency counts per bucket (`le_ms`, `count`), labelled by their upper bound."""
    width, height, pad, bar_gap = 640, 260, 40, 6
    peak = max((b["count"] for b in buckets), default=0) or 1
    slot = (width - 2 * pad) / max(len(buckets), 1)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
             f'font-family="sans-serif" font-size="11">',
             f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
             f'<text x="{width / 2}" y="18" text-anchor="middle" font-size="13">{escape(title)}</text>']
    base = height - pad
    for i, bucket in enumerate(buckets):
        h = (base - 30) * bucket["count"] / peak
        x = pad + i * slot + bar_gap / 2
        label = "≤" + (f"{bucket['le_ms']:g}" if bucket["le_ms"] is not None else "∞")
        parts.append(f'<rect x="{x:.1f}" y="{base - h:.1f}" width="{slot - bar_gap:.1f}" height="{h:.1f}" fill="#3b82f6"/>')
        parts.append(f'<text x="{x + (slot - bar_gap) / 2:.1f}" y="{base - h - 4:.1f}" text-anchor="middle">{bucket["count"]}</text>')
        parts.append(f'<text x="{x + (slot - bar_gap) / 2:.1f}" y="{base + 14}" text-anchor="middle">{escape(label)}</text>')
    parts.append(f'<text x="{width / 2}" y="{height - 6}" text-anchor="middle">ms</text>')
    parts.append(f'<line x1="{pad}" y1="{base}" x2="{width - pad}" y2="{base}" stroke="#333"/></svg>')
    return "\n".join(parts) + "\n"


def write_charts(document: dict[str, Any], out: Path, title: str) -> list[str]:
    """Write a chart for every check whose evidence carries a series; returns the files, relative to out."""
    written = []
    for check in document["checks"]:
        histogram = check["evidence"].get("histogram")
        if histogram:
            name = f"charts/{check['id'].replace('.', '-')}.svg"
            (out / "charts").mkdir(parents=True, exist_ok=True)
            (out / name).write_text(latency_histogram_svg(histogram, title), encoding="utf-8")
            written.append(name)
    return written


SERIES_COLOURS = ("#3b82f6", "#f59e0b", "#10b981", "#ef4444", "#8b5cf6")


def grouped_bars_svg(categories: list[str], series: dict[str, list[float | None]], title: str, unit: str = "") -> str:
    """Bars of several series side by side per category (e.g. hit ratio of the service and of
    the optimum per cache size), with a legend; a missing value leaves its slot empty."""
    width, height, pad, gap = 720, 300, 44, 10
    values = [v for vs in series.values() for v in vs if v is not None]
    peak = max(values, default=0) or 1
    slot = (width - 2 * pad) / max(len(categories), 1)
    bar = (slot - gap) / max(len(series), 1)
    base = height - pad
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
             f'font-family="sans-serif" font-size="11">',
             f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
             f'<text x="{width / 2}" y="18" text-anchor="middle" font-size="13">{escape(title)}</text>']
    for s, (name, vs) in enumerate(series.items()):
        colour = SERIES_COLOURS[s % len(SERIES_COLOURS)]
        parts.append(f'<rect x="{pad + s * 150}" y="28" width="10" height="10" fill="{colour}"/>'
                     f'<text x="{pad + s * 150 + 14}" y="37">{escape(name)}</text>')
        for i, value in enumerate(vs):
            if value is None:
                continue
            h = (base - 60) * value / peak
            x = pad + i * slot + gap / 2 + s * bar
            parts.append(f'<rect x="{x:.1f}" y="{base - h:.1f}" width="{bar:.1f}" height="{h:.1f}" fill="{colour}"/>')
            parts.append(f'<text x="{x + bar / 2:.1f}" y="{base - h - 3:.1f}" text-anchor="middle" font-size="9">{value:.3g}</text>')
    for i, label in enumerate(categories):
        parts.append(f'<text x="{pad + i * slot + slot / 2:.1f}" y="{base + 14}" text-anchor="middle">{escape(label)}</text>')
    parts.append(f'<text x="{width / 2}" y="{height - 6}" text-anchor="middle">{escape(unit)}</text>')
    parts.append(f'<line x1="{pad}" y1="{base}" x2="{width - pad}" y2="{base}" stroke="#333"/></svg>')
    return "\n".join(parts) + "\n"
