"""One-shot mDNS queries over loopback against a real zeroconf responder: each reply
tells of its services whole, with no browse running; a reply that is not to our query,
or from off the network asked on, is not taken."""

from __future__ import annotations

import ipaddress
import socket
import time

from zeroconf import DNSIncoming, DNSOutgoing, IPVersion, ServiceInfo, Zeroconf
from zeroconf.const import _FLAGS_QR_QUERY, _FLAGS_QR_RESPONSE

from fleet.discovery.oneshot import (
    OneShotQueries,
    is_our_reply,
    on_link,
    query_packets,
    txt_properties,
)

SSH = "_ssh._tcp.local."


def test_a_one_shot_query_hears_each_service_whole():
    publisher = Zeroconf(interfaces=["127.0.0.1"], ip_version=IPVersion.V4Only)
    info = ServiceInfo(
        SSH,
        f"oneshot.{SSH}",
        addresses=[socket.inet_aton("127.0.0.1")],
        port=2222,
        properties={b"k": b"v", b"flag": None},
        server="oneshot.local.",
    )
    try:
        publisher.register_service(info, ttl=120)
        loopback = {"127.0.0.1": ipaddress.ip_network("127.0.0.0/8")}
        queries = OneShotQueries(loopback, (SSH,), schedule=(0.0,)).start()
        try:
            deadline = time.monotonic() + 5
            while not queries.records() and time.monotonic() < deadline:
                time.sleep(0.02)
        finally:
            queries.close()
        (heard,) = queries.records()  # SRV, TXT and address came with the PTR
        assert (heard.type, heard.name, heard.server) == (SSH, f"oneshot.{SSH}", "oneshot.local.")
        assert (heard.addresses, heard.port) == (("127.0.0.1",), 2222)
        assert heard.properties == {b"k": b"v", b"flag": None}
    finally:
        publisher.close()


def test_txt_strings_as_zeroconf_shows_them():
    assert txt_properties(b"\x03a=b\x04flag\x03a=c\x00\x05x=y=z") == {
        b"a": b"b",
        b"flag": None,
        b"": None,
        b"x": b"y=z",
    }
    assert txt_properties(b"\x09short") == {b"short": None}  # a length past the end


def _reply(query_id: int, flags: int = _FLAGS_QR_RESPONSE) -> DNSIncoming:
    out = DNSOutgoing(flags, multicast=False, id_=query_id)
    return DNSIncoming(out.packets()[0], ("127.0.0.1", 5353))


def test_only_a_response_to_our_query_from_the_mdns_port_is_taken():
    assert is_our_reply(_reply(4242), 5353, 4242)
    assert not is_our_reply(_reply(4241), 5353, 4242)  # another asker's, or forged
    assert not is_our_reply(_reply(4242), 40000, 4242)  # not from a responder
    assert not is_our_reply(_reply(4242, _FLAGS_QR_QUERY), 5353, 4242)  # a query
    assert not is_our_reply(DNSIncoming(b"\xff" * 7, ("127.0.0.1", 5353)), 5353, 0)


def test_the_query_asks_for_each_type_under_its_id():
    (packet,) = query_packets(("_ssh._tcp.local.", "_workstation._tcp.local."), 513)
    message = DNSIncoming(packet)
    assert message.is_query() and message.id == 513
    assert [q.name for q in message.questions] == ["_ssh._tcp.local.", "_workstation._tcp.local."]


def test_a_reply_from_off_the_network_it_was_asked_on_is_not_taken():
    lab = ipaddress.ip_network("198.18.0.0/24")
    assert on_link("198.18.0.17", lab)
    assert not on_link("198.18.1.17", lab)
    assert not on_link("8.8.8.8", lab)
    assert not on_link("not an address", lab)


def test_replies_from_off_the_network_are_not_taken():
    publisher = Zeroconf(interfaces=["127.0.0.1"], ip_version=IPVersion.V4Only)
    info = ServiceInfo(
        SSH, f"far.{SSH}", addresses=[socket.inet_aton("127.0.0.1")], port=22, server="far.local."
    )
    try:
        publisher.register_service(info, ttl=120)
        seen = []
        for network in ("127.0.0.1/32", "10.0.0.0/8"):  # the reply comes from 127.0.0.1
            queries = OneShotQueries(
                {"127.0.0.1": ipaddress.ip_network(network)}, (SSH,), schedule=(0.0,)
            ).start()
            time.sleep(1.0)
            queries.close()
            seen.append((queries.replies, len(queries.records())))
        assert seen == [(1, 1), (0, 0)]  # on its own network (the control), and off it
    finally:
        publisher.close()
