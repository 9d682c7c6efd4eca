"""`/metrics` of `weir queue` and `weir lookup` read by Prometheus' own Python parser
(`prometheus_client.parser.text_string_to_metric_families`), which is strict about the text format
0.0.4 (escaping, families, types), and checked against `/stats`, `/lookup` and `/nodes`.

A raw V2 consumer with a user agent full of characters the format must escape (`"`, `\\`, `,`, `=`)
takes messages and FINs and REQs some, so every per-client value is non-trivial.
"""
import json
import socket
import struct

from prometheus_client.parser import text_string_to_metric_families

from support import http
from weir_proc import wait_until

AGENT = 'py "metrics", test\\agent=1'


def scrape(server):
    status, body = http(server, "GET", "/metrics")
    assert status == 200, (status, body)
    families = list(text_string_to_metric_families(body.decode()))
    samples = {}
    for f in families:
        assert f.documentation, f.name
        assert f.type in ("counter", "gauge"), (f.name, f.type)
        for s in f.samples:
            key = (s.name, tuple(sorted(s.labels.items())))
            assert key not in samples, key
            samples[key] = s.value
    return families, samples


def value(samples, name, **labels):
    found = [v for (n, ls), v in samples.items() if n == name and all(dict(ls).get(k) == w for k, w in labels.items())]
    assert len(found) == 1, (name, labels, found)
    return found[0]


class Raw:
    """A blocking V2 connection."""

    def __init__(self, server):
        self.s = socket.create_connection(("127.0.0.1", server.tcp_port), timeout=10)
        self.s.sendall(b"  V2")

    def read_exact(self, n):
        data = b""
        while len(data) < n:
            chunk = self.s.recv(n - len(data))
            assert chunk, "connection closed"
            data += chunk
        return data

    def frame(self):
        size, frame_type = struct.unpack(">ii", self.read_exact(8))
        return frame_type, self.read_exact(size - 4)

    def command(self, line, body=None):
        data = line.encode() + b"\n"
        if body is not None:
            data += struct.pack(">i", len(body)) + body
        self.s.sendall(data)

    def message_id(self):
        frame_type, data = self.frame()
        assert frame_type == 2, (frame_type, data)
        return data[10:26].decode()


def test_queue_metrics_parse_and_match_stats(ctx):
    server = ctx.start(extra_args=["--e2e-processing-latency-percentile=0.99,0.5", "--mem-queue-size=2"])
    c = Raw(server)
    c.command("IDENTIFY", json.dumps({"client_id": "pyc", "hostname": "pyh", "user_agent": AGENT}).encode())
    assert c.frame()[0] == 0
    c.command("SUB orders ship")
    assert c.frame() == (0, b"OK")
    status, _ = http(server, "POST", "/channel/create?topic=orders&channel=audit")
    assert status == 200
    status, body = http(server, "POST", "/mpub?topic=orders", b"\n".join(b"order-%04d" % i for i in range(8)))
    assert (status, body) == (200, b"OK")
    c.command("RDY 3")
    ids = [c.message_id() for _ in range(3)]
    c.command("RDY 0")
    c.command("FIN " + ids[0])
    c.command("REQ %s 600000" % ids[1])

    def stats():
        return json.loads(http(server, "GET", "/stats?format=json")[1])

    def settled():
        ship = [ch for ch in stats()["topics"][0]["channels"] if ch["channel_name"] == "ship"][0]
        return ship["requeue_count"] == 1 and ship["clients"][0]["finish_count"] == 1
    wait_until(settled, 30, "the FIN and REQ to be counted")
    before = stats()
    families, samples = scrape(server)
    after = stats()
    assert before["topics"] == after["topics"], "traffic during the scrape"

    t = after["topics"][0]
    assert value(samples, "nsq_topic_messages_total", topic="orders") == t["message_count"] == 8
    assert value(samples, "nsq_topic_depth", topic="orders") == t["depth"]
    for ch in t["channels"]:
        labels = dict(topic="orders", channel=ch["channel_name"])
        for metric, field in (("nsq_channel_depth", "depth"), ("nsq_channel_in_flight", "in_flight_count"),
                              ("nsq_channel_deferred", "deferred_count"), ("nsq_channel_messages_total", "message_count"),
                              ("nsq_channel_requeued_total", "requeue_count"),
                              ("nsq_channel_timed_out_total", "timeout_count"),
                              ("nsq_diskqueue_depth", "backend_depth")):
            assert value(samples, metric, **labels) == ch[field], (metric, labels)
        for p in ch["e2e_processing_latency"]["percentiles"]:
            got = value(samples, "nsq_channel_e2e_processing_latency_seconds", quantile=str(float(p["quantile"])), **labels)
            assert abs(got - p["value"] / 1e9) < 1e-12, (got, p)
        for cl in ch["clients"]:
            assert cl["user_agent"] == AGENT
            # The parser unescapes the label: it must give back the user agent exactly.
            who = dict(labels, client_id=cl["client_id"], user_agent=AGENT)
            for metric, field in (("nsq_client_ready", "ready_count"), ("nsq_client_in_flight", "in_flight_count"),
                                  ("nsq_client_messages_total", "message_count"),
                                  ("nsq_client_finished_total", "finish_count"),
                                  ("nsq_client_requeued_total", "requeue_count")):
                assert value(samples, metric, **who) == cl[field], (metric, who)
    assert value(samples, "nsq_channel_in_flight", topic="orders", channel="ship") == 1
    assert value(samples, "nsq_diskqueue_bytes", topic="orders", channel="audit") > 0
    # prometheus_client strips `_total` from a counter family's name, not from its samples.
    assert "nsq_channel_requeued" in {f.name for f in families if f.type == "counter"}
    c.s.close()


def test_lookup_metrics_parse_and_match_the_listings(ctx):
    lookup = ctx.start_service("lookup", ["--broadcast-address=127.0.0.1"])
    queue = ctx.start(extra_args=["--broadcast-address=127.0.0.1", "--lookupd-tcp-address=%s" % lookup.tcp_address])
    for path in ("/topic/create?topic=t", "/channel/create?topic=t&channel=c"):
        assert http(queue, "POST", path)[0] == 200

    def lookup_json(path):
        return json.loads(http(lookup, "GET", path)[1])
    wait_until(lambda: len(lookup_json("/lookup?topic=t").get("producers", [])) == 1 and lookup_json("/channels?topic=t")["channels"] == ["c"],
               30, "the queue's registrations")
    _, samples = scrape(lookup)
    assert value(samples, "nsq_lookup_topics") == len(lookup_json("/topics")["topics"]) == 1
    assert value(samples, "nsq_lookup_active_peers") == len(lookup_json("/nodes")["producers"]) == 1
    assert value(samples, "nsq_lookup_topic_listed_producers", topic="t") == 1
    assert value(samples, "nsq_lookup_channel_producers", topic="t", channel="c") == 1
    node = "127.0.0.1:%d" % queue.http_port
    assert http(lookup, "POST", "/topic/tombstone?topic=t&node=%s" % node)[0] == 200
    _, samples = scrape(lookup)
    assert value(samples, "nsq_lookup_topic_tombstones", topic="t") == 1
    assert value(samples, "nsq_lookup_topic_listed_producers", topic="t") == len(lookup_json("/lookup?topic=t")["producers"]) == 0
