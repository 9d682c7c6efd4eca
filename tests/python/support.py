"""Small helpers shared by the test modules: skipping, and running pynsq inside a fresh loop."""
import asyncio
import json
import time
import urllib.error
import urllib.request


class Skip(Exception):
    """Raised by a test that cannot run here; reported as `ignored` with the reason."""


def run_async(main, timeout_s):
    """Runs the coroutine function `main` in a fresh event loop (pynsq's clients bind to the loop
    current when they are created, and leave periodic callbacks behind: a new loop per test keeps
    tests apart)."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        return loop.run_until_complete(asyncio.wait_for(main(), timeout_s))
    finally:
        pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for t in pending:
            t.cancel()
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.close()
        asyncio.set_event_loop(None)


async def until(pred, timeout_s, what):
    deadline = time.time() + timeout_s
    while not pred():
        if time.time() > deadline:
            raise AssertionError("timed out after %.0fs waiting for %s" % (timeout_s, what))
        await asyncio.sleep(0.02)


def http(server, method, path, body=None):
    """(status, body) of one request to the server's HTTP API."""
    req = urllib.request.Request("http://%s%s" % (server.http_address, path), method=method, data=body)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def stats(server, topic):
    status, body = http(server, "GET", "/stats?format=json&topic=%s" % topic)
    assert status == 200, (status, body)
    return json.loads(body)


def create_channel_over_tcp(server, topic, channel):
    """Creates a channel the way a consumer does (SUB), then leaves without consuming: nsqd keeps
    a non-ephemeral channel after its last consumer goes."""
    import socket
    import struct
    with socket.create_connection(("127.0.0.1", server.tcp_port), timeout=10) as s:
        s.sendall(b"  V2" + ("SUB %s %s\n" % (topic, channel)).encode())
        header = b""
        while len(header) < 8:
            chunk = s.recv(8 - len(header))
            assert chunk, "connection closed before the SUB reply"
            header += chunk
        size, frame_type = struct.unpack(">ii", header)
        data = b""
        while len(data) < size - 4:
            chunk = s.recv(size - 4 - len(data))
            assert chunk, "connection closed inside the SUB reply"
            data += chunk
        assert (frame_type, data) == (0, b"OK"), ("SUB %s %s" % (topic, channel), frame_type, data)
