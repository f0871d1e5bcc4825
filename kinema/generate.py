"""`python -m kinema.generate PROMPT --checkpoint RUN -o OUT`, the same as `kinema generate`.

Under torchrun (`torchrun --nproc_per_node=N -m kinema.generate …`) one video's tokens are
split across the ranks (Ulysses sequence parallelism) and rank 0 writes the file; the frames
are those one process makes, within float tolerance.
"""

import typer

from kinema.cli import generate


def main() -> None:
    typer.run(generate)


if __name__ == "__main__":
    main()
