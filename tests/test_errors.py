"""Errors survive the trip from a worker process to the main one (pickle)."""

from __future__ import annotations

import pickle

from lightning_core.errors import DuplicateKeyError, SourceError
from lightning_core.schema.convert import ConversionError


def test_errors_round_trip_through_pickle() -> None:
    for error in (
        SourceError("/d/t.sql", 12, "expected ','", b"(1 2)"),
        ConversionError("c", b"x" * 100, "too long"),
        DuplicateKeyError("dup"),
    ):
        again = pickle.loads(pickle.dumps(error))
        assert type(again) is type(error)
        assert str(again) == str(error)
