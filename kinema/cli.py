"""`kinema` command line: thin subcommands over the library."""

from __future__ import annotations

import functools
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from kinema import finetune_cli as finetune_commands
from kinema.data import cli as data_commands
from kinema.errors import KinemaError
from kinema.eval.cli import FactorizedOption, evaluate

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


def _ranks(device: str | None):
    """This process's place in a torchrun launch, joined; None for a plain process."""
    from kinema.distributed.runtime import launched_by_torchrun, start

    return start(device) if launched_by_torchrun() else None


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
    nproc: Annotated[
        int | None, typer.Option(help="Train on N ranks of this machine (starts torchrun)")
    ] = None,
    data_parallel: Annotated[
        str | None, typer.Option(help="Ranks: fsdp (shard weights) or ddp (replicate them)")
    ] = None,
    sequence_parallel: Annotated[
        int | None, typer.Option(help="Ranks: how many share each sample's tokens (Ulysses)")
    ] = None,
    grad_accumulation: Annotated[
        int | None, typer.Option(help="Ranks: micro-batches per rank per step")
    ] = None,
    activation_checkpointing: Annotated[
        bool | None, typer.Option(help="Ranks: recompute block activations in backward")
    ] = None,
    compile_blocks: Annotated[
        bool | None,
        typer.Option("--compile/--no-compile", help="torch.compile each block (also one process)"),
    ] = None,
    precision: Annotated[str | None, typer.Option(help="Ranks: auto, bf16 or fp32")] = None,
    autoencoder: Annotated[
        Path | None,
        typer.Option(help="Checkpoint or run whose trained autoencoder becomes stage 1"),
    ] = None,
    init: Annotated[
        Path | None,
        typer.Option(help="Checkpoint or run whose trained weights the run starts from"),
    ] = None,
    settings: Annotated[
        list[str] | None,
        typer.Option(
            "--set", help="Change a field of the preset: KEY=VALUE, e.g. transformer_stage.lr=4e-4"
        ),
    ] = None,
) -> None:
    """Train the autoencoder (stage 1), then the transformer on its latents (stage 2).

    With --autoencoder, a new run takes a trained autoencoder of the same config (a shipped
    model's, say) as its stage 1 and trains only the transformer. With --init, its
    transformer also starts from the given model's weights (a warm start: fresh optimiser,
    the run's own schedule). --set changes single fields of the preset, e.g.
    `--set transformer_stage.steps=30000 --set transformer_stage.lr=4e-4`.

    With --nproc N, or when started by torchrun, the run is trained across the ranks, and
    the options marked "Ranks" apply (see docs/distributed.md).
    """
    from dataclasses import replace

    from kinema.distributed.runtime import launched_by_torchrun
    from kinema.presets import get_preset
    from kinema.train import prepare_run
    from kinema.train import train as run_training

    parallel = {
        "data_parallel": data_parallel,
        "sequence_parallel": sequence_parallel,
        "grad_accumulation": grad_accumulation,
        "activation_checkpointing": activation_checkpointing,
        "compile": compile_blocks,
        "precision": precision,
    }
    parallel = {key: value for key, value in parallel.items() if value is not None}
    ranks_only = [key for key in parallel if key != "compile"]
    if ranks_only and nproc is None and not launched_by_torchrun():
        raise KinemaError(
            f"--{ranks_only[0].replace('_', '-')} sets how ranks share the work: "
            "add --nproc N or start the run with torchrun"
        )
    cfg = get_preset(preset) if preset is not None else None
    if data is not None or images is not None:
        from kinema.data.cli import with_data

        cfg = with_data(cfg, data, images, image_ratio, cache, workers)
    if settings:
        if resume:
            raise KinemaError("--set changes a new run's config; a resumed run keeps its own")
        if cfg is None:
            raise KinemaError("--set changes a new run's preset: add --preset (runs keep theirs)")
        from kinema.overrides import with_overrides

        cfg = with_overrides(cfg, settings)
    if cfg is not None and parallel:
        cfg = replace(cfg, parallel=replace(cfg.parallel, **parallel))

    if autoencoder is not None and init is not None:
        raise KinemaError("--init already takes the autoencoder: give --autoencoder or --init")
    seed = init if init is not None else autoencoder
    if seed is not None:
        option = "--init" if init is not None else "--autoencoder"
        if resume:
            raise KinemaError(f"{option} starts a new run: resume it without {option}")
        if cfg is None:
            raise KinemaError(f"{option} needs --preset or --data: the run to start")
        if launched_by_torchrun():
            raise KinemaError(f"{option}: start the run with --nproc N, not under torchrun")
        from kinema.train import start_from_autoencoder, start_from_model

        start = start_from_model if init is not None else start_from_autoencoder
        typer.echo(f"started from '{seed}': {start(out, cfg, seed)}")
        resume = True  # the run now exists; what follows continues it

    if nproc is not None and not launched_by_torchrun():
        from kinema.distributed.launch import launch_training

        options = {
            "out": out,
            "preset": preset,
            "resume": resume,
            "device": device,
            "data": data,
            "images": images,
            "image_ratio": image_ratio if images is not None else None,
            "cache": cache or None,
            "workers": workers or None,
            "set": None if resume else settings,  # a seeded run already holds them
            **parallel,
        }
        code = launch_training(nproc, cfg, options)
        if code:
            raise typer.Exit(code)
        return

    def prepare():
        run_cfg = prepare_run(out, cfg, resume)
        if (data or images) and cfg is not None and resume and run_cfg.data != cfg.data:
            raise KinemaError(f"'{out}' was trained on other data; resume it without --data")
        if cfg is not None and resume and run_cfg.name != cfg.name:
            raise KinemaError(f"'{out}' is a '{run_cfg.name}' run, not '{cfg.name}'")
        return run_cfg

    runtime = _ranks(device)
    if runtime is not None:
        from kinema.distributed.mesh import check_parallel
        from kinema.distributed.train import train_on_ranks

        if cfg is not None:
            check_parallel(cfg, runtime.world_size)  # before a run folder is made
        run_cfg, final = train_on_ranks(out, prepare, runtime, parallel)
        if runtime.is_main:
            ranks = f"{runtime.world_size} rank{'s' if runtime.world_size > 1 else ''}"
            typer.echo(f"trained '{run_cfg.name}' on {ranks}: {final}")
        return
    run_cfg = prepare()
    if parallel:  # --compile: this launch only, as on ranks (a resumed run too)
        run_cfg = replace(run_cfg, parallel=replace(run_cfg.parallel, **parallel))
    final = run_training(out, run_cfg, _device(device))
    typer.echo(f"trained '{run_cfg.name}': {final}")


@app.command()
@user_errors
def generate(
    prompt: Annotated[str, typer.Argument(help="What the video shows")],
    checkpoint: Annotated[
        Path | None,
        typer.Option(help="Checkpoint or run folder, a run meaning its latest (default: shipped)"),
    ] = None,
    output: Annotated[Path, typer.Option("--output", "-o", help=".mp4, .gif or .png")] = Path(
        "kinema.mp4"
    ),
    seed: int = 0,
    steps: Annotated[int | None, typer.Option(help="Sampling steps (default: model's)")] = None,
    guidance: Annotated[float | None, typer.Option(help="Classifier-free guidance")] = None,
    frames: Annotated[
        int | None, typer.Option(help="Frame count, 1 + 4k (with --extend: frames to add)")
    ] = None,
    height: int | None = None,
    width: int | None = None,
    fps: Annotated[int | None, typer.Option(help="Frames per second of the file")] = None,
    negative_prompt: Annotated[str, typer.Option(help="What guidance steers away from")] = "",
    step_cache: Annotated[
        float,
        typer.Option(
            help="Reuse the transformer's last result while its input changes less "
            "than this in sum (0: off; 0.1–0.3 skips some steps)"
        ),
    ] = 0.0,
    sampler: Annotated[str | None, typer.Option(help="euler or heun")] = None,
    factorized: FactorizedOption = None,
    device: Annotated[str | None, typer.Option(help="cpu, cuda … (default: best)")] = None,
    low_memory: Annotated[
        bool,
        typer.Option(
            help="Decode one latent frame at a time; on an accelerator, keep the text "
            "encoder and autoencoder on the CPU except while they run"
        ),
    ] = False,
    expand: Annotated[
        bool, typer.Option(help="Rewrite the prompt in the detailed caption style first")
    ] = False,
    expander_model: Annotated[
        Path | None, typer.Option(help="Local causal LM folder that expands prompts")
    ] = None,
    image: Annotated[Path | None, typer.Option(help="Animate this image (first frame)")] = None,
    extend: Annotated[Path | None, typer.Option(help="Continue this video or image")] = None,
    direction: Annotated[str, typer.Option(help="--extend: forward or backward")] = "forward",
    loop: Annotated[bool, typer.Option(help="A video that plays seamlessly in a cycle")] = False,
    connect: Annotated[
        tuple[Path, Path] | None, typer.Option(help="A transition from video A to video B")
    ] = None,
    edit: Annotated[Path | None, typer.Option(help="Re-render this video under the prompt")] = None,
    strength: Annotated[
        float,
        typer.Option(help="--edit: flow time the edit starts from, (0-1]; higher changes more"),
    ] = 0.6,
    edit_method: Annotated[
        str,
        typer.Option(
            help="--edit: flowedit or invert, which keep what the prompt shares with "
            "--source-prompt, or sdedit (noise and redraw)"
        ),
    ] = "flowedit",
    source_prompt: Annotated[
        str, typer.Option(help="--edit with invert or flowedit: what the input video shows")
    ] = "",
    lora: Annotated[
        Path | None, typer.Option(help="LoRA adapter made on --checkpoint (kinema finetune)")
    ] = None,
) -> None:
    """Generate a video (or, with --frames 1, an image) from a text prompt.

    Modes: --image (image-to-video), --extend [--direction backward], --loop, --connect A B,
    --edit [--strength]. Inputs of another size are resized to cover the output and cropped.
    """
    from tqdm import tqdm

    from kinema.data.video_io import check_output_path, write_video
    from kinema.model import load_model
    from kinema.pipeline import GenerationRequest, check_prompt
    from kinema.pipeline import generate as generate_video
    from kinema.shipped import checkpoint_or_default

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
        checkpoint = checkpoint_or_default(None)
        typer.echo(f"using the shipped model {checkpoint} (--checkpoint picks another)")
    runtime = _ranks(device)  # under torchrun, one video's tokens are split over the ranks
    if runtime is not None and step_cache > 0:
        raise KinemaError(
            "--step-cache needs every token on one process: ranks splitting a video would "
            "skip different steps; leave it out under torchrun"
        )
    target = runtime.device if runtime is not None else _device(device)
    if lora is not None:
        from kinema.adapter import load_with_adapter

        model = load_with_adapter(checkpoint, lora, target)
    else:
        model = load_model(checkpoint, target)
    if low_memory:
        model.text_encoder.to("cpu")
        model.autoencoder.to("cpu")
    if runtime is not None:
        from kinema.distributed.sequence import split_over_ranks

        split_over_ranks(model.transformer)
    writes = runtime is None or runtime.is_main
    inputs = _mode_inputs(model, image, extend, connect, edit, height, width)
    request = GenerationRequest(
        prompt=prompt,
        seed=seed,
        steps=steps,
        guidance=guidance,
        frames=frames,
        height=height,
        width=width,
        negative_prompt=negative_prompt,
        step_cache=step_cache,
        low_memory=low_memory,
        sampler=sampler,
        factorized=factorized,
        direction=direction,
        loop=loop,
        strength=strength,
        edit_method=edit_method,
        source_prompt=source_prompt,
        **inputs,
    )
    start = time.perf_counter()
    with tqdm(desc="sampling", unit="step", disable=None if writes else True) as bar:

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        video = generate_video(model, request, progress)
    if not writes:
        return
    written = write_video(video, output, fps or model.config.fps)
    seconds = time.perf_counter() - start
    t, h, w, _ = video.shape
    where = written[0] if len(written) == 1 else f"{written[0]} … {written[-1].name}"
    typer.echo(f"wrote {where} ({t} frames, {w}x{h}) in {seconds:.1f}s")


def _mode_inputs(
    model: Any,  # KinemaModel; torch is imported only by commands that need it
    image: Path | None,
    extend: Path | None,
    connect: tuple[Path, Path] | None,
    edit: Path | None,
    height: int | None,
    width: int | None,
) -> dict[str, Any]:
    """Read the mode's input files at the model's frame rate; say when one is resized."""
    from kinema.inputs import read_frames, resize_notice

    fps = model.config.fps
    size = (height or model.config.height, width or model.config.width)
    named = {"image": image, "extend": extend, "edit": edit}
    named.update({"connect A": connect[0], "connect B": connect[1]} if connect else {})
    read = {}
    for name, path in named.items():
        if path is not None:
            read[name] = read_frames(path, fps)
            notice = resize_notice(f"--{name} {path}", read[name], *size)
            if notice:
                typer.echo(notice)
    inputs = {key: read.get(key) for key in ("extend", "edit")}
    inputs["image"] = read["image"][0] if "image" in read else None
    inputs["connect"] = (read["connect A"], read["connect B"]) if connect else None
    return inputs


@app.command()
@user_errors
def export(
    checkpoint: Annotated[Path, typer.Option(help="Checkpoint or run folder (its latest)")],
    out: Annotated[Path, typer.Option("--out", help="Folder to write, e.g. checkpoints/NAME")],
    dtype: Annotated[str, typer.Option(help="float16, bfloat16 or float32")] = "float16",
    sample_steps: Annotated[
        int | None, typer.Option(help="Default sampling steps of generation (default: kept)")
    ] = None,
) -> None:
    """Write a checkpoint for shipping: config and weights only, cast to --dtype."""
    from kinema.shipped import describe_sizes, export_checkpoint

    sizes = export_checkpoint(checkpoint, out, dtype, sample_steps)
    typer.echo(f"exported to {out}: {describe_sizes(sizes)}")


@app.command()
def presets() -> None:
    """List the named training presets."""
    from kinema.presets import PRESETS

    for name, cfg in PRESETS.items():
        w = cfg.world
        typer.echo(f"{name:12s} {w.width}x{w.height}, {w.frames} frames at {w.fps} fps")


@app.command()
@user_errors
def serve(
    host: Annotated[str, typer.Option(help="Address to bind; beyond loopback needs a key")] = (
        "127.0.0.1"
    ),
    port: int = 8000,
    checkpoint: Annotated[
        Path | None,
        typer.Option(help="Checkpoint or run folder (default: the shipped model)"),
    ] = None,
    db: Annotated[
        str | None, typer.Option(help="SQLAlchemy URL of the job store (default: SQLite file)")
    ] = None,
    api_key: Annotated[
        str | None,
        typer.Option(envvar="KINEMA_API_KEY", help="Bearer key clients must send"),
    ] = None,
    data_dir: Annotated[Path, typer.Option(help="Job store and video files")] = Path("kinema-data"),
    device: Annotated[str | None, typer.Option(help="cpu, cuda … (default: best)")] = None,
    max_queue: Annotated[int, typer.Option(help="Queued + running jobs accepted")] = 32,
    max_steps: Annotated[int, typer.Option(help="Most sampling steps a request may ask")] = 200,
) -> None:
    """Serve the model: OpenAI's Videos API under /v1 and a web studio at /."""
    try:
        from kinema.server.serve import serve as run_server
    except ImportError as error:
        raise KinemaError(
            f"the server needs its extra ({error.name} is missing): pip install 'kinema[server]'"
        ) from None
    from kinema.server import Limits, ServerConfig
    from kinema.shipped import checkpoint_or_default

    limits = Limits(max_queue=max_queue, max_steps=max_steps)
    config = ServerConfig(
        checkpoint=checkpoint_or_default(checkpoint),
        host=host,
        port=port,
        data_dir=data_dir,
        db_url=db,
        api_key=api_key or None,
        device=device,
        limits=limits,
    )
    run_server(config)


app.command(name="eval")(user_errors(evaluate))

data_app = typer.Typer(help="Your own clips: scan them, cache their latents.", no_args_is_help=True)
data_app.command(name="scan")(user_errors(data_commands.scan_command))
data_app.command(name="cache")(user_errors(data_commands.cache_command))
app.add_typer(data_app, name="data")

app.command(name="finetune")(user_errors(finetune_commands.finetune_command))
lora_app = typer.Typer(help="LoRA adapters from `kinema finetune`.", no_args_is_help=True)
lora_app.command(name="merge")(user_errors(finetune_commands.lora_merge_command))
app.add_typer(lora_app, name="lora")


def main() -> None:
    app(prog_name="kinema")


if __name__ == "__main__":
    sys.exit(main())
