"""Browsing mDNS with python-zeroconf: the I/O half of discovery.

A browse's answers carry each service's SRV, TXT and address records along with its PTR
(RFC 6763 section 12), so zeroconf's cache holds all of a service as soon as its answer
is in. `records()` reads the services from the cache (python-zeroconf's threadsafe
reads), every PTR of the browsed types that has not expired: what answered is listed,
however far behind the browser's callbacks are. Only a service the cache lacks something
of is asked about, by a request on zeroconf's own event loop, all of them at once (a
bounded number in flight). The first design resolved each service with a fresh request
on a pool of four threads, each request a round trip through an event loop busy with a
hundred robots' answers: at 100 robots it listed about 20 in three seconds. Closing the
browser cancels what is still asked, so a browse lasts its timeout and no more.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import ipaddress
import logging
import threading
from collections.abc import Callable, Sequence

import ifaddr
from zeroconf import (
    BadTypeInNameException,
    DNSCache,
    IPVersion,
    ServiceBrowser,
    ServiceInfo,
    ServiceStateChange,
    Zeroconf,
    current_time_millis,
)
from zeroconf.asyncio import AsyncServiceInfo

from fleet.discovery.oneshot import OneShotQueries
from fleet.discovery.records import (
    SERVICE_TYPES,
    IPNetwork,
    ServiceRecord,
    checked,
)
from fleet.errors import FleetError
from fleet.names import shown

log = logging.getLogger(__name__)

MAX_SERVICES = 10_000  # 200 robots announce about 2 000; past this a flood is ignored
MAX_REQUESTS = 64  # requests in flight at once on zeroconf's loop

TYPE_PTR, CLASS_IN = 12, 1  # RFC 1035's numbers for a PTR record, in the Internet class

Key = tuple[str, str]  # (service type, instance name)


def record_from_cache(
    zc: Zeroconf, service_type: str, name: str, networks: Sequence[IPNetwork] | None = None
) -> tuple[ServiceRecord | None, bool]:
    """The checked record of one service from what the cache holds, and whether the cache
    held all of it (SRV, TXT and an address). None: the cache holds nothing usable, or
    what it holds is not what a responder sends (skipped, with a debug log line)."""
    try:
        info = ServiceInfo(service_type, name)
        complete = info.load_from_cache(zc)
    except (BadTypeInNameException, ValueError, UnicodeError) as exc:
        log.debug("skipping mDNS service %s: %s", shown(name), exc)
        return None, False
    return record_from_info(service_type, name, info, networks), complete


def services_in_cache(cache: DNSCache, types: tuple[str, ...]) -> list[Key]:
    """Every (type, instance name) whose PTR the cache holds and has not expired, at most
    MAX_SERVICES of them."""
    now = current_time_millis()
    found: list[Key] = []
    for service_type in types:
        for pointer in cache.get_all_by_details(service_type, TYPE_PTR, CLASS_IN):
            alias = getattr(pointer, "alias", None)
            if isinstance(alias, str) and not pointer.is_expired(now):
                found.append((service_type, alias))
    if len(found) > MAX_SERVICES:
        log.debug("%d mDNS services: only %d are read", len(found), MAX_SERVICES)
    return found[:MAX_SERVICES]


def record_from_info(
    service_type: str, name: str, info: ServiceInfo, networks: Sequence[IPNetwork] | None = None
) -> ServiceRecord | None:
    try:
        record = ServiceRecord(
            type=service_type,
            name=name,
            server=info.server,
            addresses=tuple(info.parsed_scoped_addresses()),
            port=info.port,
            properties=dict(info.properties or {}),
        )
    except (ValueError, UnicodeError) as exc:  # a TXT record zeroconf could not unpack
        log.debug("skipping mDNS service %s: %s", shown(name), exc)
        return None
    return checked(record, networks)


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


def local_networks(addresses: list[str]) -> dict[str, IPNetwork]:
    """The network of each of `addresses` on this machine's interfaces (a single address
    for one no interface holds), and every IPv6 network of the interfaces."""
    found: dict[str, IPNetwork] = {}
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            text = ip.ip if isinstance(ip.ip, str) else ip.ip[0]
            network = ipaddress.ip_network(f"{text}/{ip.network_prefix}", strict=False)
            if text in addresses or (network.version == 6 and not network.is_link_local):
                found[text] = network
    for address in addresses:
        found.setdefault(address, ipaddress.ip_network(address))
    return found


class Browser:
    """Browses until closed; `records()` are the checked records of the services seen so
    far. `on_change` hears of each change (on zeroconf's thread: it must return at once)."""

    def __init__(
        self,
        interfaces: list[str],
        *,
        types: tuple[str, ...] = SERVICE_TYPES,
        resolve_timeout: float = 2.0,
        on_change: Callable[[], None] = lambda: None,
        one_shot: bool = False,
    ) -> None:
        self.interfaces = interfaces
        self.one_shot = one_shot  # also ask one-shot: for a browse of seconds, not --watch
        self.types = types
        self.resolve_timeout = resolve_timeout  # one request's; close() ends them all
        self.on_change = on_change
        self._asked: dict[Key, concurrent.futures.Future[None]] = {}
        self._lock = threading.Lock()
        self._limit: asyncio.Semaphore | None = None  # made on zeroconf's loop
        self._zc: Zeroconf | None = None
        self._browser: ServiceBrowser | None = None
        self._one_shot: OneShotQueries | None = None
        self._networks = local_networks(interfaces)

    def start(self) -> Browser:
        try:
            self._zc = Zeroconf(interfaces=self.interfaces, ip_version=IPVersion.V4Only)
        except OSError as exc:
            raise FleetError(
                f"cannot listen for mDNS on {', '.join(self.interfaces)}: {exc.strerror or exc}"
            ) from None
        try:
            self._browser = ServiceBrowser(self._zc, list(self.types), handlers=[self._changed])
            if self.one_shot:
                self._one_shot = OneShotQueries(self._networks, self.types).start()
        except BaseException:
            self.close()  # __exit__ does not run when __enter__ raises
            raise
        return self

    def _changed(
        self, zeroconf: Zeroconf, service_type: str, name: str, state_change: ServiceStateChange
    ) -> None:
        key = (service_type, name)
        if state_change is ServiceStateChange.Removed:
            with self._lock:
                asked = self._asked.pop(key, None)
            if asked is not None:
                asked.cancel()
        else:
            record, complete = record_from_cache(zeroconf, *key)
            if record is not None and not complete:  # a refused record is not asked about
                self._ask(zeroconf, key)
        self.on_change()

    def _ask(self, zc: Zeroconf, key: Key) -> None:
        """Ask the network about a service the cache lacks part of, on zeroconf's loop."""
        with self._lock:
            loop = zc.loop
            if key in self._asked or len(self._asked) >= MAX_SERVICES or zc is not self._zc:
                return
            if loop is None or loop.is_closed():
                return
            try:
                asked = asyncio.run_coroutine_threadsafe(self._request(zc, key), loop)
            except RuntimeError:  # the loop is closing: no new work
                return
            self._asked[key] = asked

    async def _request(self, zc: Zeroconf, key: Key) -> None:
        """One request; its answers land in the cache, where records() reads them."""
        if self._limit is None:
            self._limit = asyncio.Semaphore(MAX_REQUESTS)
        try:
            async with self._limit:
                info = AsyncServiceInfo(*key)
                if await info.async_request(zc, self.resolve_timeout * 1000):
                    self.on_change()
        except (BadTypeInNameException, ValueError, UnicodeError, OSError) as exc:
            log.debug("asking about mDNS service %s failed: %s", shown(key[1]), exc)
        finally:
            with self._lock:
                self._asked.pop(key, None)

    def records(self) -> list[ServiceRecord]:
        """The checked record of every service in the cache that has not expired and of
        every one a one-shot reply told of, read now (as little as its name for one whose
        details have not come), with only the addresses on the networks browsed."""
        zc = self._zc
        if zc is None:
            return []
        networks = list(self._networks.values())
        found = [
            record_from_cache(zc, *key, networks)[0]
            for key in services_in_cache(zc.cache, self.types)
        ]
        if self._one_shot is not None:
            found += [checked(heard, networks) for heard in self._one_shot.records()]
        return [record for record in found if record is not None]

    def close(self) -> None:
        if self._one_shot is not None:
            self._one_shot.close()
            self._one_shot = None
        if self._browser is not None:
            self._browser.cancel()
            self._browser = None
        with self._lock:
            asked, self._asked = list(self._asked.values()), {}
        for request in asked:
            request.cancel()  # a browse lasts its timeout: what is still asked is dropped
        if self._zc is not None:
            self._zc.close()
            self._zc = None

    def __enter__(self) -> Browser:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
