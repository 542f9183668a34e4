from collections.abc import Sequence
from typing import Any

KVPair = tuple[bytes, bytes]

class Kernel:
    def __init__(self, plan: tuple[Any, ...]) -> None: ...
    def encode(
        self,
        rows: Sequence[Sequence[Any]],
        steps: tuple[tuple[Any, ...], ...],
        defaults: list[Any],
        first_row_id: int,
        /,
    ) -> tuple[list[KVPair], int, int, int]: ...

def crc64(data: bytes, crc: int = 0, /) -> int: ...
