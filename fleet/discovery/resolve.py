"""Turning `NAME.local` into an address, with mDNS when the system resolver cannot.

Many laptops lack nss-mdns, so `socket.getaddrinfo("robot.local")` fails there even
though the robot answers mDNS. One resolver serves a whole run and caches its answers.
"""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path

from fleet.errors import FleetError


class ResolveError(FleetError):
    pass


def nss_resolves_local(nsswitch: str) -> bool:
    """Whether the `hosts:` line of an nsswitch.conf sends .local names to mDNS (nss-mdns)."""
    for line in nsswitch.splitlines():
        if line.strip().startswith("hosts:"):
            return "mdns" in line
    return False


def system_resolves_local(path: Path = Path("/etc/nsswitch.conf")) -> bool:
    try:
        return nss_resolves_local(path.read_text())
    except OSError:
        return False


def is_local_name(name: str) -> bool:
    return name.rstrip(".").lower().endswith(".local")


INTERFACE_ENV = "FLEET_MDNS_INTERFACE"


class Resolver:
    """`interfaces`: addresses to ask mDNS on; by default every interface, or the one
    interface (name or address) that FLEET_MDNS_INTERFACE names."""

    def __init__(self, timeout: float = 3.0, interfaces: list[str] | None = None) -> None:
        self.timeout = timeout
        if interfaces is None and os.environ.get(INTERFACE_ENV):
            from fleet.discovery.browse import interface_addresses

            interfaces = interface_addresses(os.environ[INTERFACE_ENV])
        self.interfaces = interfaces
        self._cache: dict[str, str] = {}
        self._lock = threading.Lock()
        self._zeroconf = None

    def resolve(self, name: str) -> str:
        """An address for `name`: itself when it is one, else the system resolver's
        answer, else (for *.local) mDNS's."""
        with self._lock:
            if name in self._cache:
                return self._cache[name]
        # Without nss-mdns the system resolver would ask unicast DNS about .local names,
        # which RFC 6762 keeps for mDNS: ask mDNS ourselves instead.
        local = is_local_name(name)
        address = None if local and not system_resolves_local() else self._system(name)
        if address is None and local:
            address = self._mdns(name)
        if address is None:
            if local:
                raise ResolveError(f"{name} did not answer mDNS within {self.timeout:g} s")
            raise ResolveError(f"cannot resolve {name}")
        with self._lock:
            self._cache[name] = address
        return address

    @staticmethod
    def _system(name: str) -> str | None:
        try:
            infos = socket.getaddrinfo(name, None, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError):
            return None
        addresses = [str(i[4][0]) for i in infos]
        ipv4 = [str(i[4][0]) for i in infos if i[0] == socket.AF_INET]
        return next(iter(ipv4 or addresses), None)

    def _mdns(self, name: str) -> str | None:
        from zeroconf import AddressResolver

        resolver = AddressResolver(name.rstrip(".") + ".")
        if not resolver.request(self._zc(), int(self.timeout * 1000)):
            return None
        addresses = resolver.parsed_scoped_addresses()
        ipv4 = [a for a in addresses if ":" not in a]
        return next(iter(ipv4 or addresses), None)

    def _zc(self):  # noqa: ANN202 - zeroconf is imported lazily: most runs never need it
        from zeroconf import Zeroconf

        with self._lock:
            if self._zeroconf is None:
                kwargs = {"interfaces": self.interfaces} if self.interfaces else {}
                try:
                    self._zeroconf = Zeroconf(**kwargs)
                except OSError as exc:
                    raise ResolveError(f"cannot use mDNS here: {exc.strerror or exc}") from None
            return self._zeroconf

    def close(self) -> None:
        with self._lock:
            if self._zeroconf is not None:
                self._zeroconf.close()
                self._zeroconf = None
