"""One-shot mDNS queries (RFC 6762 section 5.1, "legacy unicast"): a query sent to the
mDNS group from an ordinary UDP port is answered by every responder at once, by unicast
to the asker alone, with the service's SRV, TXT and address records alongside its PTR.

Why `fleet discover` asks this way as well as browsing: a browse's multicast query makes
every robot multicast its answers, and every robot's responder then reads every other
robot's answers. At 100 robots that is 10 000 packets per query on the LAN (slow on
WiFi, where multicast goes at the lowest rate) and, on the lab's two cores, 5.5 CPU
seconds of avahi per `fleet discover`: answers came late and runs listed 67 to 100
robots. Asked one-shot, the same 100 robots answered within 60 ms for 0.07 CPU seconds.
The browse still runs beside it, for responders that answer only multicast and for a
robot whose one-shot answer was cut short (a reply is at most 512 bytes).

Each reply carries all of a service, so it is read into ServiceRecords as it arrives and
kept here: not queued for zeroconf's event loop, which under a hundred robots' multicast
answers ran seconds behind (a run took 94 replies and listed 62 robots). Responders cap
a one-shot reply's TTL at 10 s, so this is for a browse that lasts seconds, not --watch.
"""

from __future__ import annotations

import ipaddress
import logging
import random
import selectors
import socket
import threading
import time

from zeroconf import (
    DNSAddress,
    DNSIncoming,
    DNSOutgoing,
    DNSPointer,
    DNSQuestion,
    DNSService,
    DNSText,
)
from zeroconf.const import _CLASS_IN, _FLAGS_QR_QUERY, _TYPE_PTR

from fleet.discovery.records import IPNetwork, ServiceRecord
from fleet.names import is_ip_address

log = logging.getLogger(__name__)

MDNS_GROUP = ("224.0.0.251", 5353)
SCHEDULE = (0.0, 0.5, 1.5)  # seconds after the start at which the query is sent
MAX_PACKET = 9000  # RFC 6762 section 17: no mDNS packet is larger
MAX_REPLIES = 20_000  # replies taken per browse; past this a flood is dropped


def query_packets(types: tuple[str, ...], query_id: int) -> list[bytes]:
    """The one-shot query for the PTR records of `types`, under `query_id`."""
    out = DNSOutgoing(_FLAGS_QR_QUERY, multicast=False, id_=query_id)
    for service_type in types:
        out.add_question(DNSQuestion(service_type, _TYPE_PTR, _CLASS_IN))
    return out.packets()


def is_our_reply(message: DNSIncoming, source_port: int, query_id: int) -> bool:
    """A reply to our query: a valid response, from the mDNS port (RFC 6762 section 6.7),
    carrying our query's ID. Anything else reaching our port is ignored. (The ID and our
    port are no secret to the LAN, which sees the query: this only sorts out strays.)"""
    return (
        message.valid and message.is_response() and source_port == 5353 and message.id == query_id
    )


def on_link(source: str, network: IPNetwork) -> bool:
    """Whether a reply came from the network it was asked on (RFC 6762 section 11)."""
    try:
        return ipaddress.ip_address(source) in network
    except ValueError:
        return False


def txt_properties(text: bytes) -> dict[bytes, bytes | None]:
    """A TXT record's strings as zeroconf shows them: `key=value` -> {key: value}, a
    string without `=` -> {key: None}; the first of a repeated key wins (RFC 6763 6.4)."""
    found: dict[bytes, bytes | None] = {}
    at = 0
    while at < len(text):
        length = text[at]
        string = text[at + 1 : at + 1 + length]
        at += 1 + length
        key, sep, value = string.partition(b"=")
        found.setdefault(key, value if sep else None)
    return found


def _address(record: DNSAddress) -> str | None:
    try:
        family = socket.AF_INET if len(record.address) == 4 else socket.AF_INET6
        return socket.inet_ntop(family, record.address)
    except (OSError, ValueError):
        return None


def records_in_reply(message: DNSIncoming, types: tuple[str, ...]) -> list[ServiceRecord]:
    """The services of `types` one reply tells of, each with the SRV, TXT and addresses
    the same reply carries (unchecked: Browser.records() checks them with the rest)."""
    answers = message.answers()
    services = {r.key: r for r in answers if isinstance(r, DNSService)}
    texts = {r.key: r for r in answers if isinstance(r, DNSText)}
    addresses: dict[str, list[str]] = {}
    for record in answers:
        if isinstance(record, DNSAddress):
            address = _address(record)
            if address is not None:
                addresses.setdefault(record.key, []).append(address)
    found = []
    for pointer in answers:
        if not isinstance(pointer, DNSPointer) or pointer.key not in types:
            continue
        service = services.get(pointer.alias_key)
        text = texts.get(pointer.alias_key)
        found.append(
            ServiceRecord(
                type=pointer.key,
                name=pointer.alias,
                server=service.server if service else None,
                addresses=tuple(addresses.get(service.server_key, ())) if service else (),
                port=service.port if service else None,
                properties=txt_properties(text.text) if text else {},
            )
        )
    return found


class OneShotQueries:
    """Sends the one-shot query from each interface address (each with the network it is
    on) at SCHEDULE and keeps what the replies from that network tell, on a thread of its
    own, until closed; `records()` are the services heard of so far."""

    def __init__(
        self,
        networks: dict[str, IPNetwork],
        types: tuple[str, ...],
        *,
        schedule: tuple[float, ...] = SCHEDULE,
    ) -> None:
        self.types = types
        self.schedule = schedule
        self.query_id = random.randint(1, 0xFFFF)  # noqa: S311 - matching, not secrecy
        self._sockets: dict[socket.socket, IPNetwork] = {}
        for address, network in networks.items():
            sock = _socket(address)
            if sock is not None:
                self._sockets[sock] = network
        self._found: dict[tuple[str, str], ServiceRecord] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fleet-mdns-oneshot", daemon=True)
        self.replies = 0

    def start(self) -> OneShotQueries:
        if self._sockets:
            self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        for sock in self._sockets:
            sock.close()
        log.debug("one-shot mDNS queries: %d replies taken", self.replies)

    def _run(self) -> None:
        start = time.monotonic()
        pending = list(self.schedule)
        packets = query_packets(self.types, self.query_id)
        with selectors.DefaultSelector() as selector:  # select() stops at descriptor 1024
            for sock in self._sockets:
                selector.register(sock, selectors.EVENT_READ)
            while not self._stop.is_set():
                while pending and time.monotonic() - start >= pending[0]:
                    pending.pop(0)
                    self._send(packets)
                for key, _ in selector.select(0.05):
                    self._receive(key.fileobj)  # type: ignore[arg-type]

    def _send(self, packets: list[bytes]) -> None:
        for sock in self._sockets:
            for packet in packets:
                try:
                    sock.sendto(packet, MDNS_GROUP)
                except OSError as exc:  # an interface gone down: the browse goes on
                    log.debug("one-shot mDNS query from %s: %s", sock.getsockname()[0], exc)

    def _receive(self, sock: socket.socket) -> None:
        try:
            data, (address, port, *_) = sock.recvfrom(MAX_PACKET)
        except OSError:
            return
        if self.replies >= MAX_REPLIES or not on_link(address, self._sockets[sock]):
            return
        message = DNSIncoming(data, (address, port))
        if not is_our_reply(message, port, self.query_id):
            return
        self.replies += 1
        log.debug("one-shot mDNS reply from %s", address)
        heard = records_in_reply(message, self.types)
        with self._lock:
            for record in heard:
                if len(self._found) < MAX_REPLIES:
                    self._found[(record.type, record.name.lower())] = record

    def records(self) -> list[ServiceRecord]:
        with self._lock:
            return list(self._found.values())


def _socket(address: str) -> socket.socket | None:
    """A UDP socket on an ordinary port of `address` that sends to the mDNS group on that
    address's interface; None (with a debug line) when there is none to be had."""
    if not is_ip_address(address) or ":" in address:
        return None  # discovery browses IPv4 only
    try:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    except OSError as exc:  # out of descriptors: the browse goes on without
        log.debug("no one-shot mDNS queries from %s: %s", address, exc)
        return None
    try:
        sock.bind((address, 0))
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(address))
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 255)  # RFC 6762 section 11
    except OSError as exc:
        log.debug("no one-shot mDNS queries from %s: %s", address, exc)
        sock.close()
        return None
    return sock
