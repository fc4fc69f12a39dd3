"""Browsing mDNS with python-zeroconf: the I/O half of discovery.

zeroconf calls back on its own thread, which must not block; service details are
resolved on a small pool of our own threads instead.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import ifaddr
from zeroconf import IPVersion, ServiceBrowser, ServiceStateChange, Zeroconf

from fleet.discovery.records import SERVICE_TYPES, ServiceRecord
from fleet.errors import FleetError

log = logging.getLogger(__name__)


def interface_addresses(choice: str | None) -> list[str]:
    """The addresses zeroconf should bind: those of `choice` (an interface name or an IP
    address), or every non-loopback IPv4 address when no choice is given."""
    adapters = ifaddr.get_adapters()
    if choice:
        try:
            ipaddress.ip_address(choice)
            return [choice]
        except ValueError:
            pass
        for adapter in adapters:
            if adapter.nice_name == choice or adapter.name == choice:
                found = [ip.ip for ip in adapter.ips if isinstance(ip.ip, str)]
                if found:
                    return found
                raise FleetError(f"interface {choice} has no IPv4 address")
        names = ", ".join(sorted(a.nice_name for a in adapters))
        raise FleetError(f"no interface called {choice}; interfaces here: {names}")
    return [
        ip.ip
        for adapter in adapters
        for ip in adapter.ips
        if isinstance(ip.ip, str) and not ip.ip.startswith("127.")
    ]


class Browser:
    """Collects resolved service records until closed; `on_change` hears of each change."""

    def __init__(
        self,
        interfaces: list[str],
        *,
        types: tuple[str, ...] = SERVICE_TYPES,
        resolve_timeout: float = 2.0,
        on_change: Callable[[], None] = lambda: None,
    ) -> None:
        self.interfaces = interfaces
        self.types = types
        self.resolve_timeout = resolve_timeout
        self.on_change = on_change
        self._records: dict[tuple[str, str], ServiceRecord] = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(4, thread_name_prefix="fleet-mdns")
        self._zc: Zeroconf | None = None
        self._browser: ServiceBrowser | None = None

    def start(self) -> Browser:
        try:
            self._zc = Zeroconf(interfaces=self.interfaces, ip_version=IPVersion.V4Only)
        except OSError as exc:
            self._pool.shutdown()
            raise FleetError(
                f"cannot listen for mDNS on {', '.join(self.interfaces)}: {exc.strerror or exc}"
            ) from None
        self._browser = ServiceBrowser(self._zc, list(self.types), handlers=[self._changed])
        return self

    def _changed(
        self, zeroconf: Zeroconf, service_type: str, name: str, state_change: ServiceStateChange
    ) -> None:
        if state_change is ServiceStateChange.Removed:
            with self._lock:
                gone = self._records.pop((service_type, name), None)
            if gone is not None:
                self.on_change()
            return
        try:
            self._pool.submit(self._resolve, service_type, name)
        except RuntimeError:
            pass  # closing: no new work

    def _resolve(self, service_type: str, name: str) -> None:
        zc = self._zc
        if zc is None:
            return
        try:
            info = zc.get_service_info(service_type, name, int(self.resolve_timeout * 1000))
        except Exception as exc:  # noqa: BLE001 - one odd record must not stop discovery
            log.debug("resolving %s failed: %s", name, exc)
            info = None
        if info is None:
            record = ServiceRecord(service_type, name)
        else:
            record = ServiceRecord(
                type=service_type,
                name=name,
                server=info.server,
                addresses=tuple(info.parsed_scoped_addresses()),
                port=info.port,
                properties=dict(info.properties or {}),
            )
        with self._lock:
            self._records[(service_type, name)] = record
        self.on_change()

    def records(self) -> list[ServiceRecord]:
        with self._lock:
            return list(self._records.values())

    def close(self) -> None:
        if self._browser is not None:
            self._browser.cancel()
        self._pool.shutdown(wait=True, cancel_futures=True)
        if self._zc is not None:
            self._zc.close()
            self._zc = None

    def __enter__(self) -> Browser:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
