"""The one exception type user-facing code catches to print a clear message."""


class InputError(ValueError):
    """Bad input: the message names the problem and what to do about it."""
