"""The timeline picture of a run: answers per second by mode, failures, fault markers, replication lag."""

from __future__ import annotations

import math
from pathlib import Path

# The Agg canvas directly, not pyplot: files only, no display needed, no global backend state.
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from rgw.chaos.actions import Event
from rgw.chaos.load import Read
from rgw.chaos.observe import StatusSample
from rgw.chaos.scenario import MODES

COLOURS = {"normal": "#4c9a2a", "failover": "#e8a33d", "partial": "#8e6bbf", "cache": "#3d85c6",
           "lexical": "#c2549d", "unlabelled": "#999999"}
FAILED = "#d62728"


def per_second(reads: list[Read], seconds: int) -> tuple[dict[str, list[int]], list[int]]:
    """Answers per second (by completion time) for each mode, and failures per second."""
    modes = {m: [0] * seconds for m in (*MODES, "unlabelled")}
    failed = [0] * seconds
    for read in reads:
        second = min(seconds - 1, max(0, int(read.end)))
        if read.ok:
            modes[read.mode if read.mode in modes else "unlabelled"][second] += 1
        else:
            failed[second] += 1
    return modes, failed


def _gaps(points: list[tuple[float, float]], gap_s: float = 1.0) -> list[tuple[float, float]]:
    """Break the line where samples are missing (the gateway was down), instead of drawing across."""
    out: list[tuple[float, float]] = []
    for t, value in points:
        if out and t - out[-1][0] > gap_s:
            out.append((out[-1][0], math.nan))
        out.append((t, value))
    return out


def plot(path: Path, title: str, reads: list[Read], events: list[Event], samples: list[StatusSample],
         regions: tuple[str, ...]) -> Path:
    end = max([r.end for r in reads] + [s.t for s in samples] + [e.done for e in events] + [1.0])
    seconds = math.ceil(end) + 1
    modes, failed = per_second(reads, seconds)
    xs = list(range(seconds))
    fig = Figure(figsize=(12, 7))
    FigureCanvasAgg(fig)
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(3, 1.2))
    shown = [m for m in modes if any(modes[m])]
    if shown:
        top.stackplot(xs, *(modes[m] for m in shown), labels=shown, colors=[COLOURS[m] for m in shown],
                      step="post", alpha=0.85)
    top.step(xs, failed, where="post", color=FAILED, linewidth=1.8, label="failed")
    top.set_ylabel("reads answered per second")
    top.set_title(title)
    peak = max([sum(column) for column in zip(*modes.values(), strict=True)] + failed + [1])
    top.set_ylim(0, peak * 1.35)  # headroom for the fault labels, and so a full-height line stays visible
    for axis in (top, bottom):
        for event in events:
            style = ":" if event.due is None else "--"
            axis.axvline(event.started, color="black" if event.ok else FAILED, linestyle=style, linewidth=0.9)
    ymax = top.get_ylim()[1]
    for i, event in enumerate(e for e in events if e.due is not None):
        top.text(event.started, ymax * (0.97 - 0.07 * (i % 4)), " " + event.label, fontsize=8, va="top",
                 rotation=0, color="black" if event.ok else FAILED,
                 bbox={"facecolor": "white", "alpha": 0.7, "edgecolor": "none", "pad": 1})
    top.legend(loc="lower left", fontsize=8, ncols=4)
    for region in regions:
        points = _gaps([(s.t, s.lag(region)) for s in samples if region in s.applied])
        if points:
            bottom.plot([t for t, _ in points], [lag for _, lag in points], label=f"{region} lag", linewidth=1.2)
    lexical = _gaps([(s.t, s.lexical_lag) for s in samples])
    if lexical:
        bottom.plot([t for t, _ in lexical], [lag for _, lag in lexical], label="lexical lag", linewidth=1.0,
                    linestyle="--")
    bottom.set_ylabel("journal entries behind")
    bottom.set_xlabel("seconds since the load started (dotted: heals after the load)")
    bottom.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path
