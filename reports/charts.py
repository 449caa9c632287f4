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
