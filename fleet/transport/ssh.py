"""One SSH connection per robot per run, reached and trusted the way OpenSSH would.

Where to connect (`ssh_target`) is resolved as `ssh` resolves it when Ansible runs it:
the destination is `ansible_host` (else the inventory name); `ansible_port`, `ansible_user`,
`ansible_ssh_private_key_file` and the `-o`/`-J`/`-i`/`-p`/`-l` options found in
`ansible_ssh_common_args` and `ansible_ssh_extra_args` come first, as command-line options
do; `~/.ssh/config` fills in the rest, with paramiko's SSHConfig (Host and Match blocks,
first value wins, %-tokens). `fleet forget` uses the same resolution.

How to get there: directly; through `ProxyJump` hops (each hop resolved through ssh config
in turn, as `ssh -J` resolves them, its host key checked like a robot's, its connection
opened once per run and shared by every robot behind it: see `Session`); or through a
`ProxyCommand` run by /bin/sh, as ssh runs it.

Whom to trust: the server's host key is decided by `fleet.transport.trust` before any
authentication, under every name the connection is known by. paramiko's SSHClient is given
no host keys of its own, so its missing-host-key policy runs for every key: that policy is
the single decision point, and writes known_hosts only for a new key with --accept-new.

Why paramiko alone and not fabric (which the design names): fabric's `Connection(gateway=)`
would open the hops, but fleet needs its own host-key decision on every hop (fabric
defaults to AutoAddPolicy for the gateways it builds), one connection per robot shared
with the Docker API (`docker_api` takes the SSHClient), gateway connections shared across
all robots of a run, Ansible's ssh arguments, and secrets on stdin; fabric's config layer
is paramiko's SSHConfig underneath. What fabric adds for ProxyJump is one `direct-tcpip`
channel per hop (`Connection.tunnel`), a few lines here.
"""

from __future__ import annotations

import functools
import getpass
import logging
import os
import re
import select
import shlex
import socket
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import paramiko

from fleet.discovery.resolve import ResolveError, Resolver
from fleet.errors import FleetError, RobotError, Unreachable
from fleet.inventory.model import Host
from fleet.transport.known_hosts import KnownHosts, PublicKey
from fleet.transport.trust import (
    KnownName,
    Outcome,
    decide_host_key,
    preferred_key_types,
    record_new_key,
    refusal,
)

log = logging.getLogger(__name__)

MAX_JUMP_DEPTH = 8  # hops of hops: deeper than this is a loop in ~/.ssh/config
MAX_OUTPUT = 4 * 1024 * 1024  # what one command on a robot may answer, per stream


@dataclass(frozen=True)
class SSHOptions:
    known_hosts: Path = field(default_factory=lambda: Path("~/.ssh/known_hosts").expanduser())
    ssh_config: Path = field(default_factory=lambda: Path("~/.ssh/config").expanduser())
    accept_new: bool = False
    connect_timeout: float = 10.0
    keepalive: int = 15
    password: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class SSHTarget:
    """Where, as whom and through what to connect: the inventory first, then ssh config.

    `name` is the inventory name (a hop's name as written in ProxyJump), `destination`
    what ssh config was looked up with (`ansible_host` or the name), `hostname` where the
    TCP connection goes (ssh config's HostName, else the destination). `proxy_jumps` are
    the hops in order; each hop carries its own route in its own `proxy_jumps`."""

    name: str
    hostname: str
    port: int
    user: str
    key_files: tuple[str, ...]
    destination: str = ""
    host_key_alias: str | None = None
    identities_only: bool = False
    use_agent: bool = True
    proxy_jumps: tuple[SSHTarget, ...] = ()
    proxy_command: str | None = None

    @property
    def direct(self) -> bool:
        return not self.proxy_jumps and self.proxy_command is None

    def known_names(self, address: str | None = None) -> tuple[KnownName, ...]:
        """The names its host key is checked and recorded under. With HostKeyAlias only the
        alias, without a port (OpenSSH's rule); else the inventory name, the destination,
        the HostName and the address reached, each as [name]:port off port 22."""
        if self.host_key_alias:
            return (KnownName(self.host_key_alias.lower()),)
        names = [self.name, self.destination or self.name, self.hostname, address]
        return tuple(KnownName(n.lower(), self.port) for n in dict.fromkeys(names) if n)

    def forget_patterns(self, address: str | None = None) -> tuple[str, ...]:
        """Every known_hosts name `fleet forget` removes: the alias and all the others."""
        plain = replace(self, host_key_alias=None).known_names(address)
        alias = (KnownName(self.host_key_alias.lower()),) if self.host_key_alias else ()
        return tuple(dict.fromkeys(n.pattern for n in (*alias, *plain)))


# -- resolving a target: the inventory's options, then ~/.ssh/config --

# ssh's getopt string: which single-letter options take an argument.
_SSH_OPTIONS_WITH_ARGUMENT = set("bcDEeFIiJLlmOopQRSWw")
# ssh_config keywords fleet reads; other -o options in Ansible's arguments are ignored.
_READ_KEYWORDS = {
    "hostname": "HostName",
    "port": "Port",
    "user": "User",
    "identityfile": "IdentityFile",
    "identitiesonly": "IdentitiesOnly",
    "identityagent": "IdentityAgent",
    "hostkeyalias": "HostKeyAlias",
    "proxyjump": "ProxyJump",
    "proxycommand": "ProxyCommand",
}


def parse_ssh_args(text: str) -> list[tuple[str, str]]:
    """(ssh_config keyword, value) for the options fleet understands in an
    `ansible_ssh_common_args` string: `-J HOP`, `-o Key=Value`, `-i FILE`, `-p PORT`,
    `-l USER`. Anything else is logged at debug level and ignored."""
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise FleetError(f"cannot read the ssh arguments {text!r}: {exc}") from None
    found: list[tuple[str, str]] = []
    letters = {"J": "ProxyJump", "i": "IdentityFile", "p": "Port", "l": "User"}
    while words:
        word = words.pop(0)
        if not word.startswith("-") or word == "-":
            log.debug("ignoring %r in the ssh arguments", word)
            continue
        for index, letter in enumerate(word[1:], start=1):
            if letter not in _SSH_OPTIONS_WITH_ARGUMENT:
                continue  # a flag such as -q or -4: nothing fleet does differs
            value = word[index + 1 :] or (words.pop(0) if words else "")
            if letter == "o":
                found.extend(_ssh_option(value))
            elif letter in letters:
                found.append((letters[letter], value))
            else:
                log.debug("ignoring ssh option -%s %s", letter, value)
            break
    return found


def _ssh_option(text: str) -> list[tuple[str, str]]:
    match = re.fullmatch(r"\s*(\w+)\s*(?:=\s*|\s+)(.*)", text, re.DOTALL)
    if match is None or match.group(1).lower() not in _READ_KEYWORDS:
        log.debug("ignoring ssh option -o %s", text)
        return []
    return [(_READ_KEYWORDS[match.group(1).lower()], match.group(2).strip())]


def inventory_options(host: Host) -> list[tuple[str, str]]:
    """The host's variables as the ssh options Ansible passes, in Ansible's order (its
    own options before ansible_ssh_common_args and ansible_ssh_extra_args)."""
    options: list[tuple[str, str]] = []
    if host.port is not None:
        options.append(("Port", str(host.port)))
    if host.key_file:
        options.append(("IdentityFile", host.key_file))
    if host.user:
        options.append(("User", host.user))
    for variable in ("ansible_ssh_common_args", "ansible_ssh_extra_args"):
        if host.vars.get(variable):
            options.extend(parse_ssh_args(str(host.vars[variable])))
    return options


def _config_line(keyword: str, value: str) -> str:
    if any(c in value for c in "\r\n\0"):
        raise FleetError(f"the ssh option {keyword} contains a line break: {value[:40]!r}")
    # paramiko strips one pair of surrounding quotes, as ssh does: a path may hold spaces.
    return f'{keyword} "{value}"\n' if keyword == "IdentityFile" else f"{keyword} {value}\n"


def read_ssh_config(path: Path) -> str:
    """The config file's text ('' when there is none); FleetError when it cannot be used."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return ""
    except (OSError, UnicodeDecodeError) as exc:
        raise FleetError(f"cannot read {path}: {exc}") from None
    lookup_config(path, text, "fleet-check", [])
    return text


def lookup_config(
    path: Path, text: str, destination: str, options: Iterable[tuple[str, str]]
) -> paramiko.SSHConfigDict:
    """ssh config for `destination`, with `options` in front as command-line options are."""
    front = "".join(_config_line(k, v) for k, v in options)
    try:
        return paramiko.SSHConfig.from_text(front + text).lookup(destination)
    except (paramiko.ssh_exception.ConfigParseError, ValueError) as exc:
        raise FleetError(f"{path}: {exc}") from None
    except paramiko.ssh_exception.CouldNotCanonicalize as exc:
        raise FleetError(f"{path}: cannot canonicalize {exc}") from None


def ssh_target(host: Host, options: SSHOptions) -> SSHTarget:
    destination = str(host.vars.get("ansible_host") or host.name)
    text = read_ssh_config(options.ssh_config)
    config = lookup_config(options.ssh_config, text, destination, inventory_options(host))
    return _target(host.name, destination, config, options, text, depth=0)


def _target(
    name: str,
    destination: str,
    config: paramiko.SSHConfigDict,
    options: SSHOptions,
    text: str,
    depth: int,
    route: tuple[tuple[SSHTarget, ...], str | None] | None = None,
    seen: tuple[str, ...] = (),
) -> SSHTarget:
    try:
        port = int(config.get("port", 22))
    except ValueError:
        raise FleetError(f"{name}: port {config.get('port')!r} is not a number") from None
    if not 0 < port < 65536:
        raise FleetError(f"{name}: port {port} is out of range")
    identities_only = str(config.get("identitiesonly", "no")).lower() == "yes"
    agent = str(config.get("identityagent", "SSH_AUTH_SOCK"))
    if agent.lower() not in ("none", "ssh_auth_sock", "$ssh_auth_sock"):
        _warn_once(f"IdentityAgent {agent}: fleet uses only $SSH_AUTH_SOCK's agent")
    if route is None:
        route = _route(config, destination, options, text, depth, seen or (name,))
    jumps, command = route
    return SSHTarget(
        name=name,
        hostname=str(config["hostname"]),
        port=port,
        user=str(config.get("user") or getpass.getuser()),
        key_files=tuple(os.path.expanduser(str(k)) for k in config.get("identityfile") or []),
        destination=destination,
        host_key_alias=config.get("hostkeyalias") or None,
        identities_only=identities_only,
        use_agent=not identities_only and agent.lower() != "none",
        proxy_jumps=jumps,
        proxy_command=command,
    )


def _route(
    config: paramiko.SSHConfigDict,
    destination: str,
    options: SSHOptions,
    text: str,
    depth: int,
    seen: tuple[str, ...],
) -> tuple[tuple[SSHTarget, ...], str | None]:
    """ProxyJump or ProxyCommand, whichever ssh config gave first (paramiko's lookup keeps
    the order values were found in; ssh lets the first of the two win), or neither."""
    for key, value in config.items():
        if key == "proxyjump":
            if str(value).lower() == "none":
                return (), None
            return _jumps(str(value), options, text, depth, seen), None
        if key == "proxycommand":
            if value is None or str(value).lower() == "none":
                return (), None
            # paramiko expands ~ %h %p %r here; ssh (8.1 on) expands %n too. The values
            # land in a shell command: refuse shell syntax in them, as ssh 9.6 does.
            for what in (destination, config["hostname"], config.get("user") or ""):
                _check_shell_safe(str(what))
            return (), str(value).replace("%n", destination)
    return (), None


def _check_shell_safe(value: str) -> None:
    if not re.fullmatch(r"[A-Za-z0-9._@:-]*", value) or value.startswith("-"):
        raise FleetError(f"{value!r} would reach the ProxyCommand's shell: not a host or user name")


@functools.lru_cache(maxsize=64)
def _warn_once(message: str) -> None:
    log.warning("%s", message)


_JUMP = re.compile(
    r"(?:ssh://)?(?:(?P<user>[^@]+)@)?(?:\[(?P<v6>[^\]]+)\]|(?P<host>[^:@]+))(?::(?P<port>\d+))?"
)


def parse_jump(spec: str) -> tuple[str | None, str, int | None]:
    """`[ssh://][user@]host[:port]` (an IPv6 address in brackets) -> (user, host, port)."""
    match = _JUMP.fullmatch(spec.strip())
    if match is None:
        raise FleetError(f"ProxyJump: cannot read the hop {spec!r}")
    host = match.group("v6") or match.group("host")
    if not re.fullmatch(r"[A-Za-z0-9.:-]{1,253}", host) or host.startswith("-"):
        raise FleetError(f"ProxyJump: {host!r} is not a host name")
    port = int(match.group("port")) if match.group("port") else None
    return match.group("user"), host, port


def _jumps(
    spec: str, options: SSHOptions, text: str, depth: int, seen: tuple[str, ...]
) -> tuple[SSHTarget, ...]:
    """The hops of a ProxyJump, in order. The first is reached as its own ssh config says
    (it may have a ProxyJump of its own); each later one through the ones before it, as
    `ssh -J a,b,c` runs `ssh -J a,b -W %h:%p c`. `seen`: the hosts this chain is for."""
    if depth >= MAX_JUMP_DEPTH:
        raise FleetError(f"ProxyJump {spec}: more than {MAX_JUMP_DEPTH} hops deep")
    hops: list[SSHTarget] = []
    for hop in (part for part in spec.split(",") if part.strip()):
        user, host, port = parse_jump(hop)
        if host in seen:  # ssh: "jumphost loop via HOST"
            raise FleetError(f"ProxyJump loop via {host} (check ~/.ssh/config's Host blocks)")
        given = [("User", user)] if user else []
        given += [("Port", str(port))] if port else []
        config = lookup_config(options.ssh_config, text, host, given)
        route = (tuple(hops), None) if hops else None
        hops.append(_target(host, host, config, options, text, depth + 1, route, (*seen, host)))
    return tuple(hops)


# -- trusting the server's key --


class _HostKeyDecision(paramiko.MissingHostKeyPolicy):
    """Called by paramiko for every server key (the client holds no keys of its own),
    after key exchange and before authentication: the one place a key is trusted."""

    def __init__(
        self, known: KnownHosts, target: SSHTarget, names: Sequence[KnownName], accept_new: bool
    ) -> None:
        self.known, self.target, self.names, self.accept_new = known, target, names, accept_new

    def missing_host_key(self, client, hostname, key):  # noqa: ANN001 - paramiko's signature
        offered = PublicKey.of(key)
        decision = decide_host_key(self.known.entries(), self.names, offered, self.accept_new)
        if decision.outcome is Outcome.UNKNOWN and decision.accept:
            try:
                decision = record_new_key(self.known, self.names, offered)
            except ValueError as exc:
                raise Unreachable(f"will not record the host key: {exc}") from None
            except OSError as exc:
                raise Unreachable(
                    f"cannot record the host key in {self.known.path}: {exc.strerror or exc}"
                ) from None
            if decision.accept:
                log.info("trusted %s on first use under %s", offered.fingerprint, self.names)
        if not decision.accept:
            raise Unreachable(refusal(decision, self.target.name, offered, str(self.known.path)))


def _rsa_algorithms(key_type: str) -> list[str]:
    # An ssh-rsa key is negotiated as one of these signature algorithms.
    return ["rsa-sha2-512", "rsa-sha2-256", key_type] if key_type == "ssh-rsa" else [key_type]


def _transport_preferring(key_types: tuple[str, ...]) -> Callable[..., paramiko.Transport]:
    """A paramiko Transport that asks the server first for the key types known_hosts
    holds (ssh's order_hostkeyalgs): a robot with several host keys offers the known one
    instead of a new type that would be a refused change."""

    def make(sock: object, **kwargs: object) -> paramiko.Transport:
        transport = paramiko.Transport(sock, **kwargs)
        security = transport.get_security_options()
        available = list(security.key_types)
        wanted = [t for k in key_types for t in _rsa_algorithms(k) if t in available]
        security.key_types = wanted + [t for t in available if t not in wanted]
        return transport

    return make


# -- a connection --


@dataclass
class CommandResult:
    exit_status: int
    stdout: bytes
    stderr: bytes

    @property
    def text(self) -> str:
        return self.stdout.decode(errors="replace")


class Connection:
    """An open SSH connection to one robot (or hop), reused for everything a run does there."""

    def __init__(
        self,
        target: SSHTarget,
        address: str | None,
        client: paramiko.SSHClient,
        cleanup: Iterable[Callable[[], None]] = (),
    ) -> None:
        self.target = target
        self.address = address  # None when reached through a hop or a ProxyCommand
        self.client = client
        self._cleanup = list(cleanup)

    @property
    def transport(self) -> paramiko.Transport:
        transport = self.client.get_transport()
        if transport is None or not transport.is_active():
            raise Unreachable(f"the SSH connection to {self.target.name} closed")
        return transport

    @property
    def active(self) -> bool:
        transport = self.client.get_transport()
        return transport is not None and transport.is_active()

    def tunnel(self, host: str, port: int, timeout: float) -> paramiko.Channel:
        """A TCP connection from this host to host:port (what `ssh -W` and ProxyJump use)."""
        try:
            return self.transport.open_channel(
                "direct-tcpip", (host, port), ("127.0.0.1", 0), timeout=timeout
            )
        except paramiko.ChannelException as exc:
            raise Unreachable(
                f"{self.target.name} could not connect to {host}:{port}: {exc.text}"
            ) from None
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise Unreachable(
                f"{self.target.name} could not connect to {host}:{port}: {exc}"
            ) from None

    def run(
        self,
        command: str,
        stdin: bytes | None = None,
        timeout: float = 60,
        limit: int = MAX_OUTPUT,
        cancelled: threading.Event | None = None,
    ) -> CommandResult:
        """Run a shell command; stdin (e.g. a secret) goes over the channel, never in argv."""
        channel = self.transport.open_session(timeout=timeout)
        try:
            channel.exec_command(command)
            if stdin is not None:
                channel.sendall(stdin)
            channel.shutdown_write()
            return _collect(channel, time.monotonic() + timeout, command, limit, cancelled)
        finally:
            channel.close()

    def on_close(self, cleanup: Callable[[], None]) -> None:
        self._cleanup.append(cleanup)

    def close(self) -> None:
        self.client.close()
        for cleanup in reversed(self._cleanup):
            cleanup()
        self._cleanup.clear()

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _collect(
    channel: paramiko.Channel,
    deadline: float,
    command: str,
    limit: int,
    cancelled: threading.Event | None,
) -> CommandResult:
    """A command's output, at most `limit` bytes of each stream: a robot cannot make fleet
    hold an unbounded answer (a config.json pointed at /dev/zero)."""
    out, err = bytearray(), bytearray()
    name = command.split()[0] if command.split() else "command"
    while True:
        if channel.recv_ready():
            out += channel.recv(65536)
        elif channel.recv_stderr_ready():
            err += channel.recv_stderr(65536)
        elif channel.exit_status_ready():
            break
        else:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"command did not finish in time: {name}")
            if cancelled is not None and cancelled.is_set():
                raise RobotError(f"cancelled while {name} ran")
            select.select([channel], [], [], min(remaining, 0.5))
            continue
        if len(out) > limit or len(err) > limit:
            raise RobotError(f"{name} answered with more than {limit} bytes; stopped reading")
    return CommandResult(channel.recv_exit_status(), bytes(out), bytes(err))


class ProxyCommand:
    """`ProxyCommand` as ssh runs it: `/bin/sh -c "exec COMMAND"` with its stdin and stdout
    on one end of a socket pair (paramiko gets a real socket); its stderr is logged and its
    last lines explain a failure."""

    def __init__(self, command: str, label: str) -> None:
        ours, theirs = socket.socketpair()
        self.socket = ours
        self.stderr_tail: deque[str] = deque(maxlen=5)
        try:
            self.process = subprocess.Popen(
                ["/bin/sh", "-c", f"exec {command}"],
                stdin=theirs.fileno(),
                stdout=theirs.fileno(),
                stderr=subprocess.PIPE,
                close_fds=True,
            )
        except OSError as exc:
            ours.close()
            raise Unreachable(f"cannot run the ProxyCommand for {label}: {exc}") from None
        finally:
            theirs.close()
        self._reader = threading.Thread(
            target=self._read_stderr, args=(label,), name=f"fleet-proxy-{label}", daemon=True
        )
        self._reader.start()

    def _read_stderr(self, label: str) -> None:
        assert self.process.stderr is not None
        for raw in self.process.stderr:
            line = raw.decode(errors="replace").rstrip()[:300]
            self.stderr_tail.append(line)
            log.debug("ProxyCommand for %s: %s", label, line)

    def explain(self) -> str:
        self._reader.join(timeout=1)
        return f" (ProxyCommand said: {' | '.join(self.stderr_tail)})" if self.stderr_tail else ""

    def close(self) -> None:
        self.socket.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._reader.join(timeout=5)
        if self.process.stderr is not None:
            self.process.stderr.close()


HopOpener = Callable[[SSHTarget], Connection]


def _open_socket(
    target: SSHTarget, options: SSHOptions, resolver: Resolver, hops: HopOpener
) -> tuple[object, str | None, ProxyCommand | None]:
    """(socket-like, the address reached or None, the ProxyCommand to close or None)."""
    if target.proxy_jumps:
        last = target.proxy_jumps[-1]
        try:
            hop = hops(last)
        except Unreachable as exc:
            raise Unreachable(f"via {last.name}: {exc}") from None
        return hop.tunnel(target.hostname, target.port, options.connect_timeout), None, None
    if target.proxy_command is not None:
        proxy = ProxyCommand(target.proxy_command, target.name)
        return proxy.socket, None, proxy
    try:
        address = resolver.resolve(target.hostname)
    except ResolveError as exc:
        raise Unreachable(str(exc)) from None
    try:
        sock = socket.create_connection((address, target.port), timeout=options.connect_timeout)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        if isinstance(exc, TimeoutError | socket.timeout):
            reason = f"no answer within {options.connect_timeout:g} s"
        raise Unreachable(f"cannot connect to {address}:{target.port}: {reason}") from None
    return sock, address, None


def open_connection(
    target: SSHTarget,
    options: SSHOptions,
    resolver: Resolver,
    hops: HopOpener,
    is_hop: bool = False,
) -> Connection:
    """Reach `target` (through `hops` for its ProxyJump), check its host key, log in.
    A hop never gets the robots' password: it would hand it to another machine."""
    sock, address, proxy = _open_socket(target, options, resolver, hops)
    known = KnownHosts(options.known_hosts)
    names = target.known_names(address)
    client = paramiko.SSHClient()  # no host keys of its own: the policy sees every key
    client.set_missing_host_key_policy(_HostKeyDecision(known, target, names, options.accept_new))
    try:
        client.connect(
            hostname=target.hostname,
            port=target.port,
            username=target.user,
            key_filename=list(target.key_files) or None,
            password=None if is_hop else options.password,
            allow_agent=target.use_agent,
            # ssh tries ~/.ssh/id_* only when no IdentityFile is given.
            look_for_keys=not target.identities_only and not target.key_files,
            sock=sock,
            timeout=options.connect_timeout,
            banner_timeout=options.connect_timeout,
            auth_timeout=options.connect_timeout,
            transport_factory=_transport_preferring(preferred_key_types(known.entries(), names)),
        )
    except BaseException as exc:
        client.close()
        explanation = proxy.explain() if proxy is not None else ""
        if proxy is not None:
            proxy.close()
        if isinstance(sock, socket.socket | paramiko.Channel):
            sock.close()
        if isinstance(exc, Exception):
            raise _unreachable(exc, target, explanation) from None
        raise
    transport = client.get_transport()
    assert transport is not None
    transport.set_keepalive(options.keepalive)
    return Connection(target, address, client, [proxy.close] if proxy is not None else [])


def _unreachable(exc: Exception, target: SSHTarget, explanation: str) -> Exception:
    where = f"{target.user}@{target.name}"
    if isinstance(exc, Unreachable):
        return exc
    if isinstance(exc, paramiko.AuthenticationException):
        return Unreachable(
            f"authentication failed for {where} "
            "(is your key in the robot's authorized_keys? `fleet keys install` puts it there)"
        )
    if isinstance(exc, paramiko.SSHException | OSError | EOFError):
        if "No authentication methods available" in str(exc):
            return Unreachable(
                f"no key or password to log in to {where} with: set "
                "ansible_ssh_private_key_file, an IdentityFile in ~/.ssh/config, or use --ask-pass"
            )
        return Unreachable(f"SSH to {target.name} failed: {exc}{explanation}")
    return exc


class _OwnedHops:
    """Hops opened for one `connect()` outside a Session, closed with its connection."""

    def __init__(self, options: SSHOptions, resolver: Resolver) -> None:
        self.options, self.resolver = options, resolver
        self.opened: dict[SSHTarget, Connection] = {}

    def __call__(self, hop: SSHTarget) -> Connection:
        if hop not in self.opened:
            self.opened[hop] = open_connection(hop, self.options, self.resolver, self, True)
        return self.opened[hop]

    def close(self) -> None:
        for conn in reversed(list(self.opened.values())):
            conn.close()
        self.opened.clear()


def connect(
    host: Host, options: SSHOptions, resolver: Resolver, hops: HopOpener | None = None
) -> Connection:
    """Open `host`'s connection. `hops` opens (and may share) ProxyJump hops: a Session
    passes its own; without one the hops belong to this connection alone."""
    target = ssh_target(host, options)
    if hops is not None:
        return open_connection(target, options, resolver, hops)
    owned = _OwnedHops(options, resolver)
    try:
        conn = open_connection(target, options, resolver, owned)
    except BaseException:
        owned.close()
        raise
    conn.on_close(owned.close)
    return conn
