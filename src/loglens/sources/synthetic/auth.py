"""The servers' auth log (sshd, sudo, CRON, systemd-logind), collected in one rsyslog file.

Volumes here are small (thousands of lines a day), so events are assembled one by one in
Python, which keeps each message readable next to the real line it imitates.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from loglens.sources.synthetic import catalog, clock, network
from loglens.sources.synthetic.clock import MINUTE_US, US, Period
from loglens.sources.synthetic.formats import AUTH_SCHEMA, CONN_SCHEMA, make_table
from loglens.sources.synthetic.population import SERVERS, SYSLOG_HOSTS, Population, User

MS = 1000
BRUTE_FORCE_TARGET = "bastion01"


Emit = Callable[[int, str], None]  # (instant, message) of one process


@dataclass
class AuthLog:
    """Auth lines and the SSH connections behind them, collected in any order."""

    ts: list[int] = field(default_factory=list)
    host: list[str] = field(default_factory=list)
    program: list[str] = field(default_factory=list)
    pid: list[int | None] = field(default_factory=list)
    message: list[str] = field(default_factory=list)
    ssh: list[pa.Table] = field(default_factory=list)

    def process(self, host: str, program: str, pid: int | None) -> Emit:
        """A writer of lines from one process (``pid`` None: the program logs none)."""

        def emit(ts: int, message: str) -> None:
            self.ts.append(ts)
            self.host.append(host)
            self.program.append(program)
            self.pid.append(pid)
            self.message.append(message)

        return emit

    def table(self) -> pa.Table:
        return make_table(
            AUTH_SCHEMA,
            ts=np.asarray(self.ts, dtype=np.int64),
            host=self.host,
            program=self.program,
            pid=pa.array(self.pid, type=pa.int64()),
            message=self.message,
        )

    def connections(self) -> pa.Table:
        parts = [t for t in self.ssh if t.num_rows]
        return pa.concat_tables(parts) if parts else CONN_SCHEMA.empty_table()

    def ssh_connection(
        self, rng: np.random.Generator, ts: int, peer: Peer, host: str, duration: int, tries: int
    ) -> None:
        """The conn.log row of an SSH connection: bytes grow with attempts and session time."""
        self.ssh.append(
            network.flows(
                rng,
                np.asarray([ts]),
                peer.ip,
                SERVERS[host],
                22,
                proto="tcp",
                service="ssh",
                duration=duration,
                orig_bytes=int(rng.integers(2_000, 3_000)) + 450 * tries + duration // 400,
                resp_bytes=int(rng.integers(2_500, 4_000)) + 350 * tries + duration // 100,
                history="ShAdDaFf",
                orig_p=np.asarray([peer.port]),
            )
        )


@dataclass(frozen=True)
class Peer:
    """The client end of an SSH connection."""

    ip: str
    port: int

    @property
    def text(self) -> str:
        return f"from {self.ip} port {self.port}"


def _peer(ip: str, rng: np.random.Generator) -> Peer:
    return Peer(ip, int(rng.integers(32768, 65536)))


def _pid(rng: np.random.Generator) -> int:
    return int(rng.integers(1000, 65000))


def baseline(
    pop: Population, period: Period, rate: float, rng: np.random.Generator
) -> tuple[pa.Table, pa.Table]:
    """Logins, sudo, cron jobs and internet SSH noise; returns auth lines and SSH conn rows."""
    log = AuthLog()
    _logins(log, pop, period, rate, rng)
    _sudo(log, pop, period, rate, rng)
    _cron(log, pop, period, rng)
    _ssh_noise(log, pop, period, rate, rng)
    return log.table(), log.connections()


def _instants(
    period: Period, profile: clock.Profile, peak: float, rng: np.random.Generator
) -> list[int]:
    counts = clock.minute_counts(period, profile, peak, rng)
    return [int(t) for t in clock.spread(period.start_us, counts, rng).tolist()]


def _session_opened(service: str, user: str, uid: int, by: str = "", by_uid: int = 0) -> str:
    return (
        f"pam_unix({service}:session): session opened for user {user}(uid={uid}) "
        f"by {by}(uid={by_uid})"
    )


def _logins(
    log: AuthLog, pop: Population, period: Period, rate: float, rng: np.random.Generator
) -> None:
    """Interactive SSH sessions of staff and automation, each opened and later closed."""
    users = pop.users
    weight = np.asarray([2.0 if u.automated else 3.0 if u.admin else 0.4 for u in users])
    logind = {
        h: log.process(h, "systemd-logind", int(rng.integers(500, 900))) for h in SYSLOG_HOSTS
    }
    session_id = {h: int(rng.integers(100, 900)) for h in SYSLOG_HOSTS}
    for ts in _instants(period, clock.OFFICE, 0.3 * rate, rng):
        user = users[int(rng.choice(len(users), p=weight / weight.sum()))]
        host = str(rng.choice(SYSLOG_HOSTS, p=[0.25, 0.3, 0.15, 0.15, 0.15]))
        peer, sshd = _peer(user.workstation, rng), log.process(host, "sshd", _pid(rng))
        by_key = user.automated or rng.random() < 0.8
        duration = int(min(8 * 3600, max(5, rng.lognormal(np.log(720), 1.0))) * US)
        typo = not by_key and rng.random() < 0.1
        if typo:
            sshd(
                ts - int(rng.integers(3, 15)) * US,
                f"Failed password for {user.name} {peer.text} ssh2",
            )
        if by_key:
            key = f"ED25519 {user.key_fingerprint}"
            sshd(ts, f"Accepted publickey for {user.name} {peer.text} ssh2: {key}")
        else:
            sshd(ts, f"Accepted password for {user.name} {peer.text} ssh2")
        sshd(ts + 12 * MS, _session_opened("sshd", user.name, user.uid))
        session_id[host] += 1
        logind[host](ts + 40 * MS, f"New session {session_id[host]} of user {user.name}.")
        end = ts + duration
        sshd(end, f"Received disconnect from {peer.ip} port {peer.port}:11: disconnected by user")
        sshd(end + 1 * MS, f"Disconnected from user {user.name} {peer.ip} port {peer.port}")
        sshd(end + 3 * MS, f"pam_unix(sshd:session): session closed for user {user.name}")
        logind[host](end + 9 * MS, f"Removed session {session_id[host]}.")
        log.ssh_connection(rng, ts - (15 * US if typo else US), peer, host, duration, 1 + typo)


def _sudo_lines(
    log: AuthLog, ts: int, host: str, user: User, tty: int, command: str, seconds: int
) -> None:
    # sudo logs without a pid and right-aligns the user name
    sudo = log.process(host, "sudo", None)
    pwd = f"/home/{user.name}"
    sudo(ts, f"{user.name:>8} : TTY=pts/{tty} ; PWD={pwd} ; USER=root ; COMMAND={command}")
    sudo(ts + 3 * MS, _session_opened("sudo", "root", 0, user.name, user.uid))
    sudo(ts + seconds * US, "pam_unix(sudo:session): session closed for user root")


def _sudo(
    log: AuthLog, pop: Population, period: Period, rate: float, rng: np.random.Generator
) -> None:
    staff = [u for u in pop.admins if not u.automated]
    for ts in _instants(period, clock.OFFICE, 0.2 * rate, rng):
        user = staff[int(rng.integers(0, len(staff)))]
        host = str(rng.choice(SYSLOG_HOSTS))
        command = str(rng.choice(catalog.SUDO_COMMANDS))
        _sudo_lines(
            log, ts, host, user, int(rng.integers(0, 4)), command, int(rng.integers(1, 120))
        )


@dataclass(frozen=True)
class CronJob:
    """A crontab entry: minutes and hours it fires at (None: every hour), who, what."""

    hosts: tuple[str, ...]
    minutes: tuple[int, ...]
    hours: tuple[int, ...] | None
    user: str
    uid: int
    command: str


_SESSIONCLEAN = (
    "[ -x /usr/lib/php/sessionclean ] && if [ ! -d /run/systemd/system ]; then "
    "/usr/lib/php/sessionclean; fi"
)


def _cron_jobs(pop: Population) -> tuple[CronJob, ...]:
    deploy = pop.user("deploy")
    every_10 = tuple(range(5, 60, 10))
    hosts = SYSLOG_HOSTS
    return (
        # Debian's /etc/crontab, including the three spaces cron logs verbatim
        CronJob(hosts, (17,), None, "root", 0, "   cd / && run-parts --report /etc/cron.hourly"),
        CronJob(hosts, (25,), (6,), "root", 0,
                "test -x /usr/sbin/anacron || ( cd / && run-parts --report /etc/cron.daily )"),
        CronJob(("web01",), (9, 39), None, "root", 0, _SESSIONCLEAN),
        CronJob(("db01",), every_10, None, "root", 0,
                "command -v debian-sa1 > /dev/null && debian-sa1 1 1"),
        CronJob(("db01",), (30,), (2,), "postgres", 114, "/usr/local/bin/pg_backup.sh --all"),
        CronJob(("build01",), (0, 15, 30, 45), None, deploy.name, deploy.uid,
                "/opt/ci/bin/poll-repos --quiet"),
    )  # fmt: skip


def _cron(log: AuthLog, pop: Population, period: Period, rng: np.random.Generator) -> None:
    """Scheduled jobs: strictly periodic, independent of the rate and of working hours."""
    minutes = clock.minute_times(period)
    minute_of_hour = (minutes // MINUTE_US) % 60
    hour = (minutes // clock.HOUR_US) % 24
    for job in _cron_jobs(pop):
        due = np.isin(minute_of_hour, job.minutes)
        if job.hours is not None:
            due &= np.isin(hour, job.hours)
        for host in job.hosts:
            for start in minutes[due].tolist():
                ts = int(start) + int(rng.integers(0, 900)) * MS
                cron = log.process(host, "CRON", int(rng.integers(10_000, 60_000)))
                cron(ts, _session_opened("cron", job.user, job.uid))
                cron(ts + 2 * MS, f"({job.user}) CMD ({job.command})")
                cron(
                    ts + int(rng.integers(40, 4000)) * MS,
                    f"pam_unix(cron:session): session closed for user {job.user}",
                )


@dataclass(frozen=True)
class Guess:
    """Password guesses on one SSH connection."""

    name: str
    exists: bool
    peer: Peer
    tries: int

    @property
    def who(self) -> str:
        return self.name if self.exists else f"invalid user {self.name}"


def _failed_attempts(sshd: Emit, t: int, guess: Guess, rng: np.random.Generator) -> int:
    """The guesses as sshd and pam_unix log them; returns the instant of the last line."""
    failure = (
        "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= "
        f"rhost={guess.peer.ip}"
    )
    if not guess.exists:
        sshd(t, f"Invalid user {guess.name} {guess.peer.text}")
    for _ in range(guess.tries):
        t += int(rng.integers(800, 3500)) * MS
        if guess.exists:
            sshd(t, f"{failure}  user={guess.name}")  # sic: pam_unix writes two spaces
        else:
            sshd(t, "pam_unix(sshd:auth): check pass; user unknown")
            sshd(t, failure)
        t += int(rng.integers(1500, 2500)) * MS
        sshd(t, f"Failed password for {guess.who} {guess.peer.text} ssh2")
    return t


def _closed(sshd: Emit, t: int, guess: Guess) -> None:
    who = f"authenticating user {guess.name}" if guess.exists else guess.who
    sshd(t, f"Connection closed by {who} {guess.peer.ip} port {guess.peer.port} [preauth]")


def _ssh_noise(
    log: AuthLog, pop: Population, period: Period, rate: float, rng: np.random.Generator
) -> None:
    """The exposed bastion gets an odd login attempt from the internet now and then."""
    local = {u.name for u in pop.users} | {"root"}
    host = BRUTE_FORCE_TARGET
    for ts in _instants(period, clock.FLAT, 0.02 * rate, rng):
        name = str(rng.choice(catalog.BRUTE_FORCE_NAMES))
        guess = Guess(name, name in local, _peer(str(rng.choice(pop.noise_sources)), rng),
                      int(rng.integers(0, 2)))  # fmt: skip
        sshd = log.process(host, "sshd", _pid(rng))
        end = _failed_attempts(sshd, ts, guess, rng) + int(rng.integers(50, 400)) * MS
        _closed(sshd, end, guess)
        log.ssh_connection(rng, ts - 300 * MS, guess.peer, host, end - ts + 400 * MS, guess.tries)


def brute_force(
    pop: Population, attacker: str, start_us: int, end_us: int, rng: np.random.Generator
) -> tuple[AuthLog, int, str | None]:
    """Hundreds of password guesses from one address, sometimes ending in a successful login.

    Returns the log, the number of failed passwords and the compromised account (or None).
    """
    log = AuthLog()
    host = BRUTE_FORCE_TARGET
    local = {u.name for u in pop.users} | {"root"}
    n_conns = int(rng.integers(130, 300))
    starts = np.sort(rng.integers(start_us, end_us - 3 * MINUTE_US, n_conns)).tolist()
    victim = str(rng.choice(["deploy", "erin", "oscar"])) if rng.random() < 0.4 else None
    failures = 0
    for i, ts in enumerate(starts):
        succeeds = victim is not None and i == n_conns - 1
        name = victim if victim and succeeds else str(rng.choice(catalog.BRUTE_FORCE_NAMES))
        guess = Guess(name, name in local, _peer(attacker, rng), int(rng.integers(1, 4)))
        sshd = log.process(host, "sshd", _pid(rng))
        t = _failed_attempts(sshd, ts, guess, rng)
        failures += guess.tries
        if succeeds:
            t += 2 * US
            sshd(t, f"Accepted password for {name} {guess.peer.text} ssh2")
            sshd(t + 10 * MS, _session_opened("sshd", name, pop.user(name).uid))
            t = min(end_us - US, t + int(rng.integers(30, 120)) * US)
            sshd(t, f"pam_unix(sshd:session): session closed for user {name}")
        else:
            if guess.tries > 1 and guess.exists:
                sshd(
                    t + 5 * MS,
                    f"PAM {guess.tries - 1} more authentication failures; logname= uid=0 euid=0 "
                    f"tty=ssh ruser= rhost={attacker}  user={name}",
                )
            t += int(rng.integers(20, 300)) * MS
            _closed(sshd, t, guess)
        log.ssh_connection(rng, ts - 200 * MS, guess.peer, host, t - ts + 300 * MS, guess.tries)
    return log, failures, victim


def backdoor_account(
    pop: Population, host: str, name: str, start_us: int, rng: np.random.Generator
) -> AuthLog:
    """A local account nobody asked for: created, given sudo, used as root within minutes."""
    log = AuthLog()
    uid = max(u.uid for u in pop.users if not u.automated) + 1
    user = User(name, uid, True, SERVERS[host], "")
    useradd, passwd, usermod, su = (
        log.process(host, program, int(pid))
        for program, pid in zip(
            ("useradd", "passwd", "usermod", "su"),
            sorted(rng.integers(20_000, 60_000, 4).tolist()),
            strict=True,
        )
    )
    t = start_us + int(rng.integers(5, 60)) * US
    useradd(t, f"new group: name={name}, GID={uid}")
    useradd(
        t + 4 * MS,
        f"new user: name={name}, UID={uid}, GID={uid}, home=/home/{name}, shell=/bin/bash, "
        "from=/dev/pts/1",
    )
    t += int(rng.integers(8, 30)) * US
    passwd(t, f"pam_unix(passwd:chauthtok): password changed for {name}")
    t += int(rng.integers(5, 20)) * US
    usermod(t, f"add '{name}' to group 'sudo'")
    usermod(t + 1 * MS, f"add '{name}' to shadow group 'sudo'")
    t += int(rng.integers(10, 40)) * US
    su(t, f"(to {name}) root on pts/1")
    su(t + 6 * MS, _session_opened("su-l", name, uid, "root", 0))
    for command in catalog.BACKDOOR_COMMANDS:
        t += int(rng.integers(20, 90)) * US
        _sudo_lines(log, t, host, user, 1, command, int(rng.integers(1, 20)))
    t += int(rng.integers(60, 120)) * US
    su(t, f"pam_unix(su-l:session): session closed for user {name}")
    return log
