"""`kinema train --nproc N`: start torchrun on this machine with N ranks of `kinema.train`."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

from kinema.config import TrainConfig
from kinema.distributed.mesh import check_parallel
from kinema.errors import KinemaError


def launch_training(nproc: int, cfg: TrainConfig | None, options: dict[str, Any]) -> int:
    """Check what can be checked here, then train on `nproc` local ranks with `options`
    (`kinema train`'s, by parameter name). Returns torchrun's exit code."""
    if nproc < 1:
        raise KinemaError(f"--nproc must be at least 1, got {nproc}")
    if cfg is not None:
        check_parallel(cfg, nproc)  # a resumed run's stored config is checked by the ranks
    return run_torchrun(nproc, "kinema.train", command_line(options))


def command_line(options: dict[str, Any]) -> list[str]:
    """Options as a Typer command reads them: a flag for True, `--no-flag` for an explicit
    False, nothing for None, the option once per item of a list."""
    arguments: list[str] = []
    for name, value in options.items():
        flag = name.replace("_", "-")
        if value is True:
            arguments.append(f"--{flag}")
        elif value is False:
            arguments.append(f"--no-{flag}")
        elif isinstance(value, list):
            for item in value:
                arguments += [f"--{flag}", str(item)]
        elif value is not None:
            arguments += [f"--{flag}", str(value)]
    return arguments


def run_torchrun(nproc: int, module: str, arguments: list[str]) -> int:
    """Run `python -m module arguments…` on `nproc` local ranks; returns torchrun's exit code.

    `--standalone` picks a free local rendezvous port, so launches never collide.
    """
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={nproc}",
        "-m",
        module,
        *arguments,
    ]
    return subprocess.run(command, check=False).returncode
