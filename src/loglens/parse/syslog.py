"""Syslog: RFC 3164 (BSD, auth.log), rsyslog's high-precision form, and RFC 5424.

Header forms recognised (``<PRI>`` optional except in RFC 5424):

- RFC 3164: ``[<PRI>]Mmm dd HH:MM:SS[.ffffff] [HOST] TAG[PID]: MSG`` (a one-digit day is padded
  with a space: ``Mar  5``);
- rsyslog high precision (Debian 12 default): ``[<PRI>]2024-03-05T06:25:01.123456+00:00 HOST
  TAG[PID]: MSG``;
- RFC 5424: ``<PRI>VERSION TIMESTAMP HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA [MSG]`` with
  ``-`` for nil values.

Mapping decisions:

- **Year-less timestamps** go through ``timestamps.yearless_to_utc``: the configured year
  (``ingest.year``) when set; otherwise the year of the reference time (the file's modification
  time, or now for stdin), minus one when that would put the event more than a day after the
  reference time (a file written in January holds December lines). Zone-less times are read in
  ``ctx.timezone``.
- **Host or no host.** The token after the timestamp is the host unless it is itself a tag (ends
  with ``:`` or carries ``[pid]``): ``Mar  5 06:25:01 sshd[7]: ...`` has no host. A line with a
  host but no ``TAG:`` keeps everything after the host as ``message`` (``-- MARK --``). A
  host-less *and* tag-less line cannot be told apart from that: its first word becomes the host.
- **Tags.** ``process.name`` is the tag's last path component (``/USR/SBIN/CRON`` → ``CRON``,
  the full path in ``process.executable``); Red Hat's ``sshd(pam_unix)`` tag gives ``sshd`` and
  PAM module ``pam_unix``; sysklogd's ``syslogd 1.4.1:`` gives ``syslogd``. The tag as written is
  kept in ``extra`` (``log.syslog.appname``) when it differs from ``process.name``.
- **PRI** gives ``log.syslog.priority``, ``log.syslog.facility.code/name`` and
  ``log.syslog.severity.code/name`` in ``extra``; ``log.level`` is the severity name (emerg,
  alert, crit, err, warning, notice, info, debug) and ``event.severity`` its code (0 is the most
  severe, as syslog counts). Without a PRI these stay empty.
- **RFC 5424** fields ``log.syslog.version``, ``log.syslog.msgid``, ``log.syslog.procid`` (when
  not a number; a number becomes ``process.pid``) go to ``extra``; the structured data is kept
  raw in ``syslog.structured_data`` and each parameter as
  ``log.syslog.structured_data.<SD-ID>.<name>`` (escapes removed, a repeated key keeps its first
  value). A byte-order mark before MSG is dropped.
- ``message repeated N times: [ MSG ]`` is analysed as MSG, with ``syslog.repeated`` = N; the
  event still counts once.
- ``event.module`` is ``system``; ``event.dataset`` is ``system.auth`` for authentication
  programs (sshd, sudo, su, login, the shadow-utils account tools, systemd-logind, polkitd, ...),
  for any line written through a PAM module (so cron's PAM sessions are auth, its ``CMD`` lines
  are not) and for the auth/authpriv facilities; otherwise ``system.syslog``.

Message analysis (``_RULES``: one RE2 pattern per message shape, first match wins) sets
``event.action``, ``event.outcome``, ``event.category``/``event.type`` (ECS allowed values; the
schema keeps one value each, so ``user_created`` is ``iam``/``creation``), ``user.name``,
``source.ip`` (or ``source.domain`` for a host name), ``source.port`` and
``process.command_line``. Actions: ``ssh_login`` (Accepted/Failed METHOD), ``ssh_invalid_user``,
``ssh_disconnect`` (outcome left empty), ``ssh_protocol_error``, ``ssh_reverse_mapping_failed``,
``ssh_too_many_failures`` and ``pam_auth_failure`` — the last two are *summaries or PAM echoes*
of attempts sshd/su/sudo already log one by one (``Failed password``, ``FAILED SU``, ``N
incorrect password attempts``), so they get their own action to keep "count failed ssh_login"
honest; query ``event.category:authentication AND event.outcome:failure`` to see them all.
Then ``sudo`` (``user.name`` = invoking user, ``sudo.target_user``; a reason such as ``user NOT
in sudoers`` makes it a failure), ``su``, ``login``, ``session_opened``/``session_closed`` (PAM
sessions; ``cron_session_opened``/``cron_session_closed`` for cron), ``session_started``/
``session_removed`` (systemd-logind), ``cron_command``, ``user_created``, ``user_deleted``,
``user_changed``, ``user_added_to_group``, ``group_created``, ``group_deleted`` and
``password_changed``. For PAM ``authentication failure`` lines ``user.name`` is the requesting
user (``ruser``) when PAM names one (su, sudo), else the account tried (``user=``, sshd);
both stay in ``extra`` (``pam.ruser``, ``pam.user``). Any other line is still a parsed event,
with ``event.action`` empty.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from loglens.parse.base import ParseContext, Parser, Sample, share_matching, sql_string
from loglens.parse.json_fields import extra_sql
from loglens.parse.timestamps import iso_to_utc, yearless_to_utc
from loglens.schema import FIELD_BY_NAME, Kind, quote_ident

# --- headers ------------------------------------------------------------------------------------

_BSD_TIME = r"[A-Z][a-z]{2} +\d{1,2} \d{2}:\d{2}:\d{2}(?:\.\d{1,6})?"
_ISO_TIME = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:[Zz]|[+-]\d{2}:?\d{2})?"

# (?s): a record may hold a newline (a JSON element, a hostile line); it belongs to the message.
_RFC3164 = rf"(?s)^(?:<(\d{{1,3}})>)?(?:({_BSD_TIME})|({_ISO_TIME}))(?: +(.*))?$"
_RFC3164_FIELDS = ["pri", "bsd", "iso", "rest"]
# The host is any token that is not itself a tag (no brackets, no trailing colon).
_TAGGED = (
    r"(?s)^(?:([^\s\[\]]*[^\s:\[\]]) +)?([^\s:\[\]]+)(?: (\d[^\s:\[\]]*))?"
    r"(?:\[(\d+)\])?: ?(.*)$"
)
_TAGGED_FIELDS = ["host", "tag", "version", "pid", "msg"]
_UNTAGGED = r"(?s)^(\S+)(?: +(.*))?$"

_RFC5424_START = r"^<\d{1,3}>\d{1,2} "
_RFC5424 = r"(?s)^<(\d{1,3})>(\d{1,2}) (\S+) (\S+) (\S+) (\S+) (\S+)(?: (.*))?$"
_RFC5424_FIELDS = ["pri", "version", "ts", "host", "app", "procid", "msgid", "rest"]
_SD_NAME = r'[^\s\]"=]+'
_SD_PARAM = rf'({_SD_NAME})="((?:[^"\\]|\\.)*)"'
_SD_ELEMENT = rf'\[({_SD_NAME})((?: +{_SD_NAME}="(?:[^"\\]|\\.)*")*) *\]'
_SD_AND_MSG = rf'(?s)^(-|(?:\[{_SD_NAME}(?: +{_SD_NAME}="(?:[^"\\]|\\.)*")* *\])+)(?: (.*))?$'

# --- message envelopes --------------------------------------------------------------------------

_REPEATED = r"(?s)^message repeated (\d+) times: \[ ?(.*?)\]$"
_PAM_PREFIX = r"(?s)^(pam_[\w-]+)\(([^\s:()]+):(\w+)\): (.*)$"
_PAM_TAG = r"^([^()]+)\((pam_[\w-]+)\)$"
_IP_SHAPE = r"^(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9A-Fa-f]*:[0-9A-Fa-f:.]*)$"

_FACILITIES = [
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron",
    "authpriv", "ftp", "ntp", "security", "console", "solaris-cron",
    "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
]  # fmt: skip
_SEVERITIES = ["emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"]
_AUTH_FACILITIES = (4, 10)

_SSHD = ("sshd", "sshd-session", "sshd-auth")
_ACCOUNT_TOOLS = (
    "useradd", "adduser", "userdel", "deluser", "usermod", "groupadd", "addgroup",
    "groupdel", "delgroup", "groupmod", "gpasswd", "passwd", "chpasswd", "chage", "chsh", "chfn",
)  # fmt: skip
_AUTH_PROGRAMS = (
    *_SSHD, *_ACCOUNT_TOOLS, "sudo", "su", "doas", "pkexec", "login", "systemd-logind",
    "polkitd", "polkit-agent-helper-1", "pam", "unix_chkpwd", "gdm-password",
)  # fmt: skip
_CRON = ("cron", "crond")

# --- sniffing -----------------------------------------------------------------------------------

_SNIFF = re.compile(
    rf"^(?:<\d{{1,3}}>)?{_BSD_TIME} \S"
    rf"|^(?:<\d{{1,3}}>)?{_ISO_TIME} (?:\S+ )?[^\s:\[\]]+(?:\[\d+\])?: "
    r"|^<\d{1,3}>\d{1,2} \S+ \S+ \S+ \S+ \S+ (?:-|\[)"
)


# --- message rules ------------------------------------------------------------------------------

SOURCE_ADDRESS = "source.address"
"""Pseudo target of a rule: an address-shaped value becomes source.ip, a name source.domain."""


@dataclass(frozen=True)
class MessageRule:
    """One message shape: where it applies, its RE2 pattern and what it sets.

    ``pattern`` uses named groups (``(?P<user>...)``); ``fields`` maps an ECS column, an
    ``extra`` key or ``source.address`` to a SQL template in which ``{group}`` is the group's
    text (NULL when empty or when the pattern has no such group). The constants (action,
    category, type, outcome) apply when it matches; ``outcome_sql`` (a template) replaces
    ``outcome`` when the outcome depends on the text.
    """

    action: str
    when: str
    pattern: str
    category: str
    type: str
    outcome: str | None
    fields: dict[str, str] = field(default_factory=dict)
    outcome_sql: str | None = None

    def group_names(self) -> list[str]:
        """Names for every capture group in order (unnamed groups get a placeholder)."""
        compiled = re.compile(self.pattern)
        by_index = {index: name for name, index in compiled.groupindex.items()}
        return [by_index.get(i, f"_g{i}") for i in range(1, compiled.groups + 1)]


def _programs(names: Iterable[str]) -> str:
    """SQL condition: the (lower-cased) program is one of ``names``."""
    return "prog IN (" + ", ".join(sql_string(n) for n in names) + ")"


_IS_SSHD = _programs(_SSHD)
_IS_PAM = "pam_module IS NOT NULL"
_IS_CRON_PAM = f"{_IS_PAM} AND lower(pam_service) IN ('cron', 'crond')"
_PORT = r"(?: port (?P<port>\d+))?"
_SSH_USER = r"(?:(?:authenticating|invalid) user (?P<user>\S*) )?"
_PAM_KV = (
    r"logname=(?P<logname>\S*) +uid=\d* +euid=\d* +tty=(?P<tty>\S*)"
    r" +ruser=(?P<ruser>\S*) +rhost=(?P<src>\S*)(?: +user=(?P<user>\S*))?"
)
_PAM_FIELDS = {
    "user.name": "coalesce({ruser}, {user})",
    SOURCE_ADDRESS: "{src}",
    "pam.user": "{user}",
    "pam.ruser": "{ruser}",
    "pam.logname": "{logname}",
    "pam.tty": "{tty}",
}
_ADDR = {"user.name": "{user}", SOURCE_ADDRESS: "{src}", "source.port": "{port}"}
_SESSION_OPENED = (
    r"^session opened for user (?P<user>[^\s(]+)(?:\(uid=(?P<uid>\d+)\))?"
    r"(?: by (?P<by>[^\s(]*)(?:\(uid=(?P<by_uid>\d+)\))?)?"
)
_SESSION_CLOSED = r"^session closed for user (?P<user>[^\s(]+)"
_SESSION_FIELDS = {
    "user.name": "{user}",
    "user.id": "{uid}",
    "pam.opened_by": "{by}",
    "pam.opened_by_uid": "{by_uid}",
}
_SUDO = (
    r"^\s*(?P<user>[^\s:]+) : (?:(?P<reason>[^;=]+?) ; )?(?:TTY=(?P<tty>[^;]*?) ; )?"
    r"(?:PWD=(?P<pwd>[^;]*?) ; )?(?:USER=(?P<target>[^;]*?) ; )?(?:GROUP=(?P<group>[^;]*?) ; )?"
    r"(?:TSID=[^;]*? ; )?(?:ENV=[^;]*? ; )?COMMAND=(?P<command>.*)$"
)

# Order matters: the first rule whose program condition and pattern match wins.
# MessageRule(action, when, pattern, category, type, outcome, fields[, outcome_sql=...])
_RULES: tuple[MessageRule, ...] = (
    # sshd: logins
    MessageRule(
        "ssh_login", _IS_SSHD,
        r"^Accepted (?P<method>\S+) for (?P<user>.*?) from (?P<src>\S+) port (?P<port>\d+)"
        r"(?: ssh2)?(?:: (?P<key_type>\S+) (?P<fingerprint>\S+))?",
        "authentication", "start", "success",
        {**_ADDR, "ssh.method": "{method}", "ssh.key_type": "{key_type}",
         "ssh.key_fingerprint": "{fingerprint}"},
    ),
    MessageRule(
        "ssh_login", _IS_SSHD,
        r"^Failed (?P<method>\S+) for (?P<invalid>invalid user )?(?P<user>.*?) from (?P<src>\S+)"
        r" port (?P<port>\d+)",
        "authentication", "start", "failure",
        {**_ADDR, "ssh.method": "{method}",
         "ssh.invalid_user": "CASE WHEN {invalid} IS NOT NULL THEN true END"},
    ),
    MessageRule(
        "ssh_invalid_user", _IS_SSHD,
        rf"^Invalid user (?P<user>.*?) from (?P<src>\S+){_PORT}",
        "authentication", "start", "failure", _ADDR,
    ),
    # sshd: summaries of failures already logged one by one
    MessageRule(
        "ssh_too_many_failures", _IS_SSHD,
        r"^(?:error: )?maximum authentication attempts exceeded for (?:invalid user )?"
        rf"(?P<user>.*?) from (?P<src>\S+){_PORT}",
        "authentication", "info", "failure", _ADDR,
    ),
    MessageRule(
        "ssh_too_many_failures", _IS_SSHD,
        rf"^Disconnecting:? {_SSH_USER}(?:(?P<src>[^\s:]+){_PORT}: )?"
        r"Too many authentication failures(?: for (?:invalid user )?(?P<user2>\S+))?",
        "authentication", "info", "failure",
        {**_ADDR, "user.name": "coalesce({user}, {user2})"},
    ),
    MessageRule(
        "ssh_too_many_failures", _IS_SSHD,
        rf"^PAM (?P<count>\d+) more authentication failures?; {_PAM_KV}",
        "authentication", "info", "failure",
        {**_PAM_FIELDS, "pam.more_failures": "TRY_CAST({count} AS BIGINT)"},
    ),
    # sshd: connection ends
    MessageRule(
        "ssh_disconnect", _IS_SSHD,
        rf"^Connection (?:closed|reset) by {_SSH_USER}(?P<src>[^\s\[]+){_PORT}",
        "session", "end", None, _ADDR,
    ),
    MessageRule(
        "ssh_disconnect", _IS_SSHD,
        rf"^Disconnected from (?:(?:authenticating |invalid )?user (?P<user>\S*) )?"
        rf"(?P<src>[^\s\[]+){_PORT}",
        "session", "end", None, _ADDR,
    ),
    MessageRule(
        "ssh_disconnect", _IS_SSHD,
        rf"^(?:error: )?Received disconnect from (?P<src>\S+?){_PORT}: ?(?P<code>\d+): "
        r"(?P<reason>.*?)(?: \[preauth\])?$",
        "session", "end", None,
        {**_ADDR, "ssh.disconnect_code": "TRY_CAST({code} AS BIGINT)",
         "ssh.disconnect_reason": "{reason}"},
    ),
    # sshd: protocol errors (scanners, old clients)
    MessageRule(
        "ssh_protocol_error", _IS_SSHD,
        rf"^Did not receive identification string from (?P<src>\S+){_PORT}",
        "network", "protocol", "failure", _ADDR,
    ),
    MessageRule(
        "ssh_protocol_error", _IS_SSHD,
        rf"^Bad protocol version identification '(?P<detail>.*)' from (?P<src>\S+){_PORT}",
        "network", "protocol", "failure", {**_ADDR, "ssh.client_version": "{detail}"},
    ),
    MessageRule(
        "ssh_protocol_error", _IS_SSHD,
        rf"^Unable to negotiate with {_SSH_USER}(?P<src>\S+){_PORT}: (?P<detail>.*?)"
        r"(?: \[preauth\])?$",
        "network", "protocol", "failure", {**_ADDR, "ssh.error": "{detail}"},
    ),
    MessageRule(
        "ssh_protocol_error", _IS_SSHD,
        rf"^Protocol major versions differ for (?P<src>\S+?):?{_PORT}(?:: (?P<detail>.*))?$",
        "network", "protocol", "failure", {**_ADDR, "ssh.error": "{detail}"},
    ),
    MessageRule(
        "ssh_protocol_error", _IS_SSHD,
        rf"^(?:banner exchange|ssh_dispatch_run_fatal): Connection from {_SSH_USER}"
        rf"(?P<src>\S+){_PORT}: (?P<detail>.*?)(?: \[preauth\])?$",
        "network", "protocol", "failure", {**_ADDR, "ssh.error": "{detail}"},
    ),
    MessageRule(
        "ssh_protocol_error", _IS_SSHD,
        r"^(?:error: )?kex_exchange_identification: (?P<detail>.*)$",
        "network", "protocol", "failure", {"ssh.error": "{detail}"},
    ),
    MessageRule(
        "ssh_reverse_mapping_failed", _IS_SSHD,
        r"^reverse mapping checking getaddrinfo for (?P<domain>\S+) \[(?P<src>[^\]]+)\] failed",
        "network", "info", None, {SOURCE_ADDRESS: "{src}", "source.domain": "{domain}"},
    ),
    MessageRule(
        "ssh_reverse_mapping_failed", _IS_SSHD,
        r"^Address (?P<src>\S+) maps to (?P<domain>\S+), but this does not map back",
        "network", "info", None, {SOURCE_ADDRESS: "{src}", "source.domain": "{domain}"},
    ),
    # PAM, any program
    MessageRule(
        "pam_auth_failure", _IS_PAM, rf"^authentication failure; {_PAM_KV}",
        "authentication", "start", "failure", _PAM_FIELDS,
    ),
    MessageRule(
        "cron_session_opened", _IS_CRON_PAM, _SESSION_OPENED,
        "session", "start", "success", _SESSION_FIELDS,
    ),
    MessageRule(
        "cron_session_closed", _IS_CRON_PAM, _SESSION_CLOSED,
        "session", "end", "success", {"user.name": "{user}"},
    ),
    MessageRule(
        "session_opened", _IS_PAM, _SESSION_OPENED,
        "session", "start", "success", _SESSION_FIELDS,
    ),
    MessageRule(
        "session_closed", _IS_PAM, _SESSION_CLOSED,
        "session", "end", "success", {"user.name": "{user}"},
    ),
    MessageRule(
        "password_changed", _IS_PAM, r"^password changed for (?P<user>\S+)",
        "iam", "change", "success", {"user.name": "{user}"},
    ),
    # sudo
    MessageRule(
        "sudo", _programs(["sudo"]), _SUDO,
        "process", "start", None,
        {"user.name": "{user}", "process.command_line": "{command}",
         "sudo.target_user": "{target}", "sudo.target_group": "{group}", "sudo.tty": "{tty}",
         "sudo.pwd": "{pwd}", "sudo.reason": "{reason}"},
        outcome_sql="CASE WHEN {reason} IS NULL THEN 'success' ELSE 'failure' END",
    ),
    # su
    MessageRule(
        "su", _programs(["su"]),
        r"^(?P<failed>FAILED SU )?\(to (?P<target>[^)]+)\) (?P<user>\S+) on (?P<tty>\S+)",
        "authentication", "start", None,
        {"user.name": "{user}", "su.target_user": "{target}", "su.tty": "{tty}"},
        outcome_sql="CASE WHEN {failed} IS NULL THEN 'success' ELSE 'failure' END",
    ),
    MessageRule(
        "su", _programs(["su"]),
        r"^(?:(?P<ok>Successful)|FAILED) su for (?P<target>\S+) by (?P<user>\S+)",
        "authentication", "start", None,
        {"user.name": "{user}", "su.target_user": "{target}"},
        outcome_sql="CASE WHEN {ok} IS NULL THEN 'failure' ELSE 'success' END",
    ),
    MessageRule(
        "su", _programs(["su"]), r"^(?P<sign>[+-]) (?P<tty>\S+) (?P<user>[^:\s]+):(?P<target>\S+)$",
        "authentication", "start", None,
        {"user.name": "{user}", "su.target_user": "{target}", "su.tty": "{tty}"},
        outcome_sql="CASE WHEN {sign} = '+' THEN 'success' ELSE 'failure' END",
    ),
    # login
    MessageRule(
        "login", _programs(["login"]),
        r"^FAILED LOGIN \((?P<count>\d+)\) on '(?P<tty>[^']*)'(?: from '(?P<src>[^']*)')?"
        r" FOR '(?P<user>[^']*)', (?P<reason>.*)$",
        "authentication", "start", "failure",
        {"user.name": "{user}", SOURCE_ADDRESS: "{src}", "login.tty": "{tty}",
         "login.failures": "TRY_CAST({count} AS BIGINT)", "login.reason": "{reason}"},
    ),
    MessageRule(
        "login", _programs(["login"]), r"^ROOT LOGIN +(?:ON|on) '?(?P<tty>[^'\s]+)",
        "authentication", "start", "success", {"user.name": "'root'", "login.tty": "{tty}"},
    ),
    # cron
    MessageRule(
        "cron_command", _programs(_CRON), r"^\((?P<user>[^)]+)\) CMD \((?P<command>.*)\)$",
        "process", "start", "success",
        {"user.name": "{user}", "process.command_line": "{command}"},
    ),
    # systemd-logind
    MessageRule(
        "session_started", _programs(["systemd-logind"]),
        r"^New session (?P<session>\S+) of user (?P<user>.+)\.$",
        "session", "start", "success", {"user.name": "{user}", "session.id": "{session}"},
    ),
    MessageRule(
        "session_removed", _programs(["systemd-logind"]), r"^Removed session (?P<session>\S+?)\.$",
        "session", "end", "success", {"session.id": "{session}"},
    ),
    # shadow-utils account management
    MessageRule(
        "user_created", _programs(_ACCOUNT_TOOLS),
        r"^new user: name=(?P<user>[^,]+), UID=(?P<uid>\d+), GID=(?P<gid>\d+),"
        r" home=(?P<home>[^,]*), shell=(?P<shell>[^,]*)(?:, from=(?P<from>.*))?$",
        "iam", "creation", "success",
        {"user.name": "{user}", "user.id": "{uid}", "group.id": "{gid}",
         "useradd.home": "{home}", "useradd.shell": "{shell}", "useradd.from": "{from}"},
    ),
    MessageRule(
        "group_created", _programs(_ACCOUNT_TOOLS),
        r"^new group: name=(?P<group>[^,]+), GID=(?P<gid>\d+)",
        "iam", "creation", "success", {"group.name": "{group}", "group.id": "{gid}"},
    ),
    MessageRule(
        "user_deleted", _programs(_ACCOUNT_TOOLS), r"^delete user '(?P<user>[^']+)'",
        "iam", "deletion", "success", {"user.name": "{user}"},
    ),
    MessageRule(
        "group_deleted", _programs(_ACCOUNT_TOOLS),
        r"^(?:removed group '(?P<group>[^']+)' owned by '[^']*'"
        r"|group '(?P<group2>[^']+)' removed)$",
        "iam", "deletion", "success", {"group.name": "coalesce({group}, {group2})"},
    ),
    MessageRule(
        "user_added_to_group", _programs(_ACCOUNT_TOOLS),
        r"^(?:add|adding user) '(?P<user>[^']+)' to group '(?P<group>[^']+)'",
        "iam", "change", "success", {"user.name": "{user}", "group.name": "{group}"},
    ),
    MessageRule(
        "user_changed", _programs(_ACCOUNT_TOOLS),
        r"^(?:change user '(?P<user>[^']+)' (?P<what>.+)|(?P<lock>lock|unlock) user "
        r"'(?P<user2>[^']+)' password)$",
        "iam", "change", "success",
        {"user.name": "coalesce({user}, {user2})",
         "usermod.change": "coalesce({what}, {lock} || ' password')"},
    ),
    MessageRule(
        "password_changed", _programs(_ACCOUNT_TOOLS),
        r"^password for '(?P<user>[^']+)' changed by '(?P<by>[^']+)'",
        "iam", "change", "success", {"user.name": "{user}", "passwd.changed_by": "{by}"},
    ),
)  # fmt: skip


# --- the parser -----------------------------------------------------------------------------------


class SyslogParser(Parser):
    """RFC 3164 / RFC 5424 syslog with auth message analysis (sshd, sudo, su, cron, ...)."""

    name = "syslog"
    description = "Syslog (RFC 3164, rsyslog high precision, RFC 5424), auth.log analysis"

    def sniff(self, sample: Sample) -> float:
        """Share of records with a syslog header (BSD or RFC 3339 time, or RFC 5424)."""
        return share_matching(sample.records, _SNIFF.match)

    def sql(self, ctx: ParseContext) -> str:
        """One SELECT over ``batch``: headers, envelopes, rules, then ECS columns."""
        ctes = [_headers_sql(ctx), _envelopes_sql(), _rules_sql(), _extras_sql()]
        return f"""
WITH {",".join(ctes)}
{_ok_select_sql()}
UNION ALL BY NAME
SELECT record_no, ts AS "@timestamp", 'system' AS "event.module",
       'system.syslog' AS "event.dataset", err AS _error
FROM checked WHERE err IS NOT NULL
"""


def _names(names: list[str]) -> str:
    """A SQL list of group names for ``regexp_extract``."""
    return "[" + ", ".join(sql_string(n) for n in names) + "]"


def _headers_sql(ctx: ParseContext) -> str:
    """CTEs ``split`` (regex structs) and ``checked`` (one header per record, plus ``err``)."""
    bsd_ts = yearless_to_utc("nullif(b.bsd, '')", ctx)
    iso_ts = iso_to_utc("nullif(b.iso, '')", ctx)
    ts_5424 = iso_to_utc("nullif(f.ts, '-')", ctx)
    # a line with a host but no "TAG:" (or neither, then the first word is taken as the host)
    untagged = (
        f"CASE WHEN t.tag = '' THEN regexp_extract(b.rest, {sql_string(_UNTAGGED)}, "
        "['host', 'msg']) END"
    )
    return f"""
kinds AS (
    SELECT record_no, raw, regexp_matches(raw, {sql_string(_RFC5424_START)}) AS is5424
    FROM batch
),
split AS (
    SELECT record_no, raw, is5424,
           CASE WHEN is5424 THEN regexp_extract(raw, {sql_string(_RFC5424)},
                                                {_names(_RFC5424_FIELDS)}) END AS f,
           CASE WHEN NOT is5424 THEN regexp_extract(raw, {sql_string(_RFC3164)},
                                                    {_names(_RFC3164_FIELDS)}) END AS b
    FROM kinds
),
split2 AS (
    SELECT *,
           CASE WHEN f.rest <> '' THEN regexp_extract(f.rest, {sql_string(_SD_AND_MSG)},
                                                      ['sd', 'msg']) END AS s,
           CASE WHEN b.rest <> '' THEN regexp_extract(b.rest, {sql_string(_TAGGED)},
                                                      {_names(_TAGGED_FIELDS)}) END AS t
    FROM split
),
unified AS (
    SELECT record_no, raw, is5424,
           coalesce(nullif(f.pri, ''), nullif(b.pri, '')) AS pri_text,
           CASE WHEN is5424 THEN {ts_5424}
                WHEN b.bsd <> '' THEN {bsd_ts}
                ELSE {iso_ts} END AS ts,
           CASE WHEN is5424 THEN nullif(f.ts, '-') ELSE nullif(b.bsd || b.iso, '') END AS ts_text,
           CASE WHEN is5424 THEN nullif(f.host, '-')
                WHEN t.tag <> '' THEN nullif(t.host, '')
                ELSE nullif(u.host, '') END AS host,
           CASE WHEN is5424 THEN nullif(f.app, '-') ELSE nullif(t.tag, '') END AS tag,
           CASE WHEN is5424 THEN nullif(f.procid, '-') ELSE nullif(t.pid, '') END AS procid,
           CASE WHEN is5424 THEN nullif(f.msgid, '-') END AS msgid,
           CASE WHEN is5424 THEN f.version END AS version,
           CASE WHEN is5424 AND s.sd NOT IN ('', '-') THEN s.sd END AS sd,
           nullif(CASE WHEN is5424 THEN
                           CASE WHEN starts_with(s.msg, chr(65279)) THEN substr(s.msg, 2)
                                ELSE s.msg END
                       WHEN t.tag <> '' THEN t.msg
                       ELSE u.msg END, '') AS msg,
           CASE
               WHEN is5424 AND f.pri = '' AND len(string_split(raw, ' ')) < 7
                   THEN 'RFC 5424 header has ' || len(string_split(raw, ' ')) || ' of its 7 '
                        || 'fields (<PRI>VERSION TIMESTAMP HOSTNAME APP-NAME PROCID MSGID)'
               WHEN is5424 AND f.pri = ''
                   THEN 'RFC 5424 header fields must be separated by single spaces'
               WHEN is5424 AND f.rest <> '' AND s.sd = ''
                   THEN 'RFC 5424 structured data is neither ''-'' nor [SD-ID name="value" ...]'
               WHEN NOT is5424 AND b.bsd = '' AND b.iso = ''
                   THEN 'not a syslog line: no ''Mmm dd HH:MM:SS'' or RFC 3339 timestamp '
                        || 'at the start'
               WHEN NOT is5424 AND coalesce(b.rest, '') = ''
                   THEN 'syslog line has nothing after the timestamp'
           END AS shape_error
    FROM (SELECT *, {untagged} AS u FROM split2)
),
checked AS (
    SELECT *,
           TRY_CAST(pri_text AS INTEGER) AS pri,
           coalesce(shape_error,
                    CASE WHEN TRY_CAST(pri_text AS INTEGER) > 191
                         THEN 'syslog PRI <' || pri_text || '> is out of range 0-191' END,
                    CASE WHEN ts IS NULL AND ts_text IS NOT NULL
                         THEN 'syslog timestamp ''' || ts_text || ''' is not a valid date' END
           ) AS err
    FROM unified
)"""


def _envelopes_sql() -> str:
    """CTE ``bodies``: program name, ``message repeated`` and PAM prefixes peeled off.

    Each regular expression runs only on records whose cheap prefix test passes.
    """
    return f"""
tags AS (
    SELECT *,
           CASE WHEN contains(tag, '(') THEN regexp_extract(tag, {sql_string(_PAM_TAG)},
                                                           ['program', 'module']) END AS tp,
           CASE WHEN starts_with(msg, 'message repeated ')
                THEN regexp_extract(msg, {sql_string(_REPEATED)}, ['count', 'inner']) END AS rep
    FROM checked WHERE err IS NULL
),
named AS (
    SELECT *,
           coalesce(nullif(tp.program, ''), tag) AS tag_program,
           CASE WHEN rep.count <> '' THEN rep.inner ELSE msg END AS inner_msg
    FROM tags
),
pams AS (
    SELECT *,
           CASE WHEN contains(tag_program, '/')
                THEN nullif(regexp_extract(tag_program, '([^/]*)$', 1), '')
                ELSE tag_program END AS program,
           CASE WHEN starts_with(inner_msg, 'pam_')
                THEN regexp_extract(inner_msg, {sql_string(_PAM_PREFIX)},
                                    ['module', 'service', 'type', 'body']) END AS pp
    FROM named
),
bodies AS (
    SELECT *,
           lower(program) AS prog,
           coalesce(nullif(pp.module, ''), nullif(tp.module, '')) AS pam_module,
           CASE WHEN pp.module <> '' THEN pp.service WHEN tp.module <> '' THEN program END
               AS pam_service,
           nullif(pp.type, '') AS pam_type,
           CASE WHEN pp.module <> '' THEN pp.body ELSE inner_msg END AS body
    FROM pams
)"""


def _rules_sql() -> str:
    """CTEs ``ruled`` (first matching rule number) and ``matched`` (its capture struct)."""
    chain = "\n".join(
        f"                WHEN {rule.when} AND regexp_matches(body, {sql_string(rule.pattern)}) "
        f"THEN {number}"
        for number, rule in enumerate(_RULES, start=1)
    )
    structs = ",\n".join(
        f"           CASE WHEN rule_no = {number} THEN regexp_extract(body, "
        f"{sql_string(rule.pattern)}, {_names(rule.group_names())}) END AS m{number}"
        for number, rule in enumerate(_RULES, start=1)
    )
    return f"""
ruled AS (
    SELECT *, CASE
{chain}
           END AS rule_no
    FROM bodies
),
matched AS (
    SELECT *,
{structs}
    FROM ruled
)"""


_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def _fill(template: str, number: int) -> str:
    """A rule's template with ``{group}`` replaced by that group's text (NULL when empty).

    A group the rule's pattern lacks is NULL, so field maps can be shared between shapes.
    """
    groups = set(_RULES[number - 1].group_names())

    def group_sql(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in groups:
            return "CAST(NULL AS VARCHAR)"
        return f"nullif(m{number}.{quote_ident(name)}, '')"

    return _PLACEHOLDER.sub(group_sql, template)


def _by_rule(values: dict[int, str]) -> str:
    """CASE over the matched rule number; NULL when no rule (or no rule with a value) matched."""
    if not values:
        return "CAST(NULL AS VARCHAR)"
    branches = " ".join(f"WHEN {number} THEN {expr}" for number, expr in values.items())
    return f"CASE rule_no {branches} END"


def _rule_targets() -> dict[str, dict[int, str]]:
    """Every output a rule sets → {rule number: SQL}."""
    targets: dict[str, dict[int, str]] = {}
    for number, rule in enumerate(_RULES, start=1):
        for target, template in rule.fields.items():
            targets.setdefault(target, {})[number] = _fill(template, number)
    return targets


def _constant(attribute: str) -> str:
    """A per-rule constant (action, category, type, outcome) as a CASE over the rule number."""
    values = {}
    for number, rule in enumerate(_RULES, start=1):
        value = getattr(rule, attribute)
        if attribute == "outcome" and rule.outcome_sql is not None:
            values[number] = _fill(rule.outcome_sql, number)
        elif value is not None:
            values[number] = sql_string(value)
    return _by_rule(values)


def _typed(target: str, expr: str) -> str:
    """Numbers (ports) as BIGINT; text as it is."""
    kind = FIELD_BY_NAME[target].kind
    return f"TRY_CAST({expr} AS BIGINT)" if kind is Kind.LONG else expr


def _targets() -> tuple[str, dict[str, str]]:
    """The rules' outputs that are columns, as SQL: (source address, {ECS column: SQL})."""
    targets = _rule_targets()
    address = _by_rule(targets.pop(SOURCE_ADDRESS))
    columns = {
        target: _typed(target, _by_rule(values))
        for target, values in targets.items()
        if target in FIELD_BY_NAME
    }
    return address, columns


def _rule_extra_sql() -> str:
    """The matched rule's ``extra`` keys as a JSON object (one small object per rule)."""
    objects = {}
    for number, rule in enumerate(_RULES, start=1):
        pairs = [
            (key, _fill(template, number))
            for key, template in rule.fields.items()
            if key != SOURCE_ADDRESS and key not in FIELD_BY_NAME
        ]
        if pairs:
            objects[number] = extra_sql(pairs)
    return _by_rule(objects)


def _extras_sql() -> str:
    """CTEs ``addressed``, ``structured`` and ``extras``: source address, SD params, ``extra``.

    ``extra`` is merged from small objects that are only built when they can hold something
    (a PRI, an RFC 5424 header, a PAM line, a matched rule): one object with every possible key
    per record costs several times more.
    """
    address, _ = _targets()
    parts = [
        f"CASE WHEN {condition} THEN {extra_sql(pairs)} END"
        for condition, pairs in _header_extras()
    ]
    parts += [_rule_extra_sql(), _SD_JSON]
    merged = ", ".join(f"coalesce({part}, '{{}}')" for part in parts)
    element = sql_string(_SD_ELEMENT)
    return f"""
addressed AS (
    SELECT *, {address} AS address,
           regexp_extract_all(sd, {element}, 1) AS sd_ids,
           regexp_extract_all(sd, {element}, 2) AS sd_params
    FROM matched
),
structured AS (
    SELECT *,
           CASE WHEN sd IS NOT NULL THEN {_SD_KEYS} END AS sd_keys,
           CASE WHEN sd IS NOT NULL THEN {_SD_VALUES} END AS sd_values
    FROM addressed
),
extras AS (
    SELECT *, nullif(CAST(json_merge_patch('{{}}', {merged}) AS VARCHAR), '{{}}') AS extra
    FROM structured
)"""


def _ok_select_sql() -> str:
    """The SELECT of parsed records: every ECS column and ``extra``."""
    _, columns = _targets()
    ip_shape = sql_string(_IP_SHAPE)
    domain = columns.pop("source.domain", "NULL")
    columns_sql = ",\n       ".join(f"{expr} AS {quote_ident(t)}" for t, expr in columns.items())
    auth_facilities = ", ".join(str(code) for code in _AUTH_FACILITIES)
    return f"""
SELECT record_no,
       ts AS "@timestamp",
       'event' AS "event.kind",
       'system' AS "event.module",
       CASE WHEN prog IN ({", ".join(sql_string(p) for p in _AUTH_PROGRAMS)})
                 OR pam_module IS NOT NULL OR pri // 8 IN ({auth_facilities})
            THEN 'system.auth' ELSE 'system.syslog' END AS "event.dataset",
       {_constant("category")} AS "event.category",
       {_constant("type")} AS "event.type",
       {_constant("action")} AS "event.action",
       {_constant("outcome")} AS "event.outcome",
       {_SEVERITY_NAME} AS "log.level",
       pri % 8 AS "event.severity",
       host AS "host.name",
       CASE WHEN regexp_matches(host, {ip_shape}) THEN host END AS "host.ip",
       program AS "process.name",
       TRY_CAST(procid AS BIGINT) AS "process.pid",
       CASE WHEN contains(tag_program, '/') THEN tag_program END AS "process.executable",
       CASE WHEN regexp_matches(address, {ip_shape}) THEN address END AS "source.ip",
       coalesce({domain}, CASE WHEN NOT regexp_matches(address, {ip_shape}) THEN address END)
           AS "source.domain",
       {columns_sql},
       msg AS message,
       extra,
       CAST(NULL AS VARCHAR) AS _error
FROM extras"""


_FACILITY_NAME = f"[{', '.join(sql_string(f) for f in _FACILITIES)}][pri // 8 + 1]"
_SEVERITY_NAME = f"[{', '.join(sql_string(s) for s in _SEVERITIES)}][pri % 8 + 1]"


def _header_extras() -> list[tuple[str, list[tuple[str, str]]]]:
    """``extra`` keys from the header and envelopes, grouped by when they can be non-null."""
    return [
        (
            "pri IS NOT NULL",
            [
                ("log.syslog.priority", "pri"),
                ("log.syslog.facility.code", "pri // 8"),
                ("log.syslog.facility.name", _FACILITY_NAME),
                ("log.syslog.severity.code", "pri % 8"),
                ("log.syslog.severity.name", _SEVERITY_NAME),
            ],
        ),
        (
            "is5424",
            [
                ("log.syslog.version", "TRY_CAST(version AS BIGINT)"),
                ("log.syslog.msgid", "msgid"),
                (
                    "log.syslog.procid",
                    "CASE WHEN TRY_CAST(procid AS BIGINT) IS NULL THEN procid END",
                ),
                ("syslog.structured_data", "sd"),
            ],
        ),
        ("tag IS DISTINCT FROM program", [("log.syslog.appname", "tag")]),
        ("rep.count <> ''", [("syslog.repeated", "TRY_CAST(rep.count AS BIGINT)")]),
        (
            "pam_module IS NOT NULL",
            [
                ("pam.module", "pam_module"),
                ("pam.service", "pam_service"),
                ("pam.type", "pam_type"),
            ],
        ),
        (f"{_IS_SSHD} AND ends_with(body, '[preauth]')", [("ssh.preauth", "true")]),
    ]


_SD_PARAM_SQL = sql_string(_SD_PARAM)
_SD_KEYS = (
    "flatten(list_transform(range(1, len(sd_ids) + 1), lambda i: list_transform("
    f"regexp_extract_all(sd_params[i], {_SD_PARAM_SQL}, 1), "
    "lambda p: 'log.syslog.structured_data.' || sd_ids[i] || '.' || p)))"
)
# Parameter values with the RFC 5424 escapes (\" \\ \]) undone.
_SD_VALUES = (
    "flatten(list_transform(sd_params, lambda ps: list_transform("
    f"regexp_extract_all(ps, {_SD_PARAM_SQL}, 2), "
    "lambda v: regexp_replace(v, '\\\\([\"\\\\\\]])', '\\1', 'g'))))"
)
# A key repeated (invalid, but possible in hostile input) keeps its first value.
_SD_JSON = (
    "CASE WHEN len(sd_keys) > 0 THEN '{' || array_to_string(list_transform(list_filter("
    "range(1, len(sd_keys) + 1), lambda i: list_position(sd_keys, sd_keys[i]) = i), "
    "lambda i: to_json(sd_keys[i]) || ':' || to_json(sd_values[i])), ',') || '}' END"
)
