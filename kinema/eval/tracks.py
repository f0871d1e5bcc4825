"""Linking per-frame detections into tracks: one track per object, one slot per frame.

Frames are assigned in order. A detection joins the track whose predicted position,
colour and area it matches best (an optimal assignment over the few objects in a
scene); anything too far from every track starts a new one. Gravity moves an object up
to about 1.7 image heights per second, so the reach per frame is generous and identity
(colour, area) does most of the work.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from kinema.eval.segment import Detection

REACH_HEIGHTS_PER_S = 2.0  # the farthest a tracked object may move, in image sizes per second
COLOUR_CHANGE_COST = 2.0  # a colour change is allowed (generated videos flicker) but dear
AREA_COST = 0.5  # per unit of |log(area ratio)|
MAX_LINK_COST = 3.0
EXACT_ASSIGNMENT_LIMIT = 5000  # search size above which assignment is greedy


@dataclass(frozen=True, eq=False)
class Track:
    """One object's detections, indexed by frame (None where it was not seen)."""

    detections: tuple[Detection | None, ...]

    @property
    def seen(self) -> list[Detection]:
        return [d for d in self.detections if d is not None]


def _predict(history: list[Detection], frame: int) -> tuple[float, float]:
    """Where a track should be at `frame`: constant velocity from its last two detections."""
    last = history[-1]
    if len(history) < 2:
        return last.x, last.y
    before = history[-2]
    steps = (frame - last.frame) / (last.frame - before.frame)
    return last.x + (last.x - before.x) * steps, last.y + (last.y - before.y) * steps


def _cost(history: list[Detection], candidate: Detection, reach: float) -> float:
    last = history[-1]
    px, py = _predict(history, candidate.frame)
    gap = candidate.frame - last.frame
    # From the prediction, or from the last place when a bounce reversed the motion.
    moved = min(
        math.hypot(candidate.x - px, candidate.y - py),
        math.hypot(candidate.x - last.x, candidate.y - last.y),
    )
    if moved > reach * gap:
        return math.inf
    cost = moved / (reach * gap)
    cost += COLOUR_CHANGE_COST * (candidate.colour != last.colour)
    cost += AREA_COST * abs(math.log(max(candidate.area, 1e-6) / max(last.area, 1e-6)))
    return cost


def _assign(costs: list[list[float]]) -> list[tuple[int, int]]:
    """Pairs (row, column) of minimal total cost; a row may stay unmatched at MAX_LINK_COST."""
    rows = len(costs)
    cols = len(costs[0]) if costs else 0
    if rows == 0 or cols == 0:
        return []
    if (cols + 1) ** rows <= EXACT_ASSIGNMENT_LIMIT:
        best: tuple[float, list[tuple[int, int]]] = (math.inf, [])

        def search(row: int, used: frozenset[int], total: float, pairs: list) -> None:
            nonlocal best
            if total >= best[0]:
                return
            if row == rows:
                best = (total, pairs)
                return
            for c in range(cols):
                if c not in used and costs[row][c] <= MAX_LINK_COST:
                    search(row + 1, used | {c}, total + costs[row][c], [*pairs, (row, c)])
            search(row + 1, used, total + MAX_LINK_COST, pairs)

        search(0, frozenset(), 0.0, [])
        return best[1]
    ranked = sorted((costs[r][c], r, c) for r in range(rows) for c in range(cols))
    used_rows: set[int] = set()
    used_cols: set[int] = set()
    pairs = []
    for cost, r, c in ranked:
        if cost <= MAX_LINK_COST and r not in used_rows and c not in used_cols:
            pairs.append((r, c))
            used_rows.add(r)
            used_cols.add(c)
    return pairs


def link_tracks(
    per_frame: Sequence[Sequence[Detection]], height: int, width: int, fps: float
) -> list[Track]:
    """Tracks over all frames, ordered by first appearance."""
    reach = REACH_HEIGHTS_PER_S * max(height, width) / fps
    histories: list[list[Detection]] = []
    for detections in per_frame:
        costs = [[_cost(h, d, reach) for d in detections] for h in histories]
        pairs = _assign(costs) if detections else []
        taken = {c for _, c in pairs}
        for r, c in pairs:
            histories[r].append(detections[c])
        histories += [[d] for i, d in enumerate(detections) if i not in taken]
    tracks = []
    for history in histories:
        slots: list[Detection | None] = [None] * len(per_frame)
        for detection in history:
            slots[detection.frame] = detection
        tracks.append(Track(tuple(slots)))
    return tracks


def _joinable(early: Track, late: Track, reach: float) -> bool:
    """`late` may continue `early`: later frames only, same colour, similar size, reachable."""
    a, b = early.seen[-1], late.seen[0]
    if b.frame <= a.frame or a.colour != b.colour:
        return False
    if abs(math.log(max(a.area, 1e-6) / max(b.area, 1e-6))) > math.log(2.0):
        return False
    return math.hypot(b.x - a.x, b.y - a.y) <= reach * (b.frame - a.frame)


def merge_fragments(tracks: Sequence[Track], height: int, width: int, fps: float) -> list[Track]:
    """Join tracks that are one object lost for a while (hidden, or merged with another)."""
    reach = REACH_HEIGHTS_PER_S * max(height, width) / fps
    merged = list(tracks)
    joined = True
    while joined:
        joined = False
        order = sorted(range(len(merged)), key=lambda i: merged[i].seen[0].frame)
        for i in order:
            candidates = [j for j in order if j != i and _joinable(merged[i], merged[j], reach)]
            if candidates:
                j = min(candidates, key=lambda k: merged[k].seen[0].frame)
                pairs = zip(merged[i].detections, merged[j].detections, strict=True)
                slots = [a if a is not None else b for a, b in pairs]
                merged[i] = Track(tuple(slots))
                del merged[j]
                joined = True
                break
    return sorted(merged, key=lambda t: t.seen[0].frame)


def _radius(detection: Detection) -> float:
    return math.sqrt(detection.area / math.pi)


def hidden_frames(track: Track, per_frame: Sequence[Sequence[Detection]]) -> list[Detection]:
    """For each frame the track misses, the detection covering where it should be, if any.

    The position is interpolated between the nearest frames where the track was seen; an
    object there that overlaps it explains the gap (occlusion, or two objects of one colour
    seen as one blob). Returns those covering detections.
    """
    seen = track.seen
    covering = []
    for frame, slot in enumerate(track.detections):
        if slot is not None:
            continue
        before = [d for d in seen if d.frame < frame]
        after = [d for d in seen if d.frame > frame]
        if before and after:
            a, b = before[-1], after[0]
            w = (frame - a.frame) / (b.frame - a.frame)
            x, y = a.x + w * (b.x - a.x), a.y + w * (b.y - a.y)
            size = max(_radius(a), _radius(b))
        else:
            near = before[-1] if before else after[0]
            x, y, size = near.x, near.y, _radius(near)
        for other in per_frame[frame]:
            if math.hypot(other.x - x, other.y - y) <= _radius(other) + size:
                covering.append(other)
                break
    return covering
