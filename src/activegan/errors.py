"""Errors the library raises for input a user can fix. Both are ``ValueError``s.

The library names its own parameters (``query_size``), never command-line flags; only
``activegan.cli`` turns these into one line on stderr, exit code 2, with the flag's name.
"""


class ConfigError(ValueError):
    """A parameter whose value cannot work: ``param`` is its name in the library (``query_size``,
    ``gan.candidates``); the message says what was expected and what was given."""

    def __init__(self, param: str, message: str):
        super().__init__(f"{param}: {message}")
        self.param = param
        self.message = message

    def __reduce__(self):  # rebuilt from both arguments when it crosses a process boundary
        return type(self), (self.param, self.message)


class DataError(ValueError):
    """A file the user gave cannot be used: missing, corrupt, truncated, of the wrong layout or
    kind (a dataset, a checkpoint, a resume state). The message is one line that names the file."""

