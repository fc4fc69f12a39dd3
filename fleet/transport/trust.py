"""Whether to trust the host key a robot (or a bastion) offers: OpenSSH's decision, in one
pure function over known_hosts entries, taken before authentication and before anything
is written.

What OpenSSH does (sshconnect.c `check_host_key`, hostfile.c `check_hostkeys_by_key_or_type`,
checked against ssh 9.2 with `StrictHostKeyChecking=accept-new` on loopback):

- A name's plain entries either hold the offered key (trusted), or hold other keys, of the
  same type or *any other type* (changed: refused, accept-new included; ssh prints
  "REMOTE HOST IDENTIFICATION HAS CHANGED" and "Offending ECDSA key" for an ED25519 offer),
  or there are none (new: accept-new records it).
- A `@revoked` entry holding the offered key refuses it, whatever else is recorded.
- `@cert-authority` entries are used only for host certificates.
- On a port other than 22 a name is looked up as `[name]:port`; when that is new, a plain
  `name` entry holding the offered key is accepted (a different key there is ignored).
- With `HostKeyAlias` the alias alone is looked up and recorded, without a port.

fleet takes every name a connection is known by (inventory name, `ansible_host`, the
HostName from ssh config, the address reached; or the alias alone), and:
- refuses when any of them is changed or revoked (ssh, without CheckHostIP, looks only at
  the HostName; fleet's stricter rule keeps a robot's identity when mDNS or DHCP moves it,
  and catches an address now answered by another machine);
- refuses trust on first use when a `@cert-authority` entry covers a name: fleet does not
  verify host certificates, and ssh would have (ssh with accept-new records the plain key
  beside the CA line; fleet will not silently set that CA aside);
- treats a key `@revoked` under the portless name as revoked too (ssh's portless lookup
  ignores it);
- records a new key under all the names, on one line, only when none of them is known.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from fleet.transport.known_hosts import (
    Entry,
    KnownHosts,
    Marker,
    PublicKey,
    append_line,
    check_recordable,
    host_pattern,
    parse_known_hosts,
)


@dataclass(frozen=True)
class KnownName:
    """A name a host key is looked up under, with the port it is reached on."""

    host: str
    port: int = 22

    @property
    def pattern(self) -> str:
        return host_pattern(self.host, self.port)

    @property
    def portless(self) -> str | None:
        return self.host if self.port != 22 else None


class Outcome(enum.StrEnum):
    TRUSTED = "trusted"
    UNKNOWN = "unknown"
    CHANGED = "changed"
    REVOKED = "revoked"


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    accept: bool  # go on and authenticate
    write: tuple[str, ...] = ()  # host patterns to record the offered key under, one line
    name: str | None = None  # the name whose entry decided (changed, revoked, CA)
    line: int | None = None  # that entry's line in known_hosts
    cert_authority: bool = False  # unknown, but a @cert-authority line covers the name


@dataclass(frozen=True)
class _NameStatus:
    outcome: Outcome
    line: int | None = None
    cert_authority: int | None = None  # line of a covering @cert-authority entry


def _status(entries: Sequence[Entry], name: KnownName, offered: PublicKey) -> _NameStatus:
    patterns = [name.pattern] + ([name.portless] if name.portless else [])

    def covering(marker: Marker, candidates: Sequence[str]) -> list[Entry]:
        return [e for e in entries if e.marker is marker and any(map(e.matches, candidates))]

    revoked = [e for e in covering(Marker.REVOKED, patterns) if e.key == offered]
    if revoked:
        return _NameStatus(Outcome.REVOKED, revoked[0].line)
    plain = covering(Marker.NONE, [name.pattern])
    if plain:
        if any(e.key == offered for e in plain):
            return _NameStatus(Outcome.TRUSTED)
        return _NameStatus(Outcome.CHANGED, plain[0].line)
    if name.portless and any(e.key == offered for e in covering(Marker.NONE, [name.portless])):
        return _NameStatus(Outcome.TRUSTED)
    authorities = covering(Marker.CERT_AUTHORITY, patterns)
    return _NameStatus(Outcome.UNKNOWN, cert_authority=authorities[0].line if authorities else None)


def decide_host_key(
    entries: Sequence[Entry], names: Sequence[KnownName], offered: PublicKey, accept_new: bool
) -> Decision:
    """The decision for `offered` under every name in `names` (see the module's text)."""
    statuses = [(name, _status(entries, name, offered)) for name in names]
    for outcome in (Outcome.REVOKED, Outcome.CHANGED):
        for name, status in statuses:
            if status.outcome is outcome:
                return Decision(outcome, False, name=name.pattern, line=status.line)
    if any(status.outcome is Outcome.TRUSTED for _, status in statuses):
        return Decision(Outcome.TRUSTED, True)
    for name, status in statuses:
        if status.cert_authority is not None:
            return Decision(
                Outcome.UNKNOWN,
                False,
                name=name.pattern,
                line=status.cert_authority,
                cert_authority=True,
            )
    write = tuple(dict.fromkeys(name.pattern for name in names)) if accept_new else ()
    return Decision(Outcome.UNKNOWN, accept_new, write=write)


def preferred_key_types(entries: Sequence[Entry], names: Sequence[KnownName]) -> tuple[str, ...]:
    """Key types already recorded for these names, to ask the server for first (as ssh's
    order_hostkeyalgs does): a robot with several host keys then offers the one we know."""
    patterns = [n.pattern for n in names] + [n.portless for n in names if n.portless]
    recorded = (
        e.key.type for e in entries if e.marker is Marker.NONE and any(map(e.matches, patterns))
    )
    return tuple(dict.fromkeys(recorded))


def refusal(decision: Decision, robot: str, offered: PublicKey, known_hosts: str) -> str:
    """What to tell the user when `decision` refuses the key `robot` offered."""
    key = f"{offered.type} {offered.fingerprint}"
    where = f"{known_hosts} line {decision.line}"
    if decision.outcome is Outcome.REVOKED:
        return (
            f"the host key {decision.name} offered ({key}) is marked @revoked in {where}; "
            "refusing to connect"
        )
    if decision.outcome is Outcome.CHANGED:
        return (
            f"host key for {decision.name} has CHANGED ({where} holds another key; offered "
            f"{key}); refusing to connect, --accept-new included (if {robot} was re-flashed, "
            f"run `fleet forget {robot}` and connect again with --accept-new)"
        )
    if decision.cert_authority:
        return (
            f"no host key is recorded for {decision.name}, but {where} trusts a "
            f"@cert-authority for it, and fleet does not verify host certificates: it will "
            f"not trust {key} on first use (--accept-new included); record the robot's own "
            "key in known_hosts to connect"
        )
    return f"unknown host key ({key}); rerun with --accept-new to trust it on first use"


def record_new_key(known: KnownHosts, names: Sequence[KnownName], offered: PublicKey) -> Decision:
    """Trust `offered` on first use: decide again under the file's lock (another fleet, or
    another robot of this run, may have written meanwhile) and append one line for all
    names only if still none is known. Returns the decision taken under the lock."""
    patterns = [check_recordable(n.pattern) for n in names]
    with known.update() as update:
        text = update.current or ""
        decision = decide_host_key(parse_known_hosts(text).entries, names, offered, True)
        if decision.outcome is Outcome.UNKNOWN and decision.accept:
            update.write(append_line(text, offered, patterns))
    return decision
