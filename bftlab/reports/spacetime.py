"""Space-time diagrams of a simulated run, and a ShiViz export of its messages.

A run directory written with ``trace.keep: true`` holds ``spec.yaml``,
``report.json`` and ``trace.jsonl`` (see :func:`bftlab.sim.runner.write_trace`).
:func:`load_run` reads those files into a :class:`RunTrace`; nothing here runs
the simulator, so a picture is computed only from the files a run left behind.

The diagram is the one of Lamport's "Time, Clocks, and the Ordering of Events"
(CACM 1978, Fig. 1), turned on its side: one horizontal lane per node (replicas,
then clients), simulated time flowing left to right, one arrow per delivered
message from (sender, send time) to (receiver, delivery time), coloured by
message type. On top of it: crashes and recoveries (the spec's faults, and the
down windows of ``crash-recover`` adversaries), partitions shaded over their
time windows (``network.partitions`` and any adversary partition schedule),
lost messages as dashed stubs ending in a cross, executed slots as ticks, and
the checker's safety violations as red rings at the replicas that executed the
offending slot (a violation carries its ``seq`` and replicas but no time: the
time is that of the replica's ``Executed`` event for that seq).

:func:`layout` turns a :class:`RunTrace` into a :class:`Scene` of pixel
primitives once; :func:`svg` writes it as text (no dependency) and
:func:`png` paints the same scene with matplotlib (the optional ``plot`` extra).

For runs too large to draw, :mod:`bftlab.reports.shiviz` exports them for ShiViz.
The run model (:class:`RunTrace`, :func:`load_run`) is in :mod:`bftlab.reports.runtrace`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from bftlab.errors import UsageError
from bftlab.reports.runtrace import (  # noqa: F401  (re-exported: the picture's input)
    Lost,
    Message,
    Outage,
    Partition,
    RunTrace,
    ViolationMark,
    load_run,
    window_end_for,
)
from bftlab.reports.shiviz import SHIVIZ_REGEX, shiviz_log, vector_clocks  # noqa: F401  (re-exported)

# Tableau 10 without its red, which is kept for violations; then four more.
_PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2", "#edc948", "#9c755f", "#ff9da7",
            "#bab0ac", "#499894", "#86bcb6", "#d37295", "#8cd17d", "#79706e")
_RED = "#d62728"
_GREEN = "#2ca02c"


# ------------------------------------------------------------------ the scene
@dataclass(frozen=True, slots=True)
class Line:
    x1: float
    y1: float
    x2: float
    y2: float
    color: str
    width: float = 1.0
    dash: tuple[float, ...] = ()
    arrow: bool = False
    opacity: float = 1.0
    cls: str = ""
    tip: str = ""
    data: str = ""


@dataclass(frozen=True, slots=True)
class Rect:
    x: float
    y: float
    w: float
    h: float
    fill: str
    opacity: float = 1.0
    cls: str = ""
    tip: str = ""


@dataclass(frozen=True, slots=True)
class Circle:
    x: float
    y: float
    r: float
    stroke: str
    fill: str = "none"
    width: float = 1.0
    cls: str = ""
    tip: str = ""


@dataclass(frozen=True, slots=True)
class Polygon:
    points: tuple[tuple[float, float], ...]
    fill: str
    cls: str = ""
    tip: str = ""


@dataclass(frozen=True, slots=True)
class Text:
    x: float
    y: float
    text: str
    size: float = 12.0
    color: str = "#222222"
    anchor: str = "start"  # start | middle | end, as in SVG
    bold: bool = False
    cls: str = ""


Shape = Line | Rect | Circle | Polygon | Text


@dataclass
class Scene:
    """Pixel primitives in drawing order (later on top); y grows downwards, as in SVG."""

    width: float
    height: float
    title: str
    shapes: list[Shape] = field(default_factory=list)


def message_colours(trace: RunTrace) -> dict[str, str]:
    """One colour per message type, in order of first send over the whole run (stable across windows)."""
    order: dict[str, str] = {}
    for kind in [m.kind for m in trace.messages] + [x.kind for x in trace.lost]:
        if kind not in order:
            order[kind] = _PALETTE[len(order) % len(_PALETTE)]
    return order


def _text_px(text: str, size: float) -> float:
    return 0.6 * size * len(text)


def _byz_text(trace: RunTrace, node: int) -> str:
    text = "byzantine: " + ", ".join(trace.byzantine.get(node, ()))
    return text if len(text) <= 48 else text[:47] + "…"


def _nice_step(span: float, target: int = 10) -> float:
    raw = span / target
    mag = 10 ** math.floor(math.log10(raw))
    return next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)


def _fmt_s(t: float) -> str:
    return f"{t:.6f}".rstrip("0").rstrip(".") + " s"


def _groups_text(p: Partition, nodes: Sequence[int]) -> str:
    named = {x for g in p.groups for x in g}
    parts = ["{" + ",".join(map(str, g)) + "}" for g in p.groups]
    rest = [x for x in nodes if x not in named]
    if rest:
        parts.append("{" + ",".join(map(str, rest)) + "}" if len(rest) <= 6 else "{others}")
    return " | ".join(parts)


def layout(trace: RunTrace, from_s: float | None = None, to_s: float | None = None,
           width: float = 1400.0) -> Scene:
    """Lay out the diagram of ``trace`` between ``from_s`` and ``to_s`` (default: the whole run)."""
    t0 = 0.0 if from_s is None else from_s
    t1 = (trace.end_s * 1.01 or 1e-3) if to_s is None else to_s
    if t1 <= t0:
        raise UsageError(f"the window is empty: from {t0} s to {t1} s (the run ends at {trace.end_s} s).")
    msgs = trace.messages_in(from_s, to_s)
    colours = message_colours(trace)
    lanes = trace.nodes
    # room for the widest lane label (about 0.6 em per character), within reason
    label_px = max([_text_px(trace.label(n), 12) for n in lanes]
                   + [_text_px(_byz_text(trace, n), 9) for n in trace.byzantine], default=60.0)
    left, right = min(320.0, max(110.0, label_px + 24)), width - 30.0
    span = t1 - t0

    def x(t: float) -> float:
        return left + (t - t0) / span * (right - left)

    def inside(t: float) -> bool:
        return t0 <= t <= t1

    def clamp(t: float) -> float:
        return x(min(max(t, t0), t1))

    lane_h = max(16.0, min(44.0, 760.0 / max(1, len(lanes))))
    shown = trace.violations[:3]  # their details, one line each, under the subtitle
    top = 84.0 + 16 * len(shown)
    y_of = {node: top + 22 + i * lane_h for i, node in enumerate(lanes)}
    bottom = top + 22 + (len(lanes) - 1) * lane_h + 22
    marks = [(v, node, t if t is not None else trace.end_s) for v in trace.violations for node, t in v.points]

    title = f"{trace.name}: {trace.protocol}, n={trace.n}, f={trace.f}, seed {trace.seed}"
    scene = Scene(width, 0.0, title)
    add = scene.shapes.append
    add(Text(16, 28, title, 16, bold=True, cls="title"))
    if trace.safety_ok:
        verdict, vcol = "safety OK", "#222222"
    else:
        kinds = ", ".join(sorted({v.kind for v in trace.violations})) or "?"
        verdict, vcol = f"safety VIOLATED: {trace.violation_count} violation(s) ({kinds})", _RED
    live = f"liveness: {trace.pending} request(s) pending" if trace.pending else "liveness OK"
    hidden = sum(1 for _, _, t in marks if not inside(t))
    hidden_note = f" ({hidden} violation mark(s) outside this window)" if hidden else ""
    add(Text(16, 50, f"{verdict}; {live}{hidden_note}", 12.5, vcol, bold=not trace.safety_ok, cls="verdict"))
    add(Text(16, 68, f"{len(msgs)} of {len(trace.messages)} delivered messages, t = {_fmt_s(t0)} to {_fmt_s(t1)}; "
                     f"time flows left to right, one arrow per message from send to delivery", 11.5, "#555555",
             cls="subtitle"))
    for i, v in enumerate(shown):
        more = f" (and {trace.violation_count - len(shown)} more)" if i == len(shown) - 1 and \
            trace.violation_count > len(shown) else ""
        detail = " ".join(v.detail.split())
        detail = detail if len(detail) <= 160 else detail[:159] + "\u2026"
        add(Text(16, 86 + 16 * i, f"{v.kind}: {detail}{more}", 11.5, _RED, cls="violation-detail"))

    # partitions, under everything else
    for p in trace.partitions:
        if p.end_s < t0 or p.start_s > t1:
            continue
        xa, xb = clamp(p.start_s), clamp(p.end_s)
        tip = f"partition {_groups_text(p, lanes)} from {_fmt_s(p.start_s)} to {_fmt_s(p.end_s)} ({p.source})"
        add(Rect(xa, top, max(xb - xa, 1.0), bottom - top, "#f4a261", 0.22, cls="partition", tip=tip))
        label = f"partition {_groups_text(p, lanes)}"
        at_end = xa + 3 + _text_px(label, 10.5) > right
        add(Text(xb - 3 if at_end else xa + 3, top - 4, label, 10.5, "#9c4a12", "end" if at_end else "start",
                 cls="partition-label"))

    # lanes and their labels
    for node in lanes:
        y = y_of[node]
        replica = trace.is_replica(node)
        byz = trace.byzantine.get(node)
        add(Line(left, y, right, y, "#8c8c8c" if replica else "#a7b6c8", 1.3 if replica else 1.0, cls="lane",
                 data=trace.label(node)))
        add(Text(left - 12, y + 4, trace.label(node), 12, "#b22222" if byz else ("#222222" if replica else "#456"),
                 "end", bold=bool(byz), cls="lane-label"))
        if byz:
            add(Text(left - 12, y + 15, _byz_text(trace, node), 9, "#b22222", "end", cls="byzantine"))

    # outages: a grey band while down, a red cross at the crash, a green triangle at the recovery
    for o in trace.outages:
        if o.node not in y_of:
            continue
        y = y_of[o.node]
        up = o.up_s if o.up_s is not None else max(trace.end_s, t1)
        if up >= t0 and o.down_s <= t1:
            tip = f"{trace.label(o.node)} down ({o.cause}) from {_fmt_s(o.down_s)}" + (
                f" to {_fmt_s(o.up_s)}" if o.up_s is not None else " to the end")
            add(Rect(clamp(o.down_s), y - 5, max(clamp(up) - clamp(o.down_s), 1.0), 10, "#7f7f7f", 0.35,
                     cls="down", tip=tip))
        if inside(o.down_s):
            cx = x(o.down_s)
            add(Line(cx - 6, y - 6, cx + 6, y + 6, _RED, 2.4, cls="crash", tip=f"{trace.label(o.node)} crashes "
                     f"({o.cause}) at {_fmt_s(o.down_s)}"))
            add(Line(cx - 6, y + 6, cx + 6, y - 6, _RED, 2.4, cls="crash-x"))
        if o.up_s is not None and inside(o.up_s):
            cx = x(o.up_s)
            add(Polygon(((cx - 6, y + 6), (cx + 6, y + 6), (cx, y - 6)), _GREEN, cls="recover",
                        tip=f"{trace.label(o.node)} recovers at {_fmt_s(o.up_s)}"))

    # history: executed slots as ticks on replica lanes, view changes as labels
    for e in trace.events:
        if e.node not in y_of or not inside(e.t_s):
            continue
        y = y_of[e.node]
        if e.name == "Executed":
            add(Line(x(e.t_s), y - 5, x(e.t_s), y + 5, "#333333", 1.2, cls="exec",
                     tip=f"{trace.label(e.node)} executes seq {e.fields.get('seq')} (view {e.fields.get('view')}) "
                         f"at {_fmt_s(e.t_s)}"))
        elif e.name == "ViewChanged" and e.fields.get("view"):
            add(Text(x(e.t_s) + 2, y - 8, f"view {e.fields['view']}", 9.5, "#444444", cls="view"))

    # messages
    for m in msgs:
        col = colours[m.kind]
        tip = (f"{m.kind}: {trace.label(m.src)} to {trace.label(m.dst)}, sent {_fmt_s(m.sent_s)}, "
               f"delivered {_fmt_s(m.recv_s)}")
        ys, yd = y_of[m.src], y_of[m.dst]
        if m.src == m.dst:
            add(Circle(clamp(m.sent_s), ys, 3.0, col, width=1.3, cls="msg", tip=tip))
            continue
        add(_clipped(x(m.sent_s), ys, x(m.recv_s), yd, left, right, col, tip, m.kind, inside(m.recv_s)))
    for lost in trace.lost:
        if lost.src not in y_of or lost.dst not in y_of or not inside(lost.sent_s):
            continue
        col = colours.get(lost.kind, "#7f7f7f")
        ys, yd = y_of[lost.src], y_of[lost.dst]
        xs = x(lost.sent_s)
        if lost.reason == "receiver_down" and inside(lost.t_s):
            xe, ye = x(lost.t_s), yd
        else:
            xe, ye = min(xs + 16.0, right), ys + 0.4 * (yd - ys)
        tip = (f"{lost.kind}: {trace.label(lost.src)} to {trace.label(lost.dst)}, sent {_fmt_s(lost.sent_s)}, "
               f"lost ({lost.reason.replace('_', ' ')})")
        add(Line(xs, ys, xe, ye, col, 1.1, (3.0, 2.5), cls="lost", tip=tip, data=lost.kind))
        add(Line(xe - 3, ye - 3, xe + 3, ye + 3, col, 1.3, cls="lost-x"))
        add(Line(xe - 3, ye + 3, xe + 3, ye - 3, col, 1.3, cls="lost-x"))

    # violations, on top
    labelled: set[int] = set()
    for v, at, t in marks:
        if not inside(t):
            continue
        cx = x(t)
        y = y_of.get(at, top + 8) if at is not None else top + 8  # no replica named: above the lanes
        add(Line(cx, top, cx, bottom, _RED, 1.2, (5.0, 4.0), opacity=0.6, cls="violation-line"))
        add(Circle(cx, y, 9.0, _RED, width=2.6, cls="violation", tip=f"{v.kind}: {v.detail}"))
        if id(v) not in labelled:
            labelled.add(id(v))
            what = f"{v.kind} at seq {v.seq}" if v.seq is not None else v.kind
            add(Text(min(cx + 12, right - 4), y - 11, what, 12, _RED, "end" if cx + 12 > right - 160 else "start",
                     bold=True, cls="violation-label"))

    # time axis
    add(Line(left, bottom, right, bottom, "#333333", 1.0, cls="axis"))
    step = _nice_step(span)
    unit, scale = ("ms", 1e3) if span < 2.0 else ("s", 1.0)
    k = math.ceil(t0 / step - 1e-9)
    while k * step <= t1 + 1e-12:  # at most about a dozen ticks: step is a tenth of the span
        t = k * step
        add(Line(x(t), bottom, x(t), bottom + 5, "#333333", 1.0, cls="tick"))
        add(Text(x(t), bottom + 18, f"{t * scale:.{max(0, -math.floor(math.log10(step * scale)))}f}", 10.5,
                 "#333333", "middle", cls="tick-label"))
        k += 1
    add(Text((left + right) / 2, bottom + 36, f"simulated time ({unit})", 11.5, "#333333", "middle", cls="axis-label"))

    # legend: message types with their counts in the window, then the symbols that appear
    counts: dict[str, int] = {}
    for m in msgs:
        counts[m.kind] = counts.get(m.kind, 0) + 1
    entries: list[tuple[str, list[Shape], str]] = []
    for kind, col in colours.items():
        if kind in counts:
            entries.append((f"{kind} ({counts[kind]})", [Line(0, 0, 26, 0, col, 1.6, arrow=True)], "legend-entry"))
    present = {type(s).__name__ + ":" + s.cls for s in scene.shapes}
    symbols: list[tuple[str, str, list[Shape]]] = [
        ("Line:crash", "crash", [Line(7, -6, 19, 6, _RED, 2.4), Line(7, 6, 19, -6, _RED, 2.4)]),
        ("Polygon:recover", "recovery", [Polygon(((7, 6), (19, 6), (13, -6)), _GREEN)]),
        ("Rect:down", "node down", [Rect(0, -5, 26, 10, "#7f7f7f", 0.35)]),
        ("Rect:partition", "partition", [Rect(0, -7, 26, 14, "#f4a261", 0.35)]),
        ("Line:lost", "message lost", [Line(0, 0, 20, 0, "#7f7f7f", 1.1, (3.0, 2.5)),
                                       Line(17, -3, 23, 3, "#7f7f7f", 1.3), Line(17, 3, 23, -3, "#7f7f7f", 1.3)]),
        ("Line:exec", "slot executed", [Line(13, -5, 13, 5, "#333333", 1.2)]),
        ("Circle:violation", "safety violation", [Circle(13, 0, 7, _RED, width=2.4)]),
    ]
    entries += [(label, shapes, "legend-symbol") for key, label, shapes in symbols if key in present]
    per_row = max(1, int((width - 32) // 190))
    ly = bottom + 62
    for i, (label, shapes, cls) in enumerate(entries):
        ex, ey = 24 + (i % per_row) * 190, ly + (i // per_row) * 22
        for s in shapes:
            add(_moved(s, ex, ey))
        add(Text(ex + 34, ey + 4, label, 11.5, cls=cls))
    rows = (len(entries) + per_row - 1) // per_row
    scene.height = ly + rows * 22 + 8
    return scene


def _clipped(x1: float, y1: float, x2: float, y2: float, lo: float, hi: float, col: str, tip: str, kind: str,
             arrow: bool) -> Line:
    """The message line cut to the plot's x range (a flight that starts or ends outside the window)."""
    def at(xc: float) -> float:
        return y1 + (y2 - y1) * ((xc - x1) / (x2 - x1)) if x2 != x1 else y1

    if x1 < lo:
        x1, y1 = lo, at(lo)
    if x2 > hi:
        x2, y2 = hi, at(hi)
    return Line(x1, y1, x2, y2, col, 1.1, arrow=arrow, opacity=0.85, cls="msg", tip=tip, data=kind)


def _moved(s: Shape, dx: float, dy: float) -> Shape:
    if isinstance(s, Line):
        return Line(s.x1 + dx, s.y1 + dy, s.x2 + dx, s.y2 + dy, s.color, s.width, s.dash, s.arrow, s.opacity, "legend")
    if isinstance(s, Rect):
        return Rect(s.x + dx, s.y + dy, s.w, s.h, s.fill, s.opacity, "legend")
    if isinstance(s, Circle):
        return Circle(s.x + dx, s.y + dy, s.r, s.stroke, s.fill, s.width, "legend")
    if isinstance(s, Polygon):
        return Polygon(tuple((px + dx, py + dy) for px, py in s.points), s.fill, "legend")
    return Text(s.x + dx, s.y + dy, s.text, s.size, s.color, s.anchor, s.bold, "legend")


# ------------------------------------------------------------------ backends
def svg(scene: Scene) -> str:
    """The scene as a standalone SVG document (tooltips in ``<title>``, classes for styling and tests)."""
    arrow_colours = sorted({s.color for s in scene.shapes if isinstance(s, Line) and s.arrow})
    marker = {c: f"ah{i}" for i, c in enumerate(arrow_colours)}
    w, h = _n(scene.width), _n(scene.height)
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        (f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" '
         f'font-family="DejaVu Sans, Helvetica, Arial, sans-serif">'),
        f"<title>{escape(scene.title)}</title>",
        "<defs>",
    ]
    for c, mid in marker.items():
        out.append(f'<marker id="{mid}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
                   f'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{c}"/></marker>')
    out += ["</defs>", '<rect width="100%" height="100%" fill="white"/>']
    for s in scene.shapes:
        out.append(_svg_shape(s, marker))
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _n(v: float) -> str:
    return f"{v:.1f}".rstrip("0").rstrip(".")


def _attrs(cls: str, data: str = "") -> str:
    return (f" class={quoteattr(cls)}" if cls else "") + (f" data-type={quoteattr(data)}" if data else "")


def _tip(tip: str) -> str:
    return f"<title>{escape(tip)}</title>" if tip else ""


def _svg_shape(s: Shape, marker: dict[str, str]) -> str:
    if isinstance(s, Line):
        extra = f' stroke-dasharray="{" ".join(_n(d) for d in s.dash)}"' if s.dash else ""
        extra += f' marker-end="url(#{marker[s.color]})"' if s.arrow else ""
        extra += f' stroke-opacity="{s.opacity}"' if s.opacity != 1.0 else ""
        body = _tip(s.tip)
        return (f'<line{_attrs(s.cls, s.data)} x1="{_n(s.x1)}" y1="{_n(s.y1)}" x2="{_n(s.x2)}" y2="{_n(s.y2)}" '
                f'stroke="{s.color}" stroke-width="{s.width}"{extra}' + (f">{body}</line>" if body else "/>"))
    if isinstance(s, Rect):
        body = _tip(s.tip)
        return (f'<rect{_attrs(s.cls)} x="{_n(s.x)}" y="{_n(s.y)}" width="{_n(s.w)}" height="{_n(s.h)}" '
                f'fill="{s.fill}" fill-opacity="{s.opacity}"' + (f">{body}</rect>" if body else "/>"))
    if isinstance(s, Circle):
        body = _tip(s.tip)
        return (f'<circle{_attrs(s.cls)} cx="{_n(s.x)}" cy="{_n(s.y)}" r="{_n(s.r)}" stroke="{s.stroke}" '
                f'stroke-width="{s.width}" fill="{s.fill}"' + (f">{body}</circle>" if body else "/>"))
    if isinstance(s, Polygon):
        body = _tip(s.tip)
        pts = " ".join(f"{_n(px)},{_n(py)}" for px, py in s.points)
        return f'<polygon{_attrs(s.cls)} points="{pts}" fill="{s.fill}"' + (f">{body}</polygon>" if body else "/>")
    weight = ' font-weight="bold"' if s.bold else ""
    return (f'<text{_attrs(s.cls)} x="{_n(s.x)}" y="{_n(s.y)}" font-size="{s.size}" fill="{s.color}" '
            f'text-anchor="{s.anchor}"{weight}>{escape(s.text)}</text>')


def png(scene: Scene, path: str | Path, dpi: int = 150) -> None:
    """Paint the scene with matplotlib (the ``plot`` extra) into a PNG file."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.patches import Circle as MCircle
        from matplotlib.patches import FancyArrowPatch, Rectangle
        from matplotlib.patches import Polygon as MPolygon
    except ImportError:
        raise UsageError("--format png needs matplotlib, which is not installed: pip install 'bftlab[plot]' "
                         "(or draw the default SVG, which needs nothing).") from None
    fig = Figure(figsize=(scene.width / 100, scene.height / 100), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, scene.width)
    ax.set_ylim(scene.height, 0)
    ax.axis("off")
    pt = 0.72  # one scene pixel in points, at 100 pixels per inch
    ha = {"start": "left", "middle": "center", "end": "right"}
    for s in scene.shapes:
        if isinstance(s, Line):
            style = (0, tuple(d * pt / s.width for d in s.dash)) if s.dash else "solid"
            if s.arrow:
                ax.add_patch(FancyArrowPatch((s.x1, s.y1), (s.x2, s.y2), arrowstyle="-|>", mutation_scale=8,
                                             color=s.color, lw=s.width * pt, alpha=s.opacity, linestyle=style,
                                             shrinkA=0, shrinkB=0))
            else:
                ax.plot((s.x1, s.x2), (s.y1, s.y2), color=s.color, lw=s.width * pt, alpha=s.opacity,
                        linestyle=style, solid_capstyle="butt")
        elif isinstance(s, Rect):
            ax.add_patch(Rectangle((s.x, s.y), s.w, s.h, facecolor=s.fill, alpha=s.opacity, edgecolor="none"))
        elif isinstance(s, Circle):
            ax.add_patch(MCircle((s.x, s.y), s.r, facecolor="none" if s.fill == "none" else s.fill,
                                 edgecolor=s.stroke, lw=s.width * pt))
        elif isinstance(s, Polygon):
            ax.add_patch(MPolygon(s.points, closed=True, facecolor=s.fill, edgecolor="none"))
        else:
            ax.text(s.x, s.y, s.text, fontsize=s.size * pt, color=s.color, ha=ha[s.anchor], va="baseline",
                    fontweight="bold" if s.bold else "normal")
    fig.savefig(str(path), dpi=dpi, facecolor="white")
