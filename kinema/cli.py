"""`kinema` command line: thin subcommands over the library."""

from __future__ import annotations

import functools
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from kinema.data import cli as data_commands
from kinema.errors import KinemaError
from kinema.eval.cli import evaluate

app = typer.Typer(
    help="Kinema: text-to-video with a causal video autoencoder and a diffusion transformer.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def user_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Bad input ends with one line naming the broken rule and exit code 2, no traceback."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except KinemaError as error:
            typer.echo(f"error: {error}", err=True)
            raise typer.Exit(2) from None

    return wrapper


def _device(name: str | None):
    from kinema.model import resolve_device  # torch is imported only by commands that need it

    return resolve_device(name)


@app.command()
@user_errors
def train(
    out: Annotated[Path, typer.Option("--out", help="Run folder for checkpoints, logs, samples")],
    preset: Annotated[str | None, typer.Option(help="Named preset (see `kinema presets`)")] = None,
    resume: Annotated[bool, typer.Option(help="Continue the run in --out")] = False,
    device: Annotated[str | None, typer.Option(help="cpu, cuda, cuda:1 … (default: best)")] = None,
    data: Annotated[
        Path | None, typer.Option(help="CSV/JSONL index of your clips (kinema data scan)")
    ] = None,
    images: Annotated[
        Path | None, typer.Option(help="Folder or index of PNG/JPEG images (one-frame videos)")
    ] = None,
    image_ratio: Annotated[float, typer.Option(help="Share of steps with image batches")] = 0.0,
    cache: Annotated[bool, typer.Option(help="Cache latents in RUN/cache for stage 2")] = False,
    workers: Annotated[int, typer.Option(help="Clip decoding processes")] = 0,
) -> None:
    """Train the autoencoder (stage 1), then the transformer on its latents (stage 2)."""
    from kinema.presets import get_preset
    from kinema.train import prepare_run
    from kinema.train import train as run_training

    cfg = get_preset(preset) if preset is not None else None
    if data is not None or images is not None:
        from kinema.data.cli import with_data

        cfg = with_data(cfg, data, images, image_ratio, cache, workers)
    run_cfg = prepare_run(out, cfg, resume)
    if (data or images) and cfg is not None and resume and run_cfg.data != cfg.data:
        raise KinemaError(f"'{out}' was trained on other data; resume it without --data")
    if cfg is not None and resume and run_cfg.name != cfg.name:
        raise KinemaError(f"'{out}' is a '{run_cfg.name}' run, not '{cfg.name}'")
    final = run_training(out, run_cfg, _device(device))
    typer.echo(f"trained '{run_cfg.name}': {final}")


@app.command()
@user_errors
def generate(
    prompt: Annotated[str, typer.Argument(help="What the video shows")],
    checkpoint: Annotated[
        Path | None, typer.Option(help="Checkpoint or run folder (a run means its latest)")
    ] = None,
    output: Annotated[Path, typer.Option("--output", "-o", help=".mp4, .gif or .png")] = Path(
        "kinema.mp4"
    ),
    seed: int = 0,
    steps: Annotated[int | None, typer.Option(help="Sampling steps (default: model's)")] = None,
    guidance: Annotated[float | None, typer.Option(help="Classifier-free guidance")] = None,
    frames: Annotated[int | None, typer.Option(help="Frame count, 1 + 4k")] = None,
    height: int | None = None,
    width: int | None = None,
    fps: Annotated[int | None, typer.Option(help="Frames per second of the file")] = None,
    negative_prompt: Annotated[str, typer.Option(help="What guidance steers away from")] = "",
    sampler: Annotated[str | None, typer.Option(help="euler or heun")] = None,
    device: Annotated[str | None, typer.Option(help="cpu, cuda … (default: best)")] = None,
    expand: Annotated[
        bool, typer.Option(help="Rewrite the prompt in the detailed caption style first")
    ] = False,
    expander_model: Annotated[
        Path | None, typer.Option(help="Local causal LM folder that expands prompts")
    ] = None,
) -> None:
    """Generate a video (or, with --frames 1, an image) from a text prompt."""
    from tqdm import tqdm

    from kinema.data.video_io import check_output_path, write_video
    from kinema.model import load_model
    from kinema.pipeline import GenerationRequest, check_prompt
    from kinema.pipeline import generate as generate_video

    check_output_path(output)
    check_prompt(prompt)
    if expander_model is not None:
        from kinema.text.expansion import LocalLanguageModelExpander

        prompt = check_prompt(LocalLanguageModelExpander(expander_model)(prompt, seed))
        typer.echo(f"expanded prompt: {prompt}")
    elif expand:
        from kinema.text.expansion import expand_world_prompt

        prompt = expand_world_prompt(prompt, seed)
        typer.echo(f"expanded prompt: {prompt}")
    if fps is not None and fps < 1:
        raise KinemaError(f"fps must be at least 1, got {fps}")
    if checkpoint is None:
        raise KinemaError("no --checkpoint given: pass a checkpoint or a run folder")
    model = load_model(checkpoint, _device(device))
    request = GenerationRequest(
        prompt=prompt,
        seed=seed,
        steps=steps,
        guidance=guidance,
        frames=frames,
        height=height,
        width=width,
        negative_prompt=negative_prompt,
        sampler=sampler,
    )
    start = time.perf_counter()
    with tqdm(desc="sampling", unit="step", disable=None) as bar:

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        video = generate_video(model, request, progress)
    written = write_video(video, output, fps or model.config.fps)
    seconds = time.perf_counter() - start
    t, h, w, _ = video.shape
    where = written[0] if len(written) == 1 else f"{written[0]} … {written[-1].name}"
    typer.echo(f"wrote {where} ({t} frames, {w}x{h}) in {seconds:.1f}s")


@app.command()
def presets() -> None:
    """List the named training presets."""
    from kinema.presets import PRESETS

    for name, cfg in PRESETS.items():
        w = cfg.world
        typer.echo(f"{name:12s} {w.width}x{w.height}, {w.frames} frames at {w.fps} fps")


app.command(name="eval")(user_errors(evaluate))

data_app = typer.Typer(help="Your own clips: scan them, cache their latents.", no_args_is_help=True)
data_app.command(name="scan")(user_errors(data_commands.scan_command))
data_app.command(name="cache")(user_errors(data_commands.cache_command))
app.add_typer(data_app, name="data")


def main() -> None:
    app(prog_name="kinema")


if __name__ == "__main__":
    sys.exit(main())
