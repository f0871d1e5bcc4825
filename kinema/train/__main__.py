"""`python -m kinema.train …`, the same command as `kinema train`.

Under torchrun (`torchrun --nproc_per_node=N -m kinema.train --preset NAME --out DIR`) every
rank runs it and the run is trained across them; see docs/distributed.md.
"""

import typer

from kinema.cli import train


def main() -> None:
    typer.run(train)


if __name__ == "__main__":
    main()
