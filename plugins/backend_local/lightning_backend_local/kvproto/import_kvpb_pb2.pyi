from lightning_backend_local.kvproto import import_sstpb_pb2 as _import_sstpb_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SwitchModeRequest(_message.Message):
    __slots__ = ("pd_addr", "request")
    PD_ADDR_FIELD_NUMBER: _ClassVar[int]
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    pd_addr: str
    request: _import_sstpb_pb2.SwitchModeRequest
    def __init__(self, pd_addr: _Optional[str] = ..., request: _Optional[_Union[_import_sstpb_pb2.SwitchModeRequest, _Mapping]] = ...) -> None: ...

class SwitchModeResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class OpenEngineRequest(_message.Message):
    __slots__ = ("uuid", "key_prefix")
    UUID_FIELD_NUMBER: _ClassVar[int]
    KEY_PREFIX_FIELD_NUMBER: _ClassVar[int]
    uuid: bytes
    key_prefix: bytes
    def __init__(self, uuid: _Optional[bytes] = ..., key_prefix: _Optional[bytes] = ...) -> None: ...

class OpenEngineResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class WriteHead(_message.Message):
    __slots__ = ("uuid",)
    UUID_FIELD_NUMBER: _ClassVar[int]
    uuid: bytes
    def __init__(self, uuid: _Optional[bytes] = ...) -> None: ...

class Mutation(_message.Message):
    __slots__ = ("op", "key", "value")
    class OP(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        Put: _ClassVar[Mutation.OP]
    Put: Mutation.OP
    OP_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    op: Mutation.OP
    key: bytes
    value: bytes
    def __init__(self, op: _Optional[_Union[Mutation.OP, str]] = ..., key: _Optional[bytes] = ..., value: _Optional[bytes] = ...) -> None: ...

class WriteBatch(_message.Message):
    __slots__ = ("commit_ts", "mutations")
    COMMIT_TS_FIELD_NUMBER: _ClassVar[int]
    MUTATIONS_FIELD_NUMBER: _ClassVar[int]
    commit_ts: int
    mutations: _containers.RepeatedCompositeFieldContainer[Mutation]
    def __init__(self, commit_ts: _Optional[int] = ..., mutations: _Optional[_Iterable[_Union[Mutation, _Mapping]]] = ...) -> None: ...

class WriteEngineRequest(_message.Message):
    __slots__ = ("head", "batch")
    HEAD_FIELD_NUMBER: _ClassVar[int]
    BATCH_FIELD_NUMBER: _ClassVar[int]
    head: WriteHead
    batch: WriteBatch
    def __init__(self, head: _Optional[_Union[WriteHead, _Mapping]] = ..., batch: _Optional[_Union[WriteBatch, _Mapping]] = ...) -> None: ...

class KVPair(_message.Message):
    __slots__ = ("key", "value")
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    value: bytes
    def __init__(self, key: _Optional[bytes] = ..., value: _Optional[bytes] = ...) -> None: ...

class WriteEngineV3Request(_message.Message):
    __slots__ = ("uuid", "commit_ts", "pairs")
    UUID_FIELD_NUMBER: _ClassVar[int]
    COMMIT_TS_FIELD_NUMBER: _ClassVar[int]
    PAIRS_FIELD_NUMBER: _ClassVar[int]
    uuid: bytes
    commit_ts: int
    pairs: _containers.RepeatedCompositeFieldContainer[KVPair]
    def __init__(self, uuid: _Optional[bytes] = ..., commit_ts: _Optional[int] = ..., pairs: _Optional[_Iterable[_Union[KVPair, _Mapping]]] = ...) -> None: ...

class WriteEngineResponse(_message.Message):
    __slots__ = ("error",)
    ERROR_FIELD_NUMBER: _ClassVar[int]
    error: Error
    def __init__(self, error: _Optional[_Union[Error, _Mapping]] = ...) -> None: ...

class CloseEngineRequest(_message.Message):
    __slots__ = ("uuid",)
    UUID_FIELD_NUMBER: _ClassVar[int]
    uuid: bytes
    def __init__(self, uuid: _Optional[bytes] = ...) -> None: ...

class CloseEngineResponse(_message.Message):
    __slots__ = ("error",)
    ERROR_FIELD_NUMBER: _ClassVar[int]
    error: Error
    def __init__(self, error: _Optional[_Union[Error, _Mapping]] = ...) -> None: ...

class ImportEngineRequest(_message.Message):
    __slots__ = ("uuid", "pd_addr")
    UUID_FIELD_NUMBER: _ClassVar[int]
    PD_ADDR_FIELD_NUMBER: _ClassVar[int]
    uuid: bytes
    pd_addr: str
    def __init__(self, uuid: _Optional[bytes] = ..., pd_addr: _Optional[str] = ...) -> None: ...

class ImportEngineResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class CleanupEngineRequest(_message.Message):
    __slots__ = ("uuid",)
    UUID_FIELD_NUMBER: _ClassVar[int]
    uuid: bytes
    def __init__(self, uuid: _Optional[bytes] = ...) -> None: ...

class CleanupEngineResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class CompactClusterRequest(_message.Message):
    __slots__ = ("pd_addr", "request")
    PD_ADDR_FIELD_NUMBER: _ClassVar[int]
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    pd_addr: str
    request: _import_sstpb_pb2.CompactRequest
    def __init__(self, pd_addr: _Optional[str] = ..., request: _Optional[_Union[_import_sstpb_pb2.CompactRequest, _Mapping]] = ...) -> None: ...

class CompactClusterResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetVersionRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetVersionResponse(_message.Message):
    __slots__ = ("version", "commit")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    COMMIT_FIELD_NUMBER: _ClassVar[int]
    version: str
    commit: str
    def __init__(self, version: _Optional[str] = ..., commit: _Optional[str] = ...) -> None: ...

class GetMetricsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetMetricsResponse(_message.Message):
    __slots__ = ("prometheus",)
    PROMETHEUS_FIELD_NUMBER: _ClassVar[int]
    prometheus: str
    def __init__(self, prometheus: _Optional[str] = ...) -> None: ...

class Error(_message.Message):
    __slots__ = ("engine_not_found",)
    class EngineNotFound(_message.Message):
        __slots__ = ("uuid",)
        UUID_FIELD_NUMBER: _ClassVar[int]
        uuid: bytes
        def __init__(self, uuid: _Optional[bytes] = ...) -> None: ...
    ENGINE_NOT_FOUND_FIELD_NUMBER: _ClassVar[int]
    engine_not_found: Error.EngineNotFound
    def __init__(self, engine_not_found: _Optional[_Union[Error.EngineNotFound, _Mapping]] = ...) -> None: ...
