"""A real NSQ client library (pynsq, the nsq project's Python client) against `weir queue`.

Covers what an application sees: fan-out of a large publish to two channels, REQ and timeout
redelivery with growing attempts, and a clean restart (SIGTERM) that loses nothing: finished
messages stay finished, everything else (queued in memory, on disk, in flight, deferred) comes back.
"""
import asyncio
import os
import time

import nsq

from support import create_channel_over_tcp, run_async, until

# pynsq logs every reconnect attempt at ERROR; the restart tests cause some on purpose.
import logging
logging.getLogger("nsq").setLevel(logging.CRITICAL)


async def writer(server):
    w = nsq.Writer([server.tcp_address], reconnect_interval=0.2)
    await until(lambda: any(c.connected() for c in w.conns.values()), 10, "the writer to connect")
    return w


def _publish(call):
    fut = asyncio.get_running_loop().create_future()

    def done(conn, data):
        if fut.done():
            return
        if isinstance(data, Exception):
            fut.set_exception(data)
        else:
            fut.set_result(data)

    call(done)
    return fut


async def mpub(w, topic, bodies):
    assert await _publish(lambda cb: w.mpub(topic, bodies, callback=cb)) == b"OK"


async def pub(w, topic, body):
    assert await _publish(lambda cb: w.pub(topic, body, callback=cb)) == b"OK"


async def dpub(w, topic, delay_ms, body):
    assert await _publish(lambda cb: w.dpub(topic, delay_ms, body, callback=cb)) == b"OK"


async def publish_many(w, topic, bodies, batch=100):
    """MPUBs in batches, several in flight at once (pynsq matches replies to requests in order)."""
    batches = [bodies[i:i + batch] for i in range(0, len(bodies), batch)]
    for i in range(0, len(batches), 10):
        await asyncio.gather(*(mpub(w, topic, b) for b in batches[i:i + 10]))


class Collector:
    """A pynsq Reader that records every body it gets and finishes it (unless told otherwise)."""

    def __init__(self, server, topic, channel, max_in_flight=500, on_message=None, **kwargs):
        self.bodies = []
        self.messages = []
        self.on_message = on_message
        self.reader = nsq.Reader(topic=topic, channel=channel, message_handler=self._handle,
                                 nsqd_tcp_addresses=[server.tcp_address], max_in_flight=max_in_flight,
                                 max_tries=0, **kwargs)

    def _handle(self, message):
        self.bodies.append(bytes(message.body))
        self.messages.append(message)
        if self.on_message is not None:
            return self.on_message(message)
        return True

    def seen(self):
        return set(self.bodies)

    def close(self):
        self.reader.close()


async def subscribed(w, topic, collectors):
    """Publishes sentinels until every collector got one: then each has subscribed (its channel
    exists), so what is published next reaches every channel."""
    def all_saw():
        return all(any(b.startswith(b"sentinel") for b in c.bodies) for c in collectors)
    deadline = time.time() + 15
    while not all_saw():
        assert time.time() < deadline, "readers did not subscribe within 15s"
        await pub(w, topic, b"sentinel")
        await asyncio.sleep(0.1)


def without_sentinels(bodies):
    return [b for b in bodies if not b.startswith(b"sentinel")]


def test_pub_sub_10000_messages_over_two_channels(ctx):
    """Every channel of a topic gets every message: 10,000 over MPUB, two consumers, no loss and
    no duplicate."""
    pub_sub_10000(ctx, [])


def test_pub_sub_10000_messages_over_two_channels_through_disk(ctx):
    """The same with `--mem-queue-size=100`: most messages overflow to the disk queues (small
    files, so segments roll and are removed as they are read)."""
    server = pub_sub_10000(ctx, ["--mem-queue-size=100", "--max-bytes-per-file=65536"])
    # nsqd's layout: <topic>:<channel>.diskqueue.NNNNNN.dat; fully read segments are removed.
    for channel in ("a", "b"):
        prefix = "load:%s.diskqueue." % channel
        segments = sorted(f for f in os.listdir(server.data_path) if f.startswith(prefix) and f[len(prefix):-4].isdigit())
        assert segments and segments[0] != prefix + "000000.dat", \
            "channel %s: expected rolled segments with the read ones removed, found %r" % (channel, segments)


def pub_sub_10000(ctx, extra_args):
    server = ctx.start(extra_args=extra_args)
    topic, n = "load", 10_000
    want = ["m-%05d" % i for i in range(n)]

    async def main():
        w = await writer(server)
        a = Collector(server, topic, "a", max_in_flight=1000)
        b = Collector(server, topic, "b", max_in_flight=1000)
        await subscribed(w, topic, [a, b])
        await publish_many(w, topic, [s.encode() for s in want])
        for c in (a, b):
            await until(lambda c=c: len(set(without_sentinels(c.bodies))) >= n, 120,
                        "channel %s to get all %d messages" % (c.reader.channel, n))
        await asyncio.sleep(0.3)  # let any stray duplicate arrive before counting
        for c in (a, b):
            got = without_sentinels(c.bodies)
            assert sorted(b.decode() for b in set(got)) == want, "channel %s lost messages" % c.reader.channel
            assert len(got) == n, "channel %s got %d deliveries for %d messages" % (c.reader.channel, len(got), n)
            c.close()

    run_async(main, 240)
    return server


def test_req_and_timeout_redeliver_with_growing_attempts(ctx):
    """REQ with 0 and with a delay, then an in-flight timeout (IDENTIFY msg_timeout=1000): the same
    message comes back each time with attempts 1, 2, 3, 4; a REQ delay is honoured."""
    server = ctx.start()
    topic = "redeliver"
    times = []

    def on_message(m):
        if m.body.startswith(b"sentinel"):
            return True
        m.enable_async()
        times.append((m.attempts, m.id, time.time()))
        if m.attempts == 1:
            m.requeue(backoff=False, delay=0)
        elif m.attempts == 2:
            m.requeue(backoff=False, time_ms=500)
        elif m.attempts == 3:
            pass  # no answer: the server times it out after msg_timeout
        else:
            m.finish()

    async def main():
        w = await writer(server)
        c = Collector(server, topic, "ch", max_in_flight=1, on_message=on_message,
                      msg_timeout=1)  # pynsq takes seconds: IDENTIFY msg_timeout=1000
        await subscribed(w, topic, [c])
        await pub(w, topic, b"again and again")
        await until(lambda: len(times) >= 4, 30, "four deliveries")
        await asyncio.sleep(0.3)
        c.close()

    run_async(main, 60)
    attempts = [a for a, _, _ in times]
    assert attempts == [1, 2, 3, 4], attempts
    assert len({i for _, i, _ in times}) == 1, "redeliveries must keep the message id"
    assert times[2][2] - times[1][2] >= 0.45, "REQ 500ms came back after %.3fs" % (times[2][2] - times[1][2])
    assert times[3][2] - times[2][2] >= 0.9, "timeout redelivery after %.3fs" % (times[3][2] - times[2][2])


def restart_loses_nothing(ctx, extra_args):
    """Phase 1: publish 1,000 messages and one deferred, finish 300, hold 50 in flight, then
    SIGTERM. Phase 2: restart on the same data path. Channel `c` must get back every unfinished
    message and no finished one; channel `c2` (created by a SUB that left at once, never consumed, so it only exists
    after the restart if the metadata was saved) gets everything. A message published after the
    restart and before any SUB reaches both channels: both were recreated from the metadata."""
    data = ctx.data_dir()
    topic, n, finish_first, hold = "durable", 1000, 300, 50
    bodies = [("d-%04d" % i).encode() for i in range(n)]
    finished, held = [], []

    first = ctx.start(data, extra_args)
    create_channel_over_tcp(first, topic, "c2")

    def phase1_handler(m):
        if m.body.startswith(b"sentinel"):
            return True
        if len(finished) < finish_first:
            finished.append(bytes(m.body))
            return True
        m.enable_async()  # hold it in flight, never answered
        held.append(bytes(m.body))

    async def phase1():
        w = await writer(first)
        c = Collector(first, topic, "c", max_in_flight=hold, on_message=phase1_handler)
        await subscribed(w, topic, [c])
        await publish_many(w, topic, bodies)
        await dpub(w, topic, 1500, b"deferred")
        await until(lambda: len(finished) == finish_first and len(held) == hold, 30,
                    "%d finished and %d held in flight" % (finish_first, hold))
        # Stop the server while the consumer is connected and holds messages in flight.
        code = await asyncio.get_running_loop().run_in_executor(None, first.terminate)
        assert code == 0, "weir exited %r on SIGTERM" % code
        c.close()

    run_async(phase1, 120)

    second = ctx.start(data, extra_args)

    async def phase2():
        w = await writer(second)
        await pub(w, topic, b"after-restart")
        c = Collector(second, topic, "c", max_in_flight=200)
        c2 = Collector(second, topic, "c2", max_in_flight=200)
        want_c = (set(bodies) - set(finished)) | {b"deferred", b"after-restart"}
        want_c2 = set(bodies) | {b"deferred", b"after-restart"}
        try:
            await until(lambda: want_c <= c.seen() and want_c2 <= c2.seen(), 30, "every message after the restart")
        except AssertionError:
            miss_c, miss_c2 = want_c - c.seen(), want_c2 - c2.seen()
            raise AssertionError(
                "lost in the restart: channel c %d of %d (e.g. %r), channel c2 %d of %d (e.g. %r)"
                % (len(miss_c), len(want_c), sorted(miss_c)[:3], len(miss_c2), len(want_c2), sorted(miss_c2)[:3]))
        await asyncio.sleep(0.5)  # a finished message coming back would show up by now
        back = set(finished) & c.seen()
        assert not back, "%d finished messages came back after a clean restart, e.g. %r" % (len(back), sorted(back)[:3])
        for x in (c, c2):
            x.close()
        return len(c.bodies) - len(c.seen())

    run_async(phase2, 120)
    assert second.terminate() == 0


def test_clean_restart_loses_nothing(ctx):
    restart_loses_nothing(ctx, [])


def test_clean_restart_loses_nothing_with_every_message_on_disk(ctx):
    """The same with `--mem-queue-size=0`: every message goes through the disk queues."""
    restart_loses_nothing(ctx, ["--mem-queue-size=0"])


def test_acknowledged_publishes_survive_a_kill_with_sync_every_1(ctx):
    """`--mem-queue-size=0 --sync-every=1`: a PUB/MPUB answered OK is on disk, so SIGKILL (no
    clean stop) loses none of them; the channel and its queue come back after the restart.
    (A process kill keeps the OS's page cache, so this shows OK comes after the write reached the
    disk queue, not that it was fsynced: the simulator's crash tests cover fsync.)"""
    data = ctx.data_dir()
    args = ["--mem-queue-size=0", "--sync-every=1"]
    topic, n = "killed", 500
    bodies = [("k-%04d" % i).encode() for i in range(n)]
    first = ctx.start(data, args)
    create_channel_over_tcp(first, topic, "c")

    async def publish():
        w = await writer(first)
        await publish_many(w, topic, bodies[: n // 2], batch=50)
        for b in bodies[n // 2:]:
            await pub(w, topic, b)

    run_async(publish, 120)
    first.kill()

    second = ctx.start(data, args)

    async def consume():
        c = Collector(second, topic, "c", max_in_flight=100)
        try:
            await until(lambda: set(bodies) <= c.seen(), 30, "every acknowledged message after the kill")
        except AssertionError:
            missing = set(bodies) - c.seen()
            raise AssertionError("a kill lost %d of %d acknowledged messages, e.g. %r"
                                 % (len(missing), n, sorted(missing)[:3]))
        c.close()

    run_async(consume, 60)
