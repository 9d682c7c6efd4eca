"""Golden conformance: nsqd 1.3.0's own transcripts (golden/) replayed against weir.

Each probe runs against a fresh server and `golden/compare.py` diffs its transcript with the
real nsqd's after normalisation; the test passes only on a full match (`matched N/N`).
"""
import os
import re
import shutil
import subprocess
import sys
import threading

from support import Skip

GOLDEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden")


def compare_once(probe, transcript, extra_env):
    env = dict(os.environ, **{k: str(v) for k, v in extra_env.items()})
    r = subprocess.run([sys.executable, "compare.py", probe, transcript], cwd=GOLDEN, env=env,
                       capture_output=True, text=True, timeout=300)
    summary = r.stdout.strip().splitlines()[-1] if r.stdout.strip() else "(no output)"
    print("    %s: %s" % (probe, summary))
    return r


def heartbeat_shifted(diff):
    """A `_heartbeat_` frame in the differing lines: the probes read frames in order, so a
    heartbeat arriving a moment earlier or later than in the real run shifts the labels (the
    golden README names this as a legitimate difference). Such a run is repeated."""
    return any("_heartbeat_" in l for l in diff.splitlines() if l.startswith(("- ", "+ ")))


def compare(start, probe, transcript, ports, attempts=3):
    """Runs the probe against a fresh server from `start()` until it matches, retrying only runs
    whose difference is a shifted heartbeat."""
    for attempt in range(1, attempts + 1):
        server = start()
        r = compare_once(probe, transcript, ports(server))
        server.kill()
        if r.returncode == 0:
            return
        if not heartbeat_shifted(r.stdout) or attempt == attempts:
            break
    raise AssertionError("%s does not match %s (attempt %d):\n%s\n%s" % (probe, transcript, attempt, r.stdout, r.stderr))


def start_queue(ctx):
    return ctx.start(extra_args=["--broadcast-address=127.0.0.1"])


def queue_ports(w):
    return {"NSQD_TCP_PORT": w.tcp_port, "NSQD_HTTP_PORT": w.http_port}


def test_probe_tcp(ctx):
    """Errors, fatal vs non-fatal, IDENTIFY negotiation and validation (nsqd_tcp_probe.txt)."""
    compare(lambda: start_queue(ctx), "probe_tcp.py", "nsqd_tcp_probe.txt", queue_ports)


def test_probe2_message_flow(ctx):
    """RDY window, REQ/TOUCH/FIN, timeouts, heartbeats, CLS, /stats (nsqd_tcp_probe2.txt)."""
    compare(lambda: start_queue(ctx), "probe2.py", "nsqd_tcp_probe2.txt", queue_ports)


def self_signed_cert(ctx):
    """(cert, key) PEM paths of a fresh self-signed certificate for 127.0.0.1. The probe does not
    verify the server (CERT_NONE), so any certificate the server accepts will do; a P-256 key keeps
    generation instant on a loaded machine."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise Skip("no `openssl` on PATH to make the test certificate")
    d = ctx.data_dir("tls")
    cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
    subprocess.run([openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-subj", "/CN=127.0.0.1", "-days", "2", "-keyout", key, "-out", cert],
                   check=True, capture_output=True, timeout=60)
    return cert, key


def test_probe_upgrade(ctx):
    """TLS, deflate and snappy upgrades after IDENTIFY, and TLS followed by snappy
    (nsqd_upgrade_probe.txt). The queue gets a self-signed certificate, as the transcript's nsqd
    did (`--tls-cert --tls-key`); the probe does not verify it. HTTPS goes to a free port (with a
    certificate nsqd's default `--https-address` is 0.0.0.0:4152)."""
    cert, key = self_signed_cert(ctx)
    compare(lambda: ctx.start(extra_args=["--broadcast-address=127.0.0.1", "--tls-cert=%s" % cert,
                                          "--tls-key=%s" % key, "--https-address=127.0.0.1:0"]),
            "probe_upgrade.py", "nsqd_upgrade_probe.txt", queue_ports)


class Authd:
    """golden/authd.py, the auth server the transcript's nsqd asked, on a free port. Its request
    log (stderr, `AUTHREQ ...` lines) is drained and kept."""

    def __init__(self):
        self.proc = subprocess.Popen([sys.executable, "authd.py"], cwd=GOLDEN, env=dict(os.environ, AUTHD_PORT="0"),
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.requests = []
        line = self.proc.stdout.readline()  # blocks until it listens (or exits: "")
        m = re.match(r"AUTHD listening on (\S+)", line)
        if not m:
            self.kill()
            raise RuntimeError("authd.py did not start: %r %s" % (line, self.proc.stderr.read()))
        self.address = m.group(1)
        self._drain = threading.Thread(target=self._read_stderr, daemon=True)
        self._drain.start()

    def _read_stderr(self):
        for line in self.proc.stderr:
            if line.startswith("AUTHREQ "):
                self.requests.append(line.rstrip("\n"))

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        if hasattr(self, "_drain"):
            self._drain.join(5)  # what it logged before the kill is still in the pipe


def test_probe_auth(ctx):
    """AUTH: required before PUB/SUB, bad secret, no authorizations, AUTH twice, topic and channel
    permissions (nsqd_auth_probe.txt), against golden/authd.py given as `--auth-http-address`.
    The auth server must also have been asked exactly as nsqd asks (Go's `url.Values.Encode`, keys
    sorted): one `GET /auth?common_name=&remote_ip=127.0.0.1&secret=S&tls=false` per AUTH that
    reaches it, in order: bad, none, good, then good three more times (the second AUTH on one
    connection is refused before any query)."""
    authd = Authd()

    def start():
        del authd.requests[:]  # a retried run starts a fresh count
        return ctx.start(extra_args=["--broadcast-address=127.0.0.1", "--auth-http-address=%s" % authd.address])

    try:
        compare(start, "probe_auth.py", "nsqd_auth_probe.txt", queue_ports)
    finally:
        authd.kill()
    want = ["AUTHREQ GET /auth?common_name=&remote_ip=127.0.0.1&secret=%s&tls=false" % s
            for s in ("bad", "none", "good", "good", "good", "good")]
    got = [r.split(" headers=")[0] for r in authd.requests]
    assert got == want, "auth server requests:\n  " + "\n  ".join(authd.requests)


def start_lookup(ctx):
    """A `weir lookup` on free ports that announces itself as 127.0.0.1 (queues reach its HTTP API
    through the address it gives in its IDENTIFY reply)."""
    return ctx.start_service("lookup", ["--broadcast-address=127.0.0.1"])


def test_probe_lookupd(ctx):
    """Lookup V1 protocol and HTTP API (lookupd_tcp_probe.txt). The transcript was taken with a
    real nsqd registered to the lookup after probe_tcp.py and probe2.py had run against it (its
    /nodes entry lists their topics t1, t2, t3#ephemeral, flowN), so the same happens here: a
    lookup, a queue registered to it (golden README: `--broadcast-address=127.0.0.1
    --lookupd-tcp-address=<lookup>`), both queue probes, then the lookup probe, full match."""
    class Pair:
        def __init__(self):
            self.lookup = start_lookup(ctx)
            self.queue = ctx.start(extra_args=["--broadcast-address=127.0.0.1",
                                               "--lookupd-tcp-address=%s" % self.lookup.tcp_address])
            self.ports = {"LOOKUPD_TCP_PORT": self.lookup.tcp_port, "LOOKUPD_HTTP_PORT": self.lookup.http_port,
                          **queue_ports(self.queue)}
            for probe, transcript in (("probe_tcp.py", "nsqd_tcp_probe.txt"), ("probe2.py", "nsqd_tcp_probe2.txt")):
                compare_once(probe, transcript, self.ports)  # their own tests require the match

        def kill(self):
            self.queue.kill()
            self.lookup.kill()

    compare(Pair, "probe_lookupd.py", "lookupd_tcp_probe.txt", lambda p: p.ports)
