"""One-shot mDNS queries over loopback against a real zeroconf responder: the replies
land in the asker's cache with no browse running; a reply that is not to our query is
ignored."""

from __future__ import annotations

import ipaddress
import socket
import time

from zeroconf import DNSIncoming, DNSOutgoing, IPVersion, ServiceInfo, Zeroconf
from zeroconf.const import _FLAGS_QR_QUERY, _FLAGS_QR_RESPONSE

from fleet.discovery.browse import services_in_cache
from fleet.discovery.oneshot import OneShotQueries, is_our_reply, on_link, query_packets

SSH = "_ssh._tcp.local."


def _pointers(zc: Zeroconf) -> list[tuple[str, str]]:
    return services_in_cache(zc.cache, (SSH,))


def test_a_one_shot_query_fills_the_cache_with_no_browse():
    publisher = Zeroconf(interfaces=["127.0.0.1"], ip_version=IPVersion.V4Only)
    info = ServiceInfo(
        SSH,
        f"oneshot.{SSH}",
        addresses=[socket.inet_aton("127.0.0.1")],
        port=2222,
        server="oneshot.local.",
    )
    asker = None
    try:
        publisher.register_service(info, ttl=120)
        asker = Zeroconf(interfaces=["127.0.0.1"], ip_version=IPVersion.V4Only)
        time.sleep(0.5)  # no query, no answer: the announcements went before it listened
        assert _pointers(asker) == []
        loopback = {"127.0.0.1": ipaddress.ip_network("127.0.0.0/8")}
        queries = OneShotQueries(asker, loopback, (SSH,), schedule=(0.0,)).start()
        try:
            deadline = time.monotonic() + 5
            while not _pointers(asker) and time.monotonic() < deadline:
                time.sleep(0.02)
        finally:
            queries.close()
        assert _pointers(asker) == [(SSH, f"oneshot.{SSH}")]
        found = ServiceInfo(SSH, f"oneshot.{SSH}")
        assert found.load_from_cache(asker)  # SRV, TXT and address came with the PTR
        assert (found.server, found.port) == ("oneshot.local.", 2222)
    finally:
        publisher.close()
        if asker is not None:
            asker.close()


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


def test_replies_from_off_the_network_never_reach_the_cache():
    publisher = Zeroconf(interfaces=["127.0.0.1"], ip_version=IPVersion.V4Only)
    info = ServiceInfo(
        SSH, f"far.{SSH}", addresses=[socket.inet_aton("127.0.0.1")], port=22, server="far.local."
    )
    asker = None
    try:
        publisher.register_service(info, ttl=120)
        asker = Zeroconf(interfaces=["127.0.0.1"], ip_version=IPVersion.V4Only)
        time.sleep(0.5)
        elsewhere = {"127.0.0.1": ipaddress.ip_network("127.0.0.1/32")}  # the reply: 127.0.0.1
        queries = OneShotQueries(asker, elsewhere, (SSH,), schedule=(0.0,)).start()
        time.sleep(1.0)
        queries.close()
        taken = queries.replies
        assert taken == 1  # the control: on its own network the reply is taken
        other = {"127.0.0.1": ipaddress.ip_network("10.0.0.0/8")}
        queries = OneShotQueries(asker, other, (SSH,), schedule=(0.0,)).start()
        time.sleep(1.0)
        queries.close()
        assert queries.replies == 0
    finally:
        publisher.close()
        if asker is not None:
            asker.close()
