"""User-facing errors: one line that names the rule that was broken."""


class KinemaError(ValueError):
    """Bad input from a user (a prompt, a size, a path). The CLI prints it without a traceback."""
