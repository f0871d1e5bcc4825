"""What `kinema eval` writes: metrics.json, report.md and a contact sheet to look at."""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from kinema.data.video_io import write_mp4
from kinema.eval.metrics import ATTRIBUTES, VideoResult
from kinema.eval.run import EvalItem, EvalRun

METRICS_FILE = "metrics.json"
REPORT_FILE = "report.md"
SHEET_FILE = "contact_sheet.png"
VIDEO_DIR = "videos"

SHEET_FRAMES = 9  # frames per row, spread over the clip
SHEET_CELL = 64  # frames are scaled up (nearest neighbour) to about this many pixels
SHEET_ROWS = 64  # videos on the sheet; the rest are in the other files
SHEET_MIN_WIDTH = 600
BADGE_LINE = 20  # height of a line of pass/fail badges
PASS_COLOUR = (40, 150, 60)
FAIL_COLOUR = (200, 40, 40)
INK = (20, 20, 20)
PAPER = (250, 250, 250)


def _finite(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else value


def _video_record(item: EvalItem) -> dict:
    result, analysis = item.result, item.analysis
    return {
        "index": item.prompt.index,
        "prompt": item.prompt.prompt,
        "seed": item.seed,
        "video": f"{VIDEO_DIR}/{item.prompt.index:04d}.mp4",
        "adherent": result.adherent,
        "consistent": result.consistent,
        "presence": result.presence,
        "smoothness": _finite(result.smoothness),
        "physics": result.physics,
        "checks": [asdict(check) for check in result.checks],
        "seen": {
            "background": analysis.background,
            "extra_tracks": analysis.extra_tracks,
            "objects": [
                {
                    "colour": o.colour,
                    "shape": o.shape,
                    "size": o.size,
                    "motion": o.motion,
                    "speed": o.speed,
                    "presence": o.presence,
                    "velocity": list(o.fit.velocity),
                    "track": [[p.frame, p.x, p.y, p.area] for p in o.points],
                }
                for o in analysis.objects
            ],
        },
    }


def metrics_dict(run: EvalRun) -> dict:
    """Everything measured, as plain JSON data."""
    summary = run.summary.to_dict()
    summary["smoothness"] = _finite(summary["smoothness"])
    return {
        "source": run.source,
        "settings": asdict(run.settings),
        "world": asdict(run.world),
        "seconds": run.seconds,
        "summary": summary,
        "diversity": {"score": run.diversity_score, "prompts": run.diversity},
        "videos": [_video_record(item) for item in run.items],
    }


def _percent(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{100 * value:.1f}%"


def _mark(result: VideoResult, attribute: str) -> str:
    passed = result.passed(attribute)
    return "" if passed is None else ("pass" if passed else "**fail**")


def markdown(run: EvalRun) -> str:
    """A readable report: summary tables, then one line per video."""
    s = run.summary
    lines = [
        "# Kinema evaluation",
        "",
        f"- evaluated: `{run.source}`",
        f"- split: {run.settings.split}, prompts: {s.videos}, seed: {run.settings.seed}, "
        f"clip: {run.world.frames} frames of {run.world.width}x{run.world.height} "
        f"at {run.world.fps} fps, up to {run.world.max_objects} object(s)",
        f"- time: {run.seconds:.1f} s",
        "",
        "| measure | value | 95% interval | n |",
        "| --- | --- | --- | --- |",
    ]
    rates = [*((name, rate) for name, rate in s.attributes.items())]
    rates += [("full-prompt adherence", s.adherence), ("temporal consistency", s.consistency)]
    for name, rate in rates:
        low, high = rate.interval
        lines.append(
            f"| {name} | {_percent(rate.value)} | {_percent(low)} – {_percent(high)} | "
            f"{rate.total} |"
        )
    physics = "n/a" if s.physics is None else f"{s.physics:.4f}"
    diversity = run.diversity_score
    lines += [
        "",
        f"- mean attribute accuracy: {_percent(s.attribute_score)}",
        f"- objects present per frame (mean): {_percent(s.presence)}",
        f"- track residual (smoothness, image sizes, lower is smoother): {s.smoothness:.4f}",
        f"- gravity fit residual (physics, image sizes): {physics}",
        "- diversity of free attributes across seeds (1 = every seed differs): "
        + ("n/a" if diversity is None else f"{diversity:.2f}"),
        "",
        f"![contact sheet]({SHEET_FILE})",
        "",
        "| # | prompt | " + " | ".join(ATTRIBUTES) + " | adheres |",
        "| --- | --- | " + " | ".join("---" for _ in ATTRIBUTES) + " | --- |",
    ]
    for item in run.items:
        r = item.result
        marks = " | ".join(_mark(r, a) for a in ATTRIBUTES)
        verdict = "yes" if r.adherent else "**no**"
        lines.append(f"| {item.prompt.index} | {item.prompt.prompt} | {marks} | {verdict} |")
    return "\n".join(lines) + "\n"


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has only the fixed bitmap font
        return ImageFont.load_default()


def _fit_text(draw: ImageDraw.ImageDraw, text: str, font, width: int) -> str:
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "...", font=font) > width:
        text = text[:-1]
    return text + "..."


def contact_sheet(items: list[EvalItem]) -> Image.Image:
    """A row per video: its frames, its prompt and a pass/fail badge per checked attribute."""
    font = _font(12)
    rows = items[:SHEET_ROWS]
    t, h, w, _ = rows[0].video.shape if rows else (1, 1, 1, 3)
    scale = max(1, round(SHEET_CELL / max(h, w)))
    picks = np.unique(np.linspace(0, t - 1, min(t, SHEET_FRAMES)).round().astype(int))
    strip_w = len(picks) * (w * scale + 2)
    width = max(strip_w, SHEET_MIN_WIDTH) + 16
    row_h = h * scale + 24 + 2 * BADGE_LINE
    sheet = Image.new("RGB", (width, max(1, len(rows)) * row_h + 8), PAPER)
    draw = ImageDraw.Draw(sheet)
    for r, item in enumerate(rows):
        top = 4 + r * row_h
        verdict = PASS_COLOUR if item.result.adherent else FAIL_COLOUR
        draw.rectangle([0, top, 4, top + row_h - 6], fill=verdict)
        for k, frame_index in enumerate(picks):
            frame = Image.fromarray(item.video[frame_index])
            frame = frame.resize((w * scale, h * scale), Image.Resampling.NEAREST)
            sheet.paste(frame, (10 + k * (w * scale + 2), top))
        text_top = top + h * scale + 4
        prompt = f"{item.prompt.index}: {item.prompt.prompt}"
        draw.text((10, text_top), _fit_text(draw, prompt, font, width - 20), fill=INK, font=font)
        x, y = 10, text_top + 18
        for check_name in ATTRIBUTES:
            checks = [c for c in item.result.checks if c.attribute == check_name]
            if not checks:
                continue
            failed = [c for c in checks if not c.ok]
            label = check_name
            if failed:
                label += " " + ",".join(f"{c.expected}->{c.observed or '?'}" for c in failed)
            text_w = int(draw.textlength(label, font=font)) + 8
            if x + text_w > width - 4 and x > 10:  # wrap onto the second badge line
                x, y = 10, y + BADGE_LINE
            fill = FAIL_COLOUR if failed else PASS_COLOUR
            draw.rounded_rectangle([x, y, x + text_w, y + BADGE_LINE - 4], 4, fill=fill)
            draw.text((x + 4, y + 2), label, fill=(255, 255, 255), font=font)
            x += text_w + 4
    return sheet


def write_report(run: EvalRun, out: Path) -> dict[str, Path]:
    """Write metrics.json, report.md, contact_sheet.png and the videos into `out`."""
    out = Path(out)
    (out / VIDEO_DIR).mkdir(parents=True, exist_ok=True)
    paths = {
        "metrics": out / METRICS_FILE,
        "report": out / REPORT_FILE,
        "sheet": out / SHEET_FILE,
    }
    paths["metrics"].write_text(json.dumps(metrics_dict(run), indent=2) + "\n")
    paths["report"].write_text(markdown(run))
    contact_sheet(list(run.items)).save(paths["sheet"])
    for item in run.items:
        write_mp4(item.video, out / VIDEO_DIR / f"{item.prompt.index:04d}.mp4", run.world.fps)
    return paths
