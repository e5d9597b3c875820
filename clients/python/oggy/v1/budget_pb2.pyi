import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from oggy.v1 import scope_pb2 as _scope_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Budget(_message.Message):
    __slots__ = ("name", "scope", "counted_per", "amount_micro_usd", "period", "enforcement", "threshold_percents", "description", "create_time", "update_time", "etag")
    class Period(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        PERIOD_UNSPECIFIED: _ClassVar[Budget.Period]
        PERIOD_DAY: _ClassVar[Budget.Period]
        PERIOD_WEEK: _ClassVar[Budget.Period]
        PERIOD_MONTH: _ClassVar[Budget.Period]
        PERIOD_TOTAL: _ClassVar[Budget.Period]
    PERIOD_UNSPECIFIED: Budget.Period
    PERIOD_DAY: Budget.Period
    PERIOD_WEEK: Budget.Period
    PERIOD_MONTH: Budget.Period
    PERIOD_TOTAL: Budget.Period
    class Enforcement(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        ENFORCEMENT_UNSPECIFIED: _ClassVar[Budget.Enforcement]
        ENFORCEMENT_HARD: _ClassVar[Budget.Enforcement]
        ENFORCEMENT_SOFT: _ClassVar[Budget.Enforcement]
        ENFORCEMENT_SHADOW: _ClassVar[Budget.Enforcement]
    ENFORCEMENT_UNSPECIFIED: Budget.Enforcement
    ENFORCEMENT_HARD: Budget.Enforcement
    ENFORCEMENT_SOFT: Budget.Enforcement
    ENFORCEMENT_SHADOW: Budget.Enforcement
    NAME_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    COUNTED_PER_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_MICRO_USD_FIELD_NUMBER: _ClassVar[int]
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    ENFORCEMENT_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_PERCENTS_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    name: str
    scope: _scope_pb2.Scope
    counted_per: _scope_pb2.CountedPer
    amount_micro_usd: int
    period: Budget.Period
    enforcement: Budget.Enforcement
    threshold_percents: _containers.RepeatedScalarFieldContainer[int]
    description: str
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    etag: str
    def __init__(self, name: _Optional[str] = ..., scope: _Optional[_Union[_scope_pb2.Scope, _Mapping]] = ..., counted_per: _Optional[_Union[_scope_pb2.CountedPer, str]] = ..., amount_micro_usd: _Optional[int] = ..., period: _Optional[_Union[Budget.Period, str]] = ..., enforcement: _Optional[_Union[Budget.Enforcement, str]] = ..., threshold_percents: _Optional[_Iterable[int]] = ..., description: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., etag: _Optional[str] = ...) -> None: ...

class BudgetStatus(_message.Message):
    __slots__ = ("budget", "member", "amount_micro_usd", "spent_micro_usd", "reserved_micro_usd", "remaining_micro_usd", "percent", "period_start", "reset_time", "exhausted", "crossings")
    BUDGET_FIELD_NUMBER: _ClassVar[int]
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_MICRO_USD_FIELD_NUMBER: _ClassVar[int]
    SPENT_MICRO_USD_FIELD_NUMBER: _ClassVar[int]
    RESERVED_MICRO_USD_FIELD_NUMBER: _ClassVar[int]
    REMAINING_MICRO_USD_FIELD_NUMBER: _ClassVar[int]
    PERCENT_FIELD_NUMBER: _ClassVar[int]
    PERIOD_START_FIELD_NUMBER: _ClassVar[int]
    RESET_TIME_FIELD_NUMBER: _ClassVar[int]
    EXHAUSTED_FIELD_NUMBER: _ClassVar[int]
    CROSSINGS_FIELD_NUMBER: _ClassVar[int]
    budget: str
    member: str
    amount_micro_usd: int
    spent_micro_usd: int
    reserved_micro_usd: int
    remaining_micro_usd: int
    percent: float
    period_start: _timestamp_pb2.Timestamp
    reset_time: _timestamp_pb2.Timestamp
    exhausted: bool
    crossings: _containers.RepeatedCompositeFieldContainer[BudgetCrossing]
    def __init__(self, budget: _Optional[str] = ..., member: _Optional[str] = ..., amount_micro_usd: _Optional[int] = ..., spent_micro_usd: _Optional[int] = ..., reserved_micro_usd: _Optional[int] = ..., remaining_micro_usd: _Optional[int] = ..., percent: _Optional[float] = ..., period_start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., reset_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., exhausted: _Optional[bool] = ..., crossings: _Optional[_Iterable[_Union[BudgetCrossing, _Mapping]]] = ...) -> None: ...

class BudgetCrossing(_message.Message):
    __slots__ = ("name", "budget", "member", "threshold_percent", "period_start", "cross_time", "spent_micro_usd", "amount_micro_usd")
    NAME_FIELD_NUMBER: _ClassVar[int]
    BUDGET_FIELD_NUMBER: _ClassVar[int]
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_PERCENT_FIELD_NUMBER: _ClassVar[int]
    PERIOD_START_FIELD_NUMBER: _ClassVar[int]
    CROSS_TIME_FIELD_NUMBER: _ClassVar[int]
    SPENT_MICRO_USD_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_MICRO_USD_FIELD_NUMBER: _ClassVar[int]
    name: str
    budget: str
    member: str
    threshold_percent: int
    period_start: _timestamp_pb2.Timestamp
    cross_time: _timestamp_pb2.Timestamp
    spent_micro_usd: int
    amount_micro_usd: int
    def __init__(self, name: _Optional[str] = ..., budget: _Optional[str] = ..., member: _Optional[str] = ..., threshold_percent: _Optional[int] = ..., period_start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., cross_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., spent_micro_usd: _Optional[int] = ..., amount_micro_usd: _Optional[int] = ...) -> None: ...
