"""Discovery through `weir lookup`: queues registering with it, a real client finding them there.

Every test starts one `weir lookup` and `weir queue` nodes registered to it
(`--lookupd-tcp-address=<lookup> --broadcast-address=127.0.0.1`), all on free ports. What is
checked is eventual (registration and the client's polling are periodic): generous deadlines, no
real-time bounds, so a loaded machine only makes a test slower.
"""
import asyncio
import json

import nsq

from support import http, run_async, stats, until
from weir_proc import wait_until

import logging
logging.getLogger("nsq").setLevel(logging.CRITICAL)

# Everything here is eventual; these bound how long "eventually" may take on a busy machine.
REGISTER_TIMEOUT_S = 30
DELIVERY_TIMEOUT_S = 90


def start_lookup(ctx):
    """The lookup announces itself as 127.0.0.1: a queue reaches the lookup's HTTP API (for
    `/channels`) at the address and port of the lookup's IDENTIFY reply."""
    return ctx.start_service("lookup", ["--broadcast-address=127.0.0.1"])


def start_registered_queue(ctx, lookup, extra_args=()):
    return ctx.start(extra_args=["--broadcast-address=127.0.0.1",
                                 "--lookupd-tcp-address=%s" % lookup.tcp_address, *extra_args])


def get_json(server, path):
    status, body = http(server, "GET", path)
    return status, (json.loads(body) if body else None)


def producer_ports(lookup, topic):
    """The TCP ports of the producers `/lookup?topic=` lists (empty if the topic is unknown)."""
    status, body = get_json(lookup, "/lookup?topic=%s" % topic)
    if status != 200:
        return set()
    return {p["tcp_port"] for p in body["producers"]}


def wait_producers(lookup, topic, queues, what):
    want = {q.tcp_port for q in queues}
    wait_until(lambda: producer_ports(lookup, topic) == want, REGISTER_TIMEOUT_S,
               "%s (/lookup?topic=%s producers %r, have %r)" % (what, topic, sorted(want),
                                                                  sorted(producer_ports(lookup, topic))))


def mpub(queue, topic, bodies):
    """HTTP `/mpub` (newline-separated bodies), as an application without a TCP client would."""
    status, body = http(queue, "POST", "/mpub?topic=%s" % topic, b"\n".join(bodies))
    assert (status, body) == (200, b"OK"), ("/mpub to %s" % queue.http_address, status, body)


class LookupReader:
    """A pynsq Reader that knows only the lookup's HTTP address and polls it every second."""

    def __init__(self, lookup, topic, channel):
        self.bodies = []
        self.reader = nsq.Reader(topic=topic, channel=channel, message_handler=self._handle,
                                 lookupd_http_addresses=["http://%s" % lookup.http_address],
                                 lookupd_poll_interval=1, lookupd_connect_timeout=5,
                                 lookupd_request_timeout=10, max_in_flight=200, max_tries=0)

    def _handle(self, message):
        self.bodies.append(bytes(message.body))
        return True

    def connected_ports(self):
        return {c.port for c in self.reader.conns.values() if c.connected()}

    async def receive_all(self, want, what):
        try:
            await until(lambda: want <= set(self.bodies), DELIVERY_TIMEOUT_S, what)
        except AssertionError:
            missing = want - set(self.bodies)
            raise AssertionError("%s: %d of %d missing (e.g. %r); connected to ports %r"
                                 % (what, len(missing), len(want), sorted(missing)[:3], sorted(self.connected_ports())))


def test_reader_consumes_from_every_queue_it_finds_through_the_lookup(ctx):
    """Two queues registered to one lookup, 1,000 messages split between them (HTTP /mpub): a
    pynsq Reader given only the lookup's address connects to both and gets every message once.
    A third queue started after the reader is found on a later poll, and its messages arrive too."""
    lookup = start_lookup(ctx)
    a = start_registered_queue(ctx, lookup)
    b = start_registered_queue(ctx, lookup)
    topic, n = "spread", 1000
    on_a = [("a-%04d" % i).encode() for i in range(n // 2)]
    on_b = [("b-%04d" % i).encode() for i in range(n // 2)]
    for i in range(0, len(on_a), 100):
        mpub(a, topic, on_a[i:i + 100])
        mpub(b, topic, on_b[i:i + 100])
    wait_producers(lookup, topic, [a, b], "both queues to register the topic")

    async def main():
        r = LookupReader(lookup, topic, "ch")
        await r.receive_all(set(on_a) | set(on_b), "every message from both queues")
        assert {a.tcp_port, b.tcp_port} <= r.connected_ports(), r.connected_ports()

        # A node that joins later: the reader finds it on a later poll.
        c = await asyncio.get_running_loop().run_in_executor(None, start_registered_queue, ctx, lookup)
        on_c = [("c-%04d" % i).encode() for i in range(100)]
        mpub(c, topic, on_c)
        await r.receive_all(set(on_c), "the messages of the queue started after the reader")
        assert c.tcp_port in r.connected_ports(), (c.tcp_port, r.connected_ports())

        await asyncio.sleep(0.5)  # let a stray duplicate arrive before counting
        everything = on_a + on_b + on_c
        assert sorted(r.bodies) == sorted(everything), \
            "%d deliveries for %d messages (duplicates: %r)" % (
                len(r.bodies), len(everything), sorted({x for x in r.bodies if r.bodies.count(x) > 1})[:3])
        r.reader.close()

    run_async(main, 3 * DELIVERY_TIMEOUT_S)


def node_ports(lookup):
    status, body = get_json(lookup, "/nodes")
    assert status == 200, (status, body)
    return {p["tcp_port"] for p in body["producers"]}


def channel_names(queue, topic):
    s = stats(queue, topic)
    return {c["channel_name"] for t in s["topics"] or [] if t["topic_name"] == topic for c in t["channels"]}


def test_new_topic_on_a_queue_gets_the_channels_the_lookup_knows(ctx):
    """Topic `shared` with channel `ch` created on queue A (HTTP /topic/create,
    /channel/create) reaches the
    lookup. The first publish of `shared` on queue B makes B ask the lookup for the topic's channels
    and create them before delivering: `ch` is in B's /stats right after the publish, and a
    consumer that SUBs `ch` on B afterwards gets the message published before it subscribed.
    The lookup's /lookup, /nodes, /topics and /channels show both queues; a queue stopped with
    SIGTERM leaves /lookup's producers."""
    lookup = start_lookup(ctx)
    a = start_registered_queue(ctx, lookup)
    b = start_registered_queue(ctx, lookup)
    topic, channel = "shared", "ch"

    for path in ("/topic/create?topic=%s" % topic, "/channel/create?topic=%s&channel=%s" % (topic, channel)):
        status, body = http(a, "POST", path)
        assert status == 200, (path, status, body)
    wait_until(lambda: get_json(lookup, "/channels?topic=%s" % topic)[1] == {"channels": [channel]},
               REGISTER_TIMEOUT_S, "queue A's channel to reach the lookup (/channels?topic=%s)" % topic)

    # B learns where the lookup's HTTP API is from the lookup's reply to its IDENTIFY: wait until
    # the lookup lists B as a node, so a slow start does not pass for a missing feature.
    wait_until(lambda: {a.tcp_port, b.tcp_port} <= node_ports(lookup), REGISTER_TIMEOUT_S,
               "both queues to IDENTIFY to the lookup (/nodes)")
    assert topic not in {t["topic_name"] for t in stats(b, topic)["topics"] or []}, "B has the topic before any publish"
    status, body = http(b, "POST", "/pub?topic=%s" % topic, b"before-any-subscriber")
    assert (status, body) == (200, b"OK"), (status, body)
    assert channel_names(b, topic) == {channel}, \
        "right after the first publish on B, its channels are %r" % channel_names(b, topic)

    async def consume():
        got = []

        def handle(m):
            got.append(bytes(m.body))
            return True

        reader = nsq.Reader(topic=topic, channel=channel, message_handler=handle,
                            nsqd_tcp_addresses=[b.tcp_address], max_in_flight=10, max_tries=0)
        await until(lambda: b"before-any-subscriber" in got, DELIVERY_TIMEOUT_S,
                    "the message published on B before the SUB")
        reader.close()

    run_async(consume, 2 * DELIVERY_TIMEOUT_S)

    # The lookup's view: both queues produce the topic.
    wait_producers(lookup, topic, [a, b], "both queues to register %s" % topic)
    status, body = get_json(lookup, "/lookup?topic=%s" % topic)
    assert status == 200 and body["channels"] == [channel], (status, body)
    for p in body["producers"]:
        assert p["broadcast_address"] == "127.0.0.1", p
        assert p["http_port"] == {a.tcp_port: a.http_port, b.tcp_port: b.http_port}[p["tcp_port"]], p

    status, body = get_json(lookup, "/nodes")
    assert status == 200, (status, body)
    nodes = {p["tcp_port"]: p for p in body["producers"]}
    assert set(nodes) == {a.tcp_port, b.tcp_port}, body
    for port, p in nodes.items():
        assert topic in p["topics"], p
        assert len(p["tombstones"]) == len(p["topics"]), "topics and tombstones differ in length: %r" % p
        assert not any(p["tombstones"]), p

    status, body = get_json(lookup, "/topics")
    assert status == 200 and topic in body["topics"], (status, body)
    status, body = get_json(lookup, "/channels?topic=%s" % topic)
    assert (status, body) == (200, {"channels": [channel]}), (status, body)

    # A clean stop unregisters: only A is left.
    assert b.terminate() == 0
    wait_producers(lookup, topic, [a], "the stopped queue B to leave /lookup")
    wait_until(lambda: node_ports(lookup) == {a.tcp_port},
               REGISTER_TIMEOUT_S, "the stopped queue B to leave /nodes")
