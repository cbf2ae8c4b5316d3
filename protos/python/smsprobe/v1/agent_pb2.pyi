from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Registration(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REGISTRATION_UNKNOWN: _ClassVar[Registration]
    REGISTRATION_NOT_REGISTERED: _ClassVar[Registration]
    REGISTRATION_HOME: _ClassVar[Registration]
    REGISTRATION_SEARCHING: _ClassVar[Registration]
    REGISTRATION_DENIED: _ClassVar[Registration]
    REGISTRATION_ROAMING: _ClassVar[Registration]
REGISTRATION_UNKNOWN: Registration
REGISTRATION_NOT_REGISTERED: Registration
REGISTRATION_HOME: Registration
REGISTRATION_SEARCHING: Registration
REGISTRATION_DENIED: Registration
REGISTRATION_ROAMING: Registration

class Sim(_message.Message):
    __slots__ = ("iccid", "imsi", "msisdn", "operator_mcc_mnc", "carrier", "mvno", "registered_mcc_mnc")
    ICCID_FIELD_NUMBER: _ClassVar[int]
    IMSI_FIELD_NUMBER: _ClassVar[int]
    MSISDN_FIELD_NUMBER: _ClassVar[int]
    OPERATOR_MCC_MNC_FIELD_NUMBER: _ClassVar[int]
    CARRIER_FIELD_NUMBER: _ClassVar[int]
    MVNO_FIELD_NUMBER: _ClassVar[int]
    REGISTERED_MCC_MNC_FIELD_NUMBER: _ClassVar[int]
    iccid: str
    imsi: str
    msisdn: str
    operator_mcc_mnc: str
    carrier: str
    mvno: str
    registered_mcc_mnc: str
    def __init__(self, iccid: _Optional[str] = ..., imsi: _Optional[str] = ..., msisdn: _Optional[str] = ..., operator_mcc_mnc: _Optional[str] = ..., carrier: _Optional[str] = ..., mvno: _Optional[str] = ..., registered_mcc_mnc: _Optional[str] = ...) -> None: ...

class Modem(_message.Message):
    __slots__ = ("imei", "manufacturer", "model", "firmware", "port", "profile", "sim")
    IMEI_FIELD_NUMBER: _ClassVar[int]
    MANUFACTURER_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    FIRMWARE_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    SIM_FIELD_NUMBER: _ClassVar[int]
    imei: str
    manufacturer: str
    model: str
    firmware: str
    port: str
    profile: str
    sim: Sim
    def __init__(self, imei: _Optional[str] = ..., manufacturer: _Optional[str] = ..., model: _Optional[str] = ..., firmware: _Optional[str] = ..., port: _Optional[str] = ..., profile: _Optional[str] = ..., sim: _Optional[_Union[Sim, _Mapping]] = ...) -> None: ...

class RegisterRequest(_message.Message):
    __slots__ = ("agent_id", "software_version", "capabilities", "site", "region", "modems", "agent_time_ns", "last_seq")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    SOFTWARE_VERSION_FIELD_NUMBER: _ClassVar[int]
    CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    SITE_FIELD_NUMBER: _ClassVar[int]
    REGION_FIELD_NUMBER: _ClassVar[int]
    MODEMS_FIELD_NUMBER: _ClassVar[int]
    AGENT_TIME_NS_FIELD_NUMBER: _ClassVar[int]
    LAST_SEQ_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    software_version: str
    capabilities: _containers.RepeatedScalarFieldContainer[str]
    site: str
    region: str
    modems: _containers.RepeatedCompositeFieldContainer[Modem]
    agent_time_ns: int
    last_seq: int
    def __init__(self, agent_id: _Optional[str] = ..., software_version: _Optional[str] = ..., capabilities: _Optional[_Iterable[str]] = ..., site: _Optional[str] = ..., region: _Optional[str] = ..., modems: _Optional[_Iterable[_Union[Modem, _Mapping]]] = ..., agent_time_ns: _Optional[int] = ..., last_seq: _Optional[int] = ...) -> None: ...

class RegisterResponse(_message.Message):
    __slots__ = ("session_id", "collector_time_ns", "committed_seq", "config_version")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    COLLECTOR_TIME_NS_FIELD_NUMBER: _ClassVar[int]
    COMMITTED_SEQ_FIELD_NUMBER: _ClassVar[int]
    CONFIG_VERSION_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    collector_time_ns: int
    committed_seq: int
    config_version: int
    def __init__(self, session_id: _Optional[str] = ..., collector_time_ns: _Optional[int] = ..., committed_seq: _Optional[int] = ..., config_version: _Optional[int] = ...) -> None: ...

class ClockRequest(_message.Message):
    __slots__ = ("agent_id", "t1_ns")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    T1_NS_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    t1_ns: int
    def __init__(self, agent_id: _Optional[str] = ..., t1_ns: _Optional[int] = ...) -> None: ...

class ClockResponse(_message.Message):
    __slots__ = ("t1_ns", "t2_ns", "t3_ns")
    T1_NS_FIELD_NUMBER: _ClassVar[int]
    T2_NS_FIELD_NUMBER: _ClassVar[int]
    T3_NS_FIELD_NUMBER: _ClassVar[int]
    t1_ns: int
    t2_ns: int
    t3_ns: int
    def __init__(self, t1_ns: _Optional[int] = ..., t2_ns: _Optional[int] = ..., t3_ns: _Optional[int] = ...) -> None: ...

class ClockEstimate(_message.Message):
    __slots__ = ("offset_ms", "uncertainty_ms", "measured_at_ns")
    OFFSET_MS_FIELD_NUMBER: _ClassVar[int]
    UNCERTAINTY_MS_FIELD_NUMBER: _ClassVar[int]
    MEASURED_AT_NS_FIELD_NUMBER: _ClassVar[int]
    offset_ms: float
    uncertainty_ms: float
    measured_at_ns: int
    def __init__(self, offset_ms: _Optional[float] = ..., uncertainty_ms: _Optional[float] = ..., measured_at_ns: _Optional[int] = ...) -> None: ...

class SmsPart(_message.Message):
    __slots__ = ("uuid", "raw_pdu", "storage", "index", "received_at_ns", "scts_ns", "scts_tz_minutes", "part_seq", "decode_error")
    UUID_FIELD_NUMBER: _ClassVar[int]
    RAW_PDU_FIELD_NUMBER: _ClassVar[int]
    STORAGE_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    RECEIVED_AT_NS_FIELD_NUMBER: _ClassVar[int]
    SCTS_NS_FIELD_NUMBER: _ClassVar[int]
    SCTS_TZ_MINUTES_FIELD_NUMBER: _ClassVar[int]
    PART_SEQ_FIELD_NUMBER: _ClassVar[int]
    DECODE_ERROR_FIELD_NUMBER: _ClassVar[int]
    uuid: str
    raw_pdu: bytes
    storage: str
    index: int
    received_at_ns: int
    scts_ns: int
    scts_tz_minutes: int
    part_seq: int
    decode_error: str
    def __init__(self, uuid: _Optional[str] = ..., raw_pdu: _Optional[bytes] = ..., storage: _Optional[str] = ..., index: _Optional[int] = ..., received_at_ns: _Optional[int] = ..., scts_ns: _Optional[int] = ..., scts_tz_minutes: _Optional[int] = ..., part_seq: _Optional[int] = ..., decode_error: _Optional[str] = ...) -> None: ...

class ReceivedSms(_message.Message):
    __slots__ = ("smsc", "sender", "sender_ton", "text", "encoding", "message_class", "pid", "dcs", "concat_ref", "concat_total", "partial", "missing_parts", "parts", "undecodable", "user_data")
    SMSC_FIELD_NUMBER: _ClassVar[int]
    SENDER_FIELD_NUMBER: _ClassVar[int]
    SENDER_TON_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    ENCODING_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_CLASS_FIELD_NUMBER: _ClassVar[int]
    PID_FIELD_NUMBER: _ClassVar[int]
    DCS_FIELD_NUMBER: _ClassVar[int]
    CONCAT_REF_FIELD_NUMBER: _ClassVar[int]
    CONCAT_TOTAL_FIELD_NUMBER: _ClassVar[int]
    PARTIAL_FIELD_NUMBER: _ClassVar[int]
    MISSING_PARTS_FIELD_NUMBER: _ClassVar[int]
    PARTS_FIELD_NUMBER: _ClassVar[int]
    UNDECODABLE_FIELD_NUMBER: _ClassVar[int]
    USER_DATA_FIELD_NUMBER: _ClassVar[int]
    smsc: str
    sender: str
    sender_ton: int
    text: str
    encoding: str
    message_class: int
    pid: int
    dcs: int
    concat_ref: int
    concat_total: int
    partial: bool
    missing_parts: _containers.RepeatedScalarFieldContainer[int]
    parts: _containers.RepeatedCompositeFieldContainer[SmsPart]
    undecodable: bool
    user_data: bytes
    def __init__(self, smsc: _Optional[str] = ..., sender: _Optional[str] = ..., sender_ton: _Optional[int] = ..., text: _Optional[str] = ..., encoding: _Optional[str] = ..., message_class: _Optional[int] = ..., pid: _Optional[int] = ..., dcs: _Optional[int] = ..., concat_ref: _Optional[int] = ..., concat_total: _Optional[int] = ..., partial: _Optional[bool] = ..., missing_parts: _Optional[_Iterable[int]] = ..., parts: _Optional[_Iterable[_Union[SmsPart, _Mapping]]] = ..., undecodable: _Optional[bool] = ..., user_data: _Optional[bytes] = ...) -> None: ...

class StatusReport(_message.Message):
    __slots__ = ("raw_pdu", "storage", "index", "received_at_ns", "recipient", "message_reference", "status", "scts_ns", "discharge_time_ns", "decode_error")
    RAW_PDU_FIELD_NUMBER: _ClassVar[int]
    STORAGE_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    RECEIVED_AT_NS_FIELD_NUMBER: _ClassVar[int]
    RECIPIENT_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_REFERENCE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    SCTS_NS_FIELD_NUMBER: _ClassVar[int]
    DISCHARGE_TIME_NS_FIELD_NUMBER: _ClassVar[int]
    DECODE_ERROR_FIELD_NUMBER: _ClassVar[int]
    raw_pdu: bytes
    storage: str
    index: int
    received_at_ns: int
    recipient: str
    message_reference: int
    status: int
    scts_ns: int
    discharge_time_ns: int
    decode_error: str
    def __init__(self, raw_pdu: _Optional[bytes] = ..., storage: _Optional[str] = ..., index: _Optional[int] = ..., received_at_ns: _Optional[int] = ..., recipient: _Optional[str] = ..., message_reference: _Optional[int] = ..., status: _Optional[int] = ..., scts_ns: _Optional[int] = ..., discharge_time_ns: _Optional[int] = ..., decode_error: _Optional[str] = ...) -> None: ...

class ModemHealth(_message.Message):
    __slots__ = ("at_ns", "responding", "rssi_dbm", "ber", "registration", "rat", "operator_mcc_mnc", "sim_state", "storage_used", "storage_total", "healthy", "reasons", "last_sms_at_ns", "iccid")
    AT_NS_FIELD_NUMBER: _ClassVar[int]
    RESPONDING_FIELD_NUMBER: _ClassVar[int]
    RSSI_DBM_FIELD_NUMBER: _ClassVar[int]
    BER_FIELD_NUMBER: _ClassVar[int]
    REGISTRATION_FIELD_NUMBER: _ClassVar[int]
    RAT_FIELD_NUMBER: _ClassVar[int]
    OPERATOR_MCC_MNC_FIELD_NUMBER: _ClassVar[int]
    SIM_STATE_FIELD_NUMBER: _ClassVar[int]
    STORAGE_USED_FIELD_NUMBER: _ClassVar[int]
    STORAGE_TOTAL_FIELD_NUMBER: _ClassVar[int]
    HEALTHY_FIELD_NUMBER: _ClassVar[int]
    REASONS_FIELD_NUMBER: _ClassVar[int]
    LAST_SMS_AT_NS_FIELD_NUMBER: _ClassVar[int]
    ICCID_FIELD_NUMBER: _ClassVar[int]
    at_ns: int
    responding: bool
    rssi_dbm: float
    ber: int
    registration: Registration
    rat: str
    operator_mcc_mnc: str
    sim_state: str
    storage_used: int
    storage_total: int
    healthy: bool
    reasons: _containers.RepeatedScalarFieldContainer[str]
    last_sms_at_ns: int
    iccid: str
    def __init__(self, at_ns: _Optional[int] = ..., responding: _Optional[bool] = ..., rssi_dbm: _Optional[float] = ..., ber: _Optional[int] = ..., registration: _Optional[_Union[Registration, str]] = ..., rat: _Optional[str] = ..., operator_mcc_mnc: _Optional[str] = ..., sim_state: _Optional[str] = ..., storage_used: _Optional[int] = ..., storage_total: _Optional[int] = ..., healthy: _Optional[bool] = ..., reasons: _Optional[_Iterable[str]] = ..., last_sms_at_ns: _Optional[int] = ..., iccid: _Optional[str] = ...) -> None: ...

class AgentEvent(_message.Message):
    __slots__ = ("at_ns", "kind", "detail", "attributes")
    class AttributesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    AT_NS_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    at_ns: int
    kind: str
    detail: str
    attributes: _containers.ScalarMap[str, str]
    def __init__(self, at_ns: _Optional[int] = ..., kind: _Optional[str] = ..., detail: _Optional[str] = ..., attributes: _Optional[_Mapping[str, str]] = ...) -> None: ...

class CanarySent(_message.Message):
    __slots__ = ("canary_id", "sent_at_ns", "to_msisdn", "message_references", "error", "text")
    CANARY_ID_FIELD_NUMBER: _ClassVar[int]
    SENT_AT_NS_FIELD_NUMBER: _ClassVar[int]
    TO_MSISDN_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_REFERENCES_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    canary_id: str
    sent_at_ns: int
    to_msisdn: str
    message_references: _containers.RepeatedScalarFieldContainer[int]
    error: str
    text: str
    def __init__(self, canary_id: _Optional[str] = ..., sent_at_ns: _Optional[int] = ..., to_msisdn: _Optional[str] = ..., message_references: _Optional[_Iterable[int]] = ..., error: _Optional[str] = ..., text: _Optional[str] = ...) -> None: ...

class Record(_message.Message):
    __slots__ = ("uuid", "seq", "persisted_at_ns", "clock", "modem_imei", "iccid", "sms", "status_report", "health", "event", "canary", "signature", "signer")
    UUID_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    PERSISTED_AT_NS_FIELD_NUMBER: _ClassVar[int]
    CLOCK_FIELD_NUMBER: _ClassVar[int]
    MODEM_IMEI_FIELD_NUMBER: _ClassVar[int]
    ICCID_FIELD_NUMBER: _ClassVar[int]
    SMS_FIELD_NUMBER: _ClassVar[int]
    STATUS_REPORT_FIELD_NUMBER: _ClassVar[int]
    HEALTH_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    CANARY_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    SIGNER_FIELD_NUMBER: _ClassVar[int]
    uuid: str
    seq: int
    persisted_at_ns: int
    clock: ClockEstimate
    modem_imei: str
    iccid: str
    sms: ReceivedSms
    status_report: StatusReport
    health: ModemHealth
    event: AgentEvent
    canary: CanarySent
    signature: bytes
    signer: str
    def __init__(self, uuid: _Optional[str] = ..., seq: _Optional[int] = ..., persisted_at_ns: _Optional[int] = ..., clock: _Optional[_Union[ClockEstimate, _Mapping]] = ..., modem_imei: _Optional[str] = ..., iccid: _Optional[str] = ..., sms: _Optional[_Union[ReceivedSms, _Mapping]] = ..., status_report: _Optional[_Union[StatusReport, _Mapping]] = ..., health: _Optional[_Union[ModemHealth, _Mapping]] = ..., event: _Optional[_Union[AgentEvent, _Mapping]] = ..., canary: _Optional[_Union[CanarySent, _Mapping]] = ..., signature: _Optional[bytes] = ..., signer: _Optional[str] = ...) -> None: ...

class Batch(_message.Message):
    __slots__ = ("agent_id", "batch_id", "records", "outbox_depth", "oldest_pending_ns", "backlog")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    OUTBOX_DEPTH_FIELD_NUMBER: _ClassVar[int]
    OLDEST_PENDING_NS_FIELD_NUMBER: _ClassVar[int]
    BACKLOG_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    batch_id: int
    records: _containers.RepeatedCompositeFieldContainer[Record]
    outbox_depth: int
    oldest_pending_ns: int
    backlog: bool
    def __init__(self, agent_id: _Optional[str] = ..., batch_id: _Optional[int] = ..., records: _Optional[_Iterable[_Union[Record, _Mapping]]] = ..., outbox_depth: _Optional[int] = ..., oldest_pending_ns: _Optional[int] = ..., backlog: _Optional[bool] = ...) -> None: ...

class UploadRequest(_message.Message):
    __slots__ = ("batch",)
    BATCH_FIELD_NUMBER: _ClassVar[int]
    batch: Batch
    def __init__(self, batch: _Optional[_Union[Batch, _Mapping]] = ...) -> None: ...

class RecordRejection(_message.Message):
    __slots__ = ("uuid", "seq", "reason")
    UUID_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    uuid: str
    seq: int
    reason: str
    def __init__(self, uuid: _Optional[str] = ..., seq: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...

class BatchAck(_message.Message):
    __slots__ = ("batch_id", "ingested", "duplicates", "quarantined", "rejections", "committed_seq")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    INGESTED_FIELD_NUMBER: _ClassVar[int]
    DUPLICATES_FIELD_NUMBER: _ClassVar[int]
    QUARANTINED_FIELD_NUMBER: _ClassVar[int]
    REJECTIONS_FIELD_NUMBER: _ClassVar[int]
    COMMITTED_SEQ_FIELD_NUMBER: _ClassVar[int]
    batch_id: int
    ingested: int
    duplicates: int
    quarantined: int
    rejections: _containers.RepeatedCompositeFieldContainer[RecordRejection]
    committed_seq: int
    def __init__(self, batch_id: _Optional[int] = ..., ingested: _Optional[int] = ..., duplicates: _Optional[int] = ..., quarantined: _Optional[int] = ..., rejections: _Optional[_Iterable[_Union[RecordRejection, _Mapping]]] = ..., committed_seq: _Optional[int] = ...) -> None: ...

class UploadResponse(_message.Message):
    __slots__ = ("ack",)
    ACK_FIELD_NUMBER: _ClassVar[int]
    ack: BatchAck
    def __init__(self, ack: _Optional[_Union[BatchAck, _Mapping]] = ...) -> None: ...

class ConfigRequest(_message.Message):
    __slots__ = ("agent_id", "have_version")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    HAVE_VERSION_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    have_version: int
    def __init__(self, agent_id: _Optional[str] = ..., have_version: _Optional[int] = ...) -> None: ...

class ExpectedModem(_message.Message):
    __slots__ = ("imei", "iccid", "msisdn")
    IMEI_FIELD_NUMBER: _ClassVar[int]
    ICCID_FIELD_NUMBER: _ClassVar[int]
    MSISDN_FIELD_NUMBER: _ClassVar[int]
    imei: str
    iccid: str
    msisdn: str
    def __init__(self, imei: _Optional[str] = ..., iccid: _Optional[str] = ..., msisdn: _Optional[str] = ...) -> None: ...

class CanaryJob(_message.Message):
    __slots__ = ("canary_id", "from_imei", "to_msisdn", "interval_s", "text")
    CANARY_ID_FIELD_NUMBER: _ClassVar[int]
    FROM_IMEI_FIELD_NUMBER: _ClassVar[int]
    TO_MSISDN_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_S_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    canary_id: str
    from_imei: str
    to_msisdn: str
    interval_s: float
    text: str
    def __init__(self, canary_id: _Optional[str] = ..., from_imei: _Optional[str] = ..., to_msisdn: _Optional[str] = ..., interval_s: _Optional[float] = ..., text: _Optional[str] = ...) -> None: ...

class AgentConfig(_message.Message):
    __slots__ = ("version", "health_interval_s", "expected_modems", "canaries", "clock_sync_interval_s")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    HEALTH_INTERVAL_S_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_MODEMS_FIELD_NUMBER: _ClassVar[int]
    CANARIES_FIELD_NUMBER: _ClassVar[int]
    CLOCK_SYNC_INTERVAL_S_FIELD_NUMBER: _ClassVar[int]
    version: int
    health_interval_s: float
    expected_modems: _containers.RepeatedCompositeFieldContainer[ExpectedModem]
    canaries: _containers.RepeatedCompositeFieldContainer[CanaryJob]
    clock_sync_interval_s: float
    def __init__(self, version: _Optional[int] = ..., health_interval_s: _Optional[float] = ..., expected_modems: _Optional[_Iterable[_Union[ExpectedModem, _Mapping]]] = ..., canaries: _Optional[_Iterable[_Union[CanaryJob, _Mapping]]] = ..., clock_sync_interval_s: _Optional[float] = ...) -> None: ...
