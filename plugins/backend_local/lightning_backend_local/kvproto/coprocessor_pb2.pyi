from lightning_backend_local.kvproto import errorpb_pb2 as _errorpb_pb2
from lightning_backend_local.kvproto import kvrpcpb_pb2 as _kvrpcpb_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class KeyRange(_message.Message):
    __slots__ = ("start", "end")
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    start: bytes
    end: bytes
    def __init__(self, start: _Optional[bytes] = ..., end: _Optional[bytes] = ...) -> None: ...

class Request(_message.Message):
    __slots__ = ("context", "tp", "data", "ranges", "is_cache_enabled", "cache_if_match_version", "start_ts", "schema_ver", "is_trace_enabled", "paging_size")
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    TP_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    RANGES_FIELD_NUMBER: _ClassVar[int]
    IS_CACHE_ENABLED_FIELD_NUMBER: _ClassVar[int]
    CACHE_IF_MATCH_VERSION_FIELD_NUMBER: _ClassVar[int]
    START_TS_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_VER_FIELD_NUMBER: _ClassVar[int]
    IS_TRACE_ENABLED_FIELD_NUMBER: _ClassVar[int]
    PAGING_SIZE_FIELD_NUMBER: _ClassVar[int]
    context: _kvrpcpb_pb2.Context
    tp: int
    data: bytes
    ranges: _containers.RepeatedCompositeFieldContainer[KeyRange]
    is_cache_enabled: bool
    cache_if_match_version: int
    start_ts: int
    schema_ver: int
    is_trace_enabled: bool
    paging_size: int
    def __init__(self, context: _Optional[_Union[_kvrpcpb_pb2.Context, _Mapping]] = ..., tp: _Optional[int] = ..., data: _Optional[bytes] = ..., ranges: _Optional[_Iterable[_Union[KeyRange, _Mapping]]] = ..., is_cache_enabled: _Optional[bool] = ..., cache_if_match_version: _Optional[int] = ..., start_ts: _Optional[int] = ..., schema_ver: _Optional[int] = ..., is_trace_enabled: _Optional[bool] = ..., paging_size: _Optional[int] = ...) -> None: ...

class Response(_message.Message):
    __slots__ = ("data", "region_error", "other_error", "range", "is_cache_hit", "cache_last_version", "can_be_cached", "latest_buckets_version")
    DATA_FIELD_NUMBER: _ClassVar[int]
    REGION_ERROR_FIELD_NUMBER: _ClassVar[int]
    OTHER_ERROR_FIELD_NUMBER: _ClassVar[int]
    RANGE_FIELD_NUMBER: _ClassVar[int]
    IS_CACHE_HIT_FIELD_NUMBER: _ClassVar[int]
    CACHE_LAST_VERSION_FIELD_NUMBER: _ClassVar[int]
    CAN_BE_CACHED_FIELD_NUMBER: _ClassVar[int]
    LATEST_BUCKETS_VERSION_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    region_error: _errorpb_pb2.Error
    other_error: str
    range: KeyRange
    is_cache_hit: bool
    cache_last_version: int
    can_be_cached: bool
    latest_buckets_version: int
    def __init__(self, data: _Optional[bytes] = ..., region_error: _Optional[_Union[_errorpb_pb2.Error, _Mapping]] = ..., other_error: _Optional[str] = ..., range: _Optional[_Union[KeyRange, _Mapping]] = ..., is_cache_hit: _Optional[bool] = ..., cache_last_version: _Optional[int] = ..., can_be_cached: _Optional[bool] = ..., latest_buckets_version: _Optional[int] = ...) -> None: ...
