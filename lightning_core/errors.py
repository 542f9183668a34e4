"""The one error hierarchy: every failure a user can act on is a ``LightningError``."""

from __future__ import annotations


class LightningError(Exception):
    """Base of every error the tool reports to a user.

    The message says what failed, where (file:offset, table or config key) and what to do next;
    the CLI prints it as one line and exits non-zero.
    """


class ConfigError(LightningError):
    """The configuration (file, flags or a plugin's options) is invalid."""


class PluginError(LightningError):
    """A plugin failed to load, or a component name is unknown or registered twice."""


class SourceError(LightningError):
    """A source file is malformed or unreadable.

    :param path: the file.
    :param offset: byte offset in the (decompressed) file where the problem starts.
    :param message: what is wrong.
    :param excerpt: a short piece of the input at ``offset``.
    """

    def __init__(self, path: str, offset: int, message: str, excerpt: bytes | str = b"") -> None:
        self.path = path
        self.offset = offset
        self.excerpt = excerpt
        shown = excerpt.decode("utf-8", "replace") if isinstance(excerpt, bytes) else excerpt
        text = f"{path}:{offset}: {message}"
        if shown:
            text += f" near {shown[:60]!r}"
        self.message = message
        super().__init__(text)

    def __reduce__(self) -> tuple[object, ...]:
        # errors cross from worker processes to the main one by pickle
        return (type(self), (self.path, self.offset, self.message, self.excerpt))


class SchemaError(LightningError):
    """A table definition cannot be understood or does not match the data."""


class EncodeError(LightningError):
    """A row cannot be encoded for the target (bad value for a column, strict SQL mode)."""


class TargetError(LightningError):
    """The target server refused or failed an operation after all retries."""


class DuplicateKeyError(TargetError):
    """``on-duplicate = "error"`` and a row collides with an existing key."""


class CheckpointError(LightningError):
    """The checkpoint store is unreadable or does not match this task."""


class ImportInterrupted(LightningError):
    """The run was stopped (Ctrl-C or a signal); its checkpoints let the next run resume."""
