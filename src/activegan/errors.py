"""The one exception type that reaches the user as a single line and exit code 2."""


class UsageError(Exception):
    """Bad input from the user: a missing file, a corrupt dataset, an unknown name.

    The CLI prints ``activegan: error: <message>`` and exits with code 2; the message must
    be one line that names the problem (the file, the argument, what was expected).
    """
