"""The console's plots as plain SVG drawn here: no chart library, no CDN, nothing to download.

Each function takes the numbers from Board.stats and returns an SVG document.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta, timezone
from html import escape

RISK_COLOURS = {"LOW": "#8fb996", "MEDIUM": "#f2c14e", "HIGH": "#f78154", "CRITICAL": "#b3001b"}
W, H, PAD_L, PAD_B, PAD_T = 560, 220, 40, 28, 24
CST = timezone(timedelta(hours=8))


def _frame(title: str, body: list[str], top: int) -> str:
    axis = [f'<line x1="{PAD_L}" y1="{H - PAD_B}" x2="{W - 8}" y2="{H - PAD_B}" '
            'stroke="#888"/>',
            f'<text x="{PAD_L - 6}" y="{PAD_T + 4}" text-anchor="end" font-size="10">{top}</text>',
            f'<text x="{PAD_L - 6}" y="{H - PAD_B}" text-anchor="end" font-size="10">0</text>',
            f'<text x="{W / 2}" y="14" text-anchor="middle" font-size="12" '
            f'font-weight="bold">{escape(title)}</text>']
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
            f'viewBox="0 0 {W} {H}" font-family="sans-serif" role="img" '
            f'aria-label="{escape(title)}">' + "".join(axis + body) + "</svg>")


def _scale(top: int) -> float:
    return (H - PAD_B - PAD_T) / max(1, top)


def hourly(per_hour: Mapping[str, Sequence[int]], start_ms: int) -> str:
    """Stacked bars: incidents opened per hour over the last 24 h, by risk level."""
    totals = [sum(per_hour[r][i] for r in per_hour) for i in range(24)]
    top = max(totals) if totals else 0
    k, bw = _scale(top), (W - PAD_L - 10) / 24
    body: list[str] = []
    for i in range(24):
        y = float(H - PAD_B)
        for risk in ("LOW", "MEDIUM", "HIGH", "CRITICAL"):
            n = per_hour.get(risk, [0] * 24)[i]
            if not n:
                continue
            h = n * k
            y -= h
            body.append(f'<rect x="{PAD_L + i * bw + 1:.1f}" y="{y:.1f}" width="{bw - 2:.1f}" '
                        f'height="{h:.1f}" fill="{RISK_COLOURS[risk]}"><title>{risk}: {n}'
                        '</title></rect>')
        if i % 4 == 0:
            hour = datetime.fromtimestamp(start_ms / 1000 + i * 3600, UTC).astimezone(CST)
            body.append(f'<text x="{PAD_L + i * bw:.1f}" y="{H - 10}" font-size="10">'
                        f'{hour:%H}:00</text>')
    for j, risk in enumerate(("LOW", "MEDIUM", "HIGH", "CRITICAL")):
        body.append(f'<rect x="{W - 330 + j * 72}" y="20" width="10" height="10" '
                    f'fill="{RISK_COLOURS[risk]}"/><text x="{W - 316 + j * 72}" y="29" '
                    f'font-size="10">{risk}</text>')
    return _frame("Incidents per hour by risk (last 24 h, UTC+8)", body, top)


def open_per_level(counts: Mapping[str, int]) -> str:
    """Bars: cases still open (not resolved or closed) at each level."""
    top = max(counts.values(), default=0)
    k, bw = _scale(top), (W - PAD_L - 10) / max(1, len(counts))
    body = []
    for i, (level, n) in enumerate(counts.items()):
        h = n * k
        x = PAD_L + i * bw
        body.append(f'<rect x="{x + 8:.1f}" y="{H - PAD_B - h:.1f}" width="{bw - 16:.1f}" '
                    f'height="{h:.1f}" fill="#4a6fa5"><title>{level}: {n}</title></rect>'
                    f'<text x="{x + bw / 2:.1f}" y="{H - 10}" text-anchor="middle" '
                    f'font-size="11">{level} ({n})</text>')
    return _frame("Open cases per level", body, top)


def time_to_acknowledge(minutes: Sequence[float]) -> str:
    """Histogram: minutes from a case opening to its first acknowledgement (or assignment)."""
    edges = [0, 1, 2, 5, 10, 30, 60, 240, 1440]
    labels = ["<1", "1-2", "2-5", "5-10", "10-30", "30-60", "1-4h", "4-24h", ">24h"]
    counts = [0] * len(labels)
    for m in minutes:
        i = sum(1 for e in edges[1:] if m >= e)
        counts[i] += 1
    top = max(counts)
    k, bw = _scale(top), (W - PAD_L - 10) / len(labels)
    body = []
    for i, (label, n) in enumerate(zip(labels, counts, strict=True)):
        h = n * k
        x = PAD_L + i * bw
        body.append(f'<rect x="{x + 3:.1f}" y="{H - PAD_B - h:.1f}" width="{bw - 6:.1f}" '
                    f'height="{h:.1f}" fill="#6a994e"><title>{escape(label)} min: {n}'
                    '</title></rect>'
                    f'<text x="{x + bw / 2:.1f}" y="{H - 10}" text-anchor="middle" '
                    f'font-size="10">{escape(label)}</text>')
    title = f"Time to acknowledge, minutes ({len(minutes)} cases)"
    return _frame(title, body, top)


def funnel(rows: Sequence[Mapping[str, object]]) -> str:
    """Grouped bars per month: reported, accepted (受理), resolved (调处成功), unresolved."""
    series = (("reported", "#8d99ae"), ("accepted", "#4a6fa5"), ("resolved", "#6a994e"),
              ("unresolved", "#bc4749"))
    top = max((int(str(r[name])) for r in rows for name, _ in series), default=0)
    k = _scale(top)
    gw = (W - PAD_L - 10) / max(1, len(rows))
    bw = gw / (len(series) + 1)
    body: list[str] = []
    for i, r in enumerate(rows):
        for j, (name, colour) in enumerate(series):
            n = int(str(r[name]))
            h = n * k
            x = PAD_L + i * gw + (j + 0.5) * bw
            body.append(f'<rect x="{x:.1f}" y="{H - PAD_B - h:.1f}" width="{bw - 1:.1f}" '
                        f'height="{h:.1f}" fill="{colour}"><title>{escape(str(r["period_label"]))} '
                        f'{name}: {n}</title></rect>')
        body.append(f'<text x="{PAD_L + i * gw + gw / 2:.1f}" y="{H - 10}" text-anchor="middle" '
                    f'font-size="10">{escape(str(r["period_label"]))}</text>')
    for j, (name, colour) in enumerate(series):
        body.append(f'<rect x="{W - 330 + j * 80}" y="20" width="10" height="10" '
                    f'fill="{colour}"/><text x="{W - 316 + j * 80}" y="29" '
                    f'font-size="10">{name}</text>')
    return _frame("Disputes per month (矛盾纠纷)", body, top)


def index_line(rows: Sequence[Mapping[str, object]]) -> str:
    """The safety index (平安指数) per day, 0 to 100."""
    k = _scale(100)
    step = (W - PAD_L - 10) / max(1, len(rows) - 1)
    points = " ".join(f"{PAD_L + i * step:.1f},{H - PAD_B - float(str(r['index'])) * k:.1f}"
                      for i, r in enumerate(rows))
    body = [f'<polyline points="{points}" fill="none" stroke="#1d3557" stroke-width="2"/>']
    for i, r in enumerate(rows):
        if i % max(1, len(rows) // 6) == 0:
            body.append(f'<text x="{PAD_L + i * step:.1f}" y="{H - 10}" font-size="10">'
                        f'{escape(str(r["day_label"]))[5:]}</text>')
    return _frame("Safety index per day (平安指数)", body, 100)
