"""Errors a user can act on: each message names the file, line or config key at fault."""


class RecgError(Exception):
    """Base class for errors caused by user input rather than by a bug."""


class InputError(RecgError):
    """A raw input file is unreadable, malformed or lacks a required field."""


class ConfigError(RecgError):
    """The configuration has an unknown key, a wrong value or names a missing file."""


class EmptyDomainError(RecgError):
    """Filtering removed every interaction of a domain."""


class OutputError(RecgError):
    """An output cannot be written (unwritable folder, full disk): nothing partial is left."""
