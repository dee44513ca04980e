"""Windows event logs exported as JSON: Security, Sysmon, PowerShell, System and other channels.

Four shapes are read, told apart per record by the keys it has (every value is the first present
of its shape-specific paths, so a file may mix shapes):

1. Flat (NXLog ``im_msvistalog``, OTRF/Mordor data sets): ``EventID``, ``Channel``,
   ``Hostname``, ``SourceName``, ``TimeCreated``/``EventTime``/``@timestamp``, ``Message`` and the
   EventData fields at the top level (``TargetUserName``, ``IpAddress``, ``Image``, ...).
2. Winlogbeat/ECS: ``winlog.event_id``, ``winlog.channel``, ``winlog.computer_name``,
   ``winlog.provider_name``, ``winlog.event_data.*``, ``@timestamp``; the ECS fields Winlogbeat's
   pipelines fill (``source.ip``, ``process.executable``, ``user.name``, ...) are read last, for
   documents whose event_data was moved there.
3. evtx_dump / python-evtx JSON: ``Event.System.EventID`` (or ``{"#text": ..}``),
   ``Event.System.Channel``, ``Event.System.Computer``,
   ``Event.System.TimeCreated.#attributes.SystemTime`` (or ``@SystemTime``),
   ``Event.EventData.*`` keyed by name (the xmltodict ``Data`` list form is not read: such
   records keep their System fields only).
4. PowerShell ``Get-WinEvent | ConvertTo-Json``: ``Id``, ``LogName``, ``ProviderName``,
   ``MachineName``, ``TimeCreated`` as ``/Date(ms)/``.

Mapping:

- ``event.code`` = the event id as text. The channel family (Security, System, Sysmon's
  ``Microsoft-Windows-Sysmon/Operational``, PowerShell channels; else the provider decides,
  so WEF's ``ForwardedEvents`` still work) gives ``event.module`` (``windows``, ``sysmon``,
  ``powershell``) and ``event.dataset`` (``windows.security``, ``windows.system``,
  ``windows.sysmon_operational``, ``windows.powershell`` for "Windows PowerShell",
  ``windows.powershell_operational`` for ``Microsoft-Windows-PowerShell/Operational``, else
  ``windows.<channel>`` without its ``Microsoft-Windows-`` prefix:
  ``windows.taskscheduler_operational``).
- ``event.action/category/type/outcome`` come from a table of known ids (:data:`EVENTS`, per
  family): 4624 ``logged-in``, 4625 ``logon-failed``, 4688 ``created-process``, 4698
  ``scheduled-task-created``, 5156 ``wfp-connection-permitted``, Sysmon 1 ``process-created``, 10
  ``process-accessed``, 22 ``dns-query``, PowerShell 4104 ``script-block-logged``, 7045
  ``service-installed``, ... The outcome of Kerberos/NTLM events (4768, 4769, 4776) follows
  their ``Status`` (``0x0`` = success); an audit-failure keyword (``0x8010000000000000``,
  NXLog's ``AUDIT_FAILURE``, Winlogbeat's ``Audit Failure``) makes any event a failure; an
  audit-success keyword makes an unlisted event a success. Unlisted ids keep Winlogbeat's own
  ``event.action``/``category``/``type`` when the document has them.
- ``user.name``/``user.domain``: ``TargetUserName``/``TargetDomainName`` for events about an
  account authenticating (logon 4624/4625/4648, logoff 4634/4647, Kerberos 4768/4769/4770/4771,
  NTLM 4776, lockout 4740, session 4778/4779); otherwise the subject (``SubjectUserName``, the
  account that acted), then the target, then Sysmon's ``User`` (``DOMAIN\\name`` split), then
  NXLog's ``AccountName``/``Domain`` (the event's security principal; not for Sysmon, where it is
  always SYSTEM), then Winlogbeat's ``user.name``. ``-`` and empty values are no value.
- Addresses: ``IpAddress`` (logons, Kerberos), ``SourceAddress``/``DestAddress`` (WFP 5156/5158),
  ``SourceIp``/``DestinationIp`` (Sysmon 3); ``::ffff:10.0.0.5`` becomes ``10.0.0.5``;
  loopback (``::1``, ``127.0.0.1``) is kept (a local logon is worth seeing); the unspecified
  ``0.0.0.0``/``::`` (a bind to all interfaces) is no address. Ports likewise, 0 is no port.
  ``Protocol`` 6/17/1 → ``network.transport`` tcp/udp/icmp. Sysmon 22: ``QueryName`` →
  ``dns.question.name``, ``QueryStatus`` → ``dns.response_code`` (0 → NOERROR, 9003 →
  NXDOMAIN), ``network.protocol`` ``dns``. ``WorkstationName``/``SourceHostname`` →
  ``source.domain``.
- Process: ``NewProcessName``/``NewProcessId`` (4688), ``Image``/``ProcessId`` (Sysmon),
  ``SourceImage``/``SourceProcessId`` (Sysmon 8/10: the process that acted; the target, e.g.
  lsass, is ``winlog.event_data.TargetImage``), ``ProcessName``, ``Application`` (WFP),
  ``CallerProcessName``; hex ids (``0x27cc``) are read as numbers; ``process.name`` is the file
  name of the executable. The parent goes to ``extra`` as ``process.parent.executable/pid/
  command_line``.
- PowerShell: ``message`` is ``Message``, else ``ScriptBlockText`` (4104), else ``Payload``
  (4103); both also in ``extra`` (``winlog.event_data.ScriptBlockText``).
- ``log.level``: Windows ``Level`` (0/4 information, 1 critical, 2 error, 3 warning, 5
  verbose) or the collector's text (``INFO`` → information). ``rule.name`` = Sysmon's
  ``RuleName``. ``tags`` = the document's ``tags`` array.
- ``extra``: ``winlog.channel``, ``winlog.provider_name``, ``winlog.record_id`` and a fixed list
  of EventData fields as ``winlog.event_data.<Name>`` (:data:`EXTRA_EVENT_DATA`: logon type,
  status codes, service and task names, share names, granted access, registry keys, hashes...);
  the full record stays in ``event.original``.
- ``@timestamp``: ``@timestamp`` or the System section's ``SystemTime``, else ``TimeCreated`` /
  ``EventTime`` (NXLog writes local time without an offset: it is read in ``ctx.timezone``),
  else Sysmon's ``UtcTime`` (UTC by definition). Note that OTRF's flat exports differ between
  files: some ``TimeCreated`` values are a 12-hour clock without AM/PM, and some ``@timestamp``
  values are local time marked ``Z``; no rule can repair those.

A record without an event id fails with ``no Windows event id``; text that is not a JSON object
fails as in ``json_docs``. Detection: 0.95 × the share of records that are JSON objects with one
of the four shapes' id keys.
"""

from __future__ import annotations

from dataclasses import dataclass

from loglens.parse.base import ParseContext, Parser, Sample, share_matching, sql_string
from loglens.parse.json_docs import (
    blank_list_sql,
    enumerated_sql,
    ip_sql,
    json_object_record,
    merge_json_sql,
    port_sql,
    record_error_sql,
    scalar_list_sql,
    select_list,
    tags_sql,
    timestamp_sql,
    transport_sql,
)
from loglens.parse.json_fields import JsonExtraction, JsonField, extra_sql, json_path
from loglens.parse.timestamps import iso_to_utc
from loglens.schema import quote_ident

# --- known event ids --------------------------------------------------------------------------


@dataclass(frozen=True)
class EventInfo:
    """What an event id means in ECS terms."""

    action: str
    category: str | None
    type: str | None
    outcome: str | None = None
    target_user: bool = False  # user.name is TargetUserName (the account authenticating)


_E = EventInfo
_AUTH, _IAM, _CONF, _NET, _PROC = "authentication", "iam", "configuration", "network", "process"

EVENTS: dict[str, dict[str, EventInfo]] = {
    "security": {
        "1102": _E("audit-log-cleared", _CONF, "deletion", "success"),
        "4624": _E("logged-in", _AUTH, "start", "success", True),
        "4625": _E("logon-failed", _AUTH, "start", "failure", True),
        "4634": _E("logged-out", _AUTH, "end", "success", True),
        "4647": _E("logged-out", _AUTH, "end", "success", True),
        "4648": _E("logged-in-explicit", _AUTH, "start", "success", True),
        "4656": _E("object-handle-requested", None, None),
        "4657": _E("registry-value-modified", "registry", "change", "success"),
        "4658": _E("object-handle-closed", None, None),
        "4663": _E("object-accessed", None, None),
        "4670": _E("permissions-changed", _IAM, "change", "success"),
        "4672": _E("logged-in-special", _IAM, "admin", "success"),
        "4673": _E("privileged-service-called", _IAM, "admin"),
        "4688": _E("created-process", _PROC, "start", "success"),
        "4689": _E("exited-process", _PROC, "end", "success"),
        "4690": _E("object-handle-duplicated", None, None),
        "4697": _E("service-installed", _CONF, "creation", "success"),
        "4698": _E("scheduled-task-created", _CONF, "creation", "success"),
        "4699": _E("scheduled-task-deleted", _CONF, "deletion", "success"),
        "4700": _E("scheduled-task-enabled", _CONF, "change", "success"),
        "4701": _E("scheduled-task-disabled", _CONF, "change", "success"),
        "4702": _E("scheduled-task-updated", _CONF, "change", "success"),
        "4703": _E("token-right-adjusted", _IAM, "change", "success"),
        "4719": _E("changed-audit-config", _CONF, "change", "success"),
        "4720": _E("added-user-account", _IAM, "creation", "success"),
        "4722": _E("enabled-user-account", _IAM, "change", "success"),
        "4723": _E("changed-password", _IAM, "change"),
        "4724": _E("reset-password", _IAM, "change"),
        "4725": _E("disabled-user-account", _IAM, "change", "success"),
        "4726": _E("deleted-user-account", _IAM, "deletion", "success"),
        "4728": _E("added-member-to-group", _IAM, "change", "success"),
        "4729": _E("removed-member-from-group", _IAM, "change", "success"),
        "4732": _E("added-member-to-group", _IAM, "change", "success"),
        "4733": _E("removed-member-from-group", _IAM, "change", "success"),
        "4738": _E("modified-user-account", _IAM, "change", "success"),
        "4739": _E("changed-domain-policy", _CONF, "change", "success"),
        "4740": _E("locked-out-user-account", _IAM, "change", "success", True),
        "4742": _E("modified-computer-account", _IAM, "change", "success"),
        "4756": _E("added-member-to-group", _IAM, "change", "success"),
        "4757": _E("removed-member-from-group", _IAM, "change", "success"),
        "4767": _E("unlocked-user-account", _IAM, "change", "success"),
        "4768": _E("kerberos-tgt-requested", _AUTH, "start", None, True),
        "4769": _E("kerberos-service-ticket-requested", _AUTH, "start", None, True),
        "4770": _E("kerberos-service-ticket-renewed", _AUTH, "start", "success", True),
        "4771": _E("kerberos-preauth-failed", _AUTH, "start", "failure", True),
        "4776": _E("credential-validated", _AUTH, "start", None, True),
        "4778": _E("session-reconnected", "session", "start", "success", True),
        "4779": _E("session-disconnected", "session", "end", "success", True),
        "4798": _E("user-group-membership-enumerated", _IAM, "info", "success"),
        "4799": _E("group-membership-enumerated", _IAM, "info", "success"),
        "4946": _E("firewall-rule-added", _CONF, "creation", "success"),
        "4947": _E("firewall-rule-modified", _CONF, "change", "success"),
        "4948": _E("firewall-rule-deleted", _CONF, "deletion", "success"),
        "5140": _E("network-share-accessed", _NET, "access", "success"),
        "5145": _E("network-share-access-checked", _NET, "access", "success"),
        "5156": _E("wfp-connection-permitted", _NET, "connection", "success"),
        "5157": _E("wfp-connection-blocked", _NET, "denied", "failure"),
        "5158": _E("wfp-bind-permitted", _NET, "allowed", "success"),
        "5159": _E("wfp-bind-blocked", _NET, "denied", "failure"),
    },
    "system": {
        "104": _E("log-cleared", _CONF, "deletion", "success"),
        "1074": _E("shutdown-initiated", "host", "end"),
        "6005": _E("eventlog-started", "host", "start"),
        "6006": _E("eventlog-stopped", "host", "end"),
        "7034": _E("service-crashed", _PROC, "end", "failure"),
        "7036": _E("service-state-changed", "host", "change"),
        "7040": _E("service-start-type-changed", _CONF, "change"),
        "7045": _E("service-installed", _CONF, "creation", "success"),
    },
    "sysmon": {
        "1": _E("process-created", _PROC, "start"),
        "2": _E("file-creation-time-changed", "file", "change"),
        "3": _E("network-connection", _NET, "connection"),
        "4": _E("sysmon-state-changed", _CONF, "change"),
        "5": _E("process-terminated", _PROC, "end"),
        "6": _E("driver-loaded", "driver", "start"),
        "7": _E("image-loaded", "library", "start"),
        "8": _E("remote-thread-created", _PROC, "change"),
        "9": _E("raw-access-read", "file", "access"),
        "10": _E("process-accessed", _PROC, "access"),
        "11": _E("file-created", "file", "creation"),
        "12": _E("registry-object-added-or-deleted", "registry", "change"),
        "13": _E("registry-value-set", "registry", "change"),
        "14": _E("registry-renamed", "registry", "change"),
        "15": _E("file-stream-created", "file", "creation"),
        "16": _E("sysmon-config-changed", _CONF, "change"),
        "17": _E("pipe-created", "file", "creation"),
        "18": _E("pipe-connected", "file", "access"),
        "19": _E("wmi-filter-registered", _CONF, "creation"),
        "20": _E("wmi-consumer-registered", _CONF, "creation"),
        "21": _E("wmi-consumer-bound", _CONF, "creation"),
        "22": _E("dns-query", _NET, "protocol"),
        "23": _E("file-deleted", "file", "deletion"),
        "25": _E("process-tampering", _PROC, "change"),
        "26": _E("file-delete-detected", "file", "deletion"),
    },
    "powershell": {
        "400": _E("engine-started", _PROC, "start"),
        "403": _E("engine-stopped", _PROC, "end"),
        "600": _E("provider-started", _PROC, "info"),
        "800": _E("pipeline-executed", _PROC, "info"),
        "4103": _E("pipeline-executed", _PROC, "info"),
        "4104": _E("script-block-logged", _PROC, "info"),
        "4105": _E("script-block-started", _PROC, "start"),
        "4106": _E("script-block-stopped", _PROC, "end"),
    },
}
"""Known event ids per channel family → ECS categorisation (see the module doc)."""

# Kerberos and NTLM events whose outcome is their Status code (0x0 = success).
_STATUS_OUTCOME = ("4768", "4769", "4776")

# DNS_ERROR_RCODE_* (9001-9010) are 9000 + the DNS response code.
_RCODES = ("FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "YXDOMAIN", "YXRRSET",
           "NXRRSET", "NOTAUTH", "NOTZONE")  # fmt: skip

# --- where each value is --------------------------------------------------------------------


_SYSTEM: tuple[JsonField, ...] = (
    JsonField("code", ("EventID", "winlog.event_id", "Event.System.EventID.#text",
                       "Event.System.EventID", "event.code", "Id")),
    JsonField("channel", ("Channel", "winlog.channel", "Event.System.Channel", "LogName")),
    # Get-WinEvent's top-level ProcessId/ThreadId/UserId describe the logging process, not
    # EventData (its Properties are unnamed): the shape is told by LogName, which only it has.
    JsonField("log_name", ("LogName",)),
    JsonField("provider", ("SourceName", "winlog.provider_name", "event.provider",
                           "Event.System.Provider.#attributes.Name", "Event.System.Provider.@Name",
                           "ProviderName")),
    JsonField("host", ("Hostname", "Computer", "winlog.computer_name", "Event.System.Computer",
                       "MachineName", "host.name", "host.hostname")),
    JsonField("message", ("Message", "message")),
    JsonField("time_text", ("@timestamp", "Event.System.TimeCreated.#attributes.SystemTime",
                            "Event.System.TimeCreated.@SystemTime", "TimeCreated", "EventTime")),
    JsonField("level_text", ("Level", "Severity", "log.level", "Event.System.Level",
                             "LevelDisplayName")),
    JsonField("keywords", ("Keywords", "winlog.keywords", "Event.System.Keywords")),
    JsonField("record_id", ("RecordNumber", "winlog.record_id", "Event.System.EventRecordID",
                            "RecordId")),
    JsonField("tags", ("tags",)),
    # Events without EventData keep their subject in UserData (1102: the log was cleared).
    JsonField("ud_user", ("Event.UserData.LogFileCleared.SubjectUserName",
                          "winlog.user_data.SubjectUserName")),
    JsonField("ud_domain", ("Event.UserData.LogFileCleared.SubjectDomainName",
                            "winlog.user_data.SubjectDomainName")),
    # ECS fields of Winlogbeat documents, read after the EventData they come from.
    JsonField("ecs_action", ("event.action",)),
    JsonField("ecs_category", ("event.category",)),
    JsonField("ecs_type", ("event.type",)),
    JsonField("ecs_outcome", ("event.outcome",)),
    JsonField("ecs_user", ("user.name",)),
    JsonField("ecs_domain", ("user.domain",)),
    JsonField("ecs_source_ip", ("source.ip",)),
    JsonField("ecs_source_port", ("source.port",)),
    JsonField("ecs_destination_ip", ("destination.ip",)),
    JsonField("ecs_destination_port", ("destination.port",)),
    JsonField("ecs_executable", ("process.executable",)),
    JsonField("ecs_pid", ("process.pid",)),
    JsonField("ecs_command_line", ("process.command_line",)),
    JsonField("ecs_process_name", ("process.name",)),
    JsonField("ecs_parent_executable", ("process.parent.executable",)),
    JsonField("ecs_parent_pid", ("process.parent.pid",)),
    JsonField("ecs_dns_name", ("dns.question.name",)),
    JsonField("ecs_transport", ("network.transport",)),
    JsonField("ecs_rule", ("rule.name",)),
)  # fmt: skip

MAPPED_EVENT_DATA: tuple[str, ...] = (
    "SubjectUserName", "SubjectDomainName", "TargetUserName", "TargetDomainName", "User",
    "AccountName", "Domain", "IpAddress", "IpPort", "SourceAddress", "SourcePort", "DestAddress",
    "DestPort", "SourceIp", "DestinationIp", "DestinationPort", "SourceHostname",
    "DestinationHostname", "WorkstationName", "Workstation", "Protocol", "NewProcessName",
    "NewProcessId", "ProcessName", "ProcessId", "ProcessID", "Image", "SourceImage",
    "SourceProcessId", "Application", "CallerProcessName", "CallerProcessId", "CommandLine",
    "ParentImage", "ParentProcessName", "ParentProcessId", "ParentCommandLine", "QueryName",
    "RuleName", "UtcTime", "EventType", "ScriptBlockText", "Payload", "Status", "QueryStatus",
)  # fmt: skip
"""EventData fields the mapping reads (``ProcessID`` is WFP's spelling of ``ProcessId``)."""

EXTRA_EVENT_DATA: tuple[str, ...] = (
    "SubjectUserName", "SubjectDomainName", "SubjectUserSid", "SubjectLogonId", "TargetUserName",
    "TargetDomainName", "TargetUserSid", "TargetLogonId", "TargetSid", "LogonType",
    "LogonProcessName", "AuthenticationPackageName", "WorkstationName", "Status", "SubStatus",
    "FailureReason", "ServiceName", "ServiceFileName", "ImagePath", "StartType", "TaskName",
    "ShareName", "RelativeTargetName", "ObjectName", "ObjectType", "AccessMask", "PrivilegeList",
    "MemberName", "MemberSid", "TicketEncryptionType", "TicketOptions", "ProcessGuid",
    "TargetImage", "TargetProcessId", "GrantedAccess", "TargetObject", "Details",
    "TargetFilename", "Hashes", "ImageLoaded", "IntegrityLevel", "LogonId", "QueryResults",
    "QueryStatus", "ScriptBlockText", "Payload", "Path", "Direction", "RuleName", "ServiceType",
    "AccountName", "param1", "param2",
)  # fmt: skip
"""EventData fields kept in ``extra`` as ``winlog.event_data.<Name>`` (when present)."""


def _shape_paths(name: str) -> list[str]:
    """Where each shape keeps an EventData field: flat at the top, Winlogbeat nested or as a
    flat dotted key, evtx_dump under ``Event.EventData``."""
    return [
        json_path(name),
        json_path(f"winlog.event_data.{name}"),
        json_path(f"winlog.event_data.{name}", flat=True),
        json_path(f"Event.EventData.{name}"),
    ]


_SHAPE_COUNT = len(_shape_paths("x"))
_DATA_NAMES: tuple[str, ...] = tuple(dict.fromkeys([*MAPPED_EVENT_DATA, *EXTRA_EVENT_DATA]))
# Free text keeps its spaces; every other value is trimmed and "-" means no value.
_TEXT_DATA = frozenset({"ScriptBlockText", "Payload", "CommandLine", "ParentCommandLine"})
_TEXT_SYSTEM = frozenset({"message", "tags", "keywords"})

# Sysmon's UtcTime (``2020-10-21 04:19:02.229``) is UTC without saying so.
_SYSMON_UTC = "(\"UtcTime\" || 'Z')"


def _data_paths_sql() -> str:
    """One list of every EventData path: all names in shape 1, then shape 2, ..."""
    by_name = [_shape_paths(name) for name in _DATA_NAMES]
    paths = [paths[shape] for shape in range(_SHAPE_COUNT) for paths in by_name]
    return "[" + ", ".join(sql_string(p) for p in paths) + "]"


def _data_merge_sql(values: str) -> str:
    """Per name, its first non-empty value across the shapes (one lambda, not one per name)."""
    n = len(_DATA_NAMES)
    tries = ", ".join(f"nullif({values}[{k * n} + i], '')" for k in range(_SHAPE_COUNT))
    return f"list_transform(list_slice({values}, 1, {n}), lambda x, i: coalesce({tries}))"


# --- detection --------------------------------------------------------------------------------


def _is_windows_event(record: str) -> bool:
    doc = json_object_record(record)
    if doc is None:
        return False
    if "EventID" in doc and doc.keys() & {"Channel", "SourceName", "ProviderGuid", "Hostname"}:
        return True
    winlog = doc.get("winlog")
    if isinstance(winlog, dict) and winlog.keys() & {"event_id", "channel"}:
        return True
    if doc.keys() & {"winlog.event_id", "winlog.channel"}:
        return True
    event = doc.get("Event")
    if isinstance(event, dict) and isinstance(event.get("System"), dict):
        return "EventID" in event["System"]
    return {"Id", "LogName", "ProviderName"} <= doc.keys()


# --- the parser -------------------------------------------------------------------------------


class WindowsEventParser(Parser):
    """Windows events as JSON: flat (NXLog/OTRF), Winlogbeat, evtx_dump and Get-WinEvent."""

    name = "windows"
    description = "Windows event JSON (NXLog/OTRF, Winlogbeat, evtx_dump, Get-WinEvent)"
    containers = frozenset({"lines", "json"})

    def sniff(self, sample: Sample) -> float:
        return 0.95 * share_matching(sample.records, _is_windows_event)

    def sql(self, ctx: ParseContext) -> str:
        system = JsonExtraction(_SYSTEM)
        values = [
            f"{system.value_sql(f.target, 'j' if f.target in _TEXT_SYSTEM else 'jb')} "
            f"AS {quote_ident(f.target)}"
            for f in _SYSTEM
        ]
        index = {name: k + 1 for k, name in enumerate(_DATA_NAMES)}
        values += [
            f"{'dt' if name in _TEXT_DATA else 'db'}[{index[name]}] AS {quote_ident(name)}"
            for name in MAPPED_EVENT_DATA
            if name not in ("SubjectUserName", "SubjectDomainName", "ProcessId", "ProcessID")
        ]
        # Column names are case-insensitive in SQL: WFP's ProcessID joins Sysmon's ProcessId.
        values += [
            f'coalesce(db[{index["ProcessId"]}], db[{index["ProcessID"]}]) AS "ProcessId"',
            f"coalesce(db[{index['SubjectUserName']}], {system.value_sql('ud_user', 'jb')}) "
            "AS SubjectUserName",
            f"coalesce(db[{index['SubjectDomainName']}], {system.value_sql('ud_domain', 'jb')}) "
            "AS SubjectDomainName",
        ]
        return f"""
WITH src AS (
    SELECT record_no, {record_error_sql()} AS _json_error, {system.values_sql()} AS j,
           CASE WHEN json_valid(raw) THEN json_extract_string(raw, {_data_paths_sql()}) END AS d
    FROM batch
),
merged AS (
    SELECT record_no, _json_error, j, {_data_merge_sql("d")} AS dt FROM src
),
lists AS (
    SELECT * REPLACE (CASE WHEN {system.value_sql("log_name")} IS NULL THEN dt END AS dt),
           CASE WHEN {system.value_sql("log_name")} IS NULL THEN {blank_list_sql("dt")} END AS db,
           {blank_list_sql(scalar_list_sql("j"))} AS jb
    FROM merged
),
fields AS (
    SELECT record_no, _json_error, dt, db,
       {select_list(values)}
    FROM lists
),
derived AS (
    SELECT *,
       {select_list(self._derived(ctx))}
    FROM fields
),
events(family, code, action, category, type, outcome, target_user) AS (
    VALUES {_events_values()}
)
SELECT record_no,
       {select_list(self._columns())},
       {self._extra(index)} AS extra,
       coalesce(_json_error, CASE WHEN d.code IS NULL THEN
           'no Windows event id (EventID, winlog.event_id or Event.System.EventID)' END) AS _error
FROM derived d LEFT JOIN events e ON e.family = d.family AND e.code = d.code
"""

    @staticmethod
    def _derived(ctx: ParseContext) -> list[str]:
        channel = "lower(channel)"
        provider = "lower(provider)"
        family = (
            f"CASE {channel} WHEN 'security' THEN 'security' WHEN 'system' THEN 'system' "
            f"WHEN 'microsoft-windows-sysmon/operational' THEN 'sysmon' ELSE "
            f"CASE WHEN {channel} LIKE '%powershell%' THEN 'powershell' "
            f"WHEN {provider} = 'microsoft-windows-sysmon' THEN 'sysmon' "
            f"WHEN {provider} = 'microsoft-windows-security-auditing' THEN 'security' "
            f"WHEN {provider} LIKE '%powershell%' THEN 'powershell' "
            f"WHEN {provider} = 'service control manager' THEN 'system' ELSE 'other' END END"
        )
        keywords = "coalesce(keywords, '')"
        audit = (
            f"CASE WHEN {keywords} IN ('0x8010000000000000', '-9218868437227405312') "
            f"OR contains({keywords}, 'Audit Failure') OR EventType = 'AUDIT_FAILURE' "
            f"THEN 'failure' "
            f"WHEN {keywords} IN ('0x8020000000000000', '-9214364837600034816') "
            f"OR contains({keywords}, 'Audit Success') OR EventType = 'AUDIT_SUCCESS' "
            f"THEN 'success' "
            f"END"
        )
        return [
            f"{family} AS family",
            f"coalesce({timestamp_sql('time_text', ctx)}, {iso_to_utc(_SYSMON_UTC, ctx)}) AS ts",
            f"{audit} AS audit_outcome",
        ]

    @staticmethod
    def _columns() -> list[str]:
        exe = (
            "coalesce(NewProcessName, Image, SourceImage, ProcessName, Application, "
            "CallerProcessName, ecs_executable)"
        )
        pid = (
            'nullif(TRY_CAST(coalesce(NewProcessId, "ProcessId", SourceProcessId, CallerProcessId, '
            "ecs_pid) AS BIGINT), 0)"
        )
        source_ip = "coalesce(IpAddress, SourceAddress, SourceIp, ecs_source_ip)"
        destination_ip = "coalesce(DestAddress, DestinationIp, ecs_destination_ip)"
        level = (
            "CASE WHEN regexp_full_match(level_text, '\\d+') THEN CASE level_text "
            "WHEN '0' THEN 'information' "
            "WHEN '1' THEN 'critical' WHEN '2' THEN 'error' WHEN '3' THEN 'warning' "
            "WHEN '4' THEN 'information' WHEN '5' THEN 'verbose' END "
            "WHEN lower(level_text) = 'info' THEN 'information' ELSE lower(level_text) END"
        )
        status_outcome = (
            f"CASE WHEN d.family = 'security' AND d.code IN "
            f"({', '.join(sql_string(c) for c in _STATUS_OUTCOME)}) AND Status IS NOT NULL "
            f"THEN CASE WHEN lower(Status) = '0x0' THEN 'success' ELSE 'failure' END END"
        )
        rcodes = " ".join(f"WHEN '{9001 + i}' THEN '{name}'" for i, name in enumerate(_RCODES))
        return [
            'ts AS "@timestamp"',
            "'event' AS \"event.kind\"",
            "CASE d.family WHEN 'sysmon' THEN 'sysmon' WHEN 'powershell' THEN 'powershell' "
            "ELSE 'windows' END AS \"event.module\"",
            f'{_dataset_sql()} AS "event.dataset"',
            'd.code AS "event.code"',
            'coalesce(e.action, ecs_action) AS "event.action"',
            f"coalesce(e.category, {enumerated_sql('event.category', 'ecs_category')}) "
            'AS "event.category"',
            f'coalesce(e.type, {enumerated_sql("event.type", "ecs_type")}) AS "event.type"',
            f"coalesce({status_outcome}, CASE WHEN audit_outcome = 'failure' THEN 'failure' END, "
            f"e.outcome, audit_outcome, {enumerated_sql('event.outcome', 'ecs_outcome')}) "
            'AS "event.outcome"',
            f'{level} AS "log.level"',
            "coalesce(message, ScriptBlockText, Payload) AS message",
            f"{tags_sql('tags')} AS tags",
            'host AS "host.name"',
            *_user_columns(),
            f'{exe} AS "process.executable"',
            f"coalesce(regexp_extract({exe}, '[^\\\\/]+$'), ecs_process_name) AS \"process.name\"",
            f'{pid} AS "process.pid"',
            'coalesce(CommandLine, ecs_command_line) AS "process.command_line"',
            f'{_address_sql(source_ip)} AS "source.ip"',
            f'{port_sql("coalesce(IpPort, SourcePort, ecs_source_port)")} AS "source.port"',
            'coalesce(SourceHostname, WorkstationName, Workstation) AS "source.domain"',
            f'{_address_sql(destination_ip)} AS "destination.ip"',
            f"{port_sql('coalesce(DestPort, DestinationPort, ecs_destination_port)')} "
            'AS "destination.port"',
            'DestinationHostname AS "destination.domain"',
            f'{transport_sql("coalesce(Protocol, ecs_transport)")} AS "network.transport"',
            "CASE WHEN d.family = 'sysmon' AND d.code = '22' THEN 'dns' END "
            'AS "network.protocol"',
            'coalesce(QueryName, ecs_dns_name) AS "dns.question.name"',
            f"CASE WHEN d.family = 'sysmon' AND d.code = '22' THEN CASE QueryStatus "
            f"WHEN '0' THEN 'NOERROR' {rcodes} END END AS \"dns.response_code\"",
            # Sysmon's RuleName is the configuration rule that matched; a firewall rule's name
            # (4946) is no detection rule: it stays in extra.
            "coalesce(CASE WHEN d.family = 'sysmon' THEN RuleName END, ecs_rule) AS \"rule.name\"",
        ]

    @staticmethod
    def _extra(index: dict[str, int]) -> str:
        parent_pid = (
            "nullif(TRY_CAST(coalesce(ParentProcessId, CASE WHEN NewProcessId IS NOT NULL "
            'THEN "ProcessId" END, ecs_parent_pid) AS BIGINT), 0)'
        )
        pairs: list[tuple[str, str]] = [
            ("winlog.channel", "channel"),
            ("winlog.provider_name", "provider"),
            ("winlog.record_id", "record_id"),
            ("process.parent.executable",
             "coalesce(ParentImage, ParentProcessName, ecs_parent_executable)"),
            ("process.parent.pid", parent_pid),
            ("process.parent.command_line", "ParentCommandLine"),
            # Sysmon's registry EventType (SetValue); elsewhere the key is NXLog's audit result.
            ("winlog.event_data.EventType", "CASE WHEN d.family = 'sysmon' THEN EventType END"),
        ]  # fmt: skip
        pairs += [
            (f"winlog.event_data.{n}", f"{'dt' if n in _TEXT_DATA else 'db'}[{index[n]}]")
            for n in EXTRA_EVENT_DATA
        ]
        return merge_json_sql([extra_sql(pairs)])


def _address_sql(expr: str) -> str:
    """An address, where the unspecified ``0.0.0.0``/``::`` (any interface) is no address."""
    return f"nullif(nullif({ip_sql(expr)}, '0.0.0.0'), '::')"


def _dataset_sql() -> str:
    channel = (
        "nullif(trim(regexp_replace(lower(regexp_replace(channel, '^Microsoft-Windows-', '', "
        "'i')), '[^a-z0-9]+', '_', 'g'), '_'), '')"
    )
    return (
        "CASE d.family WHEN 'security' THEN 'windows.security' "
        "WHEN 'system' THEN 'windows.system' "
        "WHEN 'sysmon' THEN 'windows.sysmon_operational' "
        "WHEN 'powershell' THEN CASE WHEN lower(channel) = 'windows powershell' "
        "THEN 'windows.powershell' ELSE 'windows.powershell_operational' END "
        f"ELSE 'windows.' || coalesce({channel}, 'unknown') END"
    )


def _user_columns() -> list[str]:
    """user.name/user.domain by the module doc's rule: which account the event is about."""
    source = (
        "CASE WHEN coalesce(e.target_user, false) AND TargetUserName IS NOT NULL THEN 'target' "
        "WHEN SubjectUserName IS NOT NULL THEN 'subject' "
        "WHEN TargetUserName IS NOT NULL THEN 'target' "
        "WHEN \"User\" IS NOT NULL THEN 'user' "
        # NXLog's principal: AccountName with Domain (a 7045's AccountName is the service's).
        "WHEN d.family <> 'sysmon' AND AccountName IS NOT NULL AND \"Domain\" IS NOT NULL "
        "THEN 'account' END"
    )
    name = (
        f"CASE {source} WHEN 'target' THEN TargetUserName WHEN 'subject' THEN SubjectUserName "
        "WHEN 'user' THEN CASE WHEN contains(\"User\", '\\') "
        'THEN split_part("User", \'\\\', 2) ELSE "User" END '
        "WHEN 'account' THEN AccountName ELSE ecs_user END"
    )
    domain = (
        f"CASE {source} WHEN 'target' THEN TargetDomainName WHEN 'subject' THEN SubjectDomainName "
        "WHEN 'user' THEN CASE WHEN contains(\"User\", '\\') "
        "THEN split_part(\"User\", '\\', 1) END "
        "WHEN 'account' THEN \"Domain\" ELSE ecs_domain END"
    )
    return [f'{name} AS "user.name"', f'{domain} AS "user.domain"']


def _events_values() -> str:
    rows = []
    for family, events in EVENTS.items():
        for code, info in events.items():
            values = [family, code, info.action, info.category, info.type, info.outcome]
            literals = [sql_string(v) if v is not None else "NULL" for v in values]
            rows.append(f"({', '.join(literals)}, {str(info.target_user).lower()})")
    return ",\n           ".join(rows)
