"""Golden conformance: nsqd 1.3.0's own transcripts (golden/) replayed against weir.

Each probe runs against a fresh `weir queue` and `golden/compare.py` diffs its transcript with the
real nsqd's after normalisation; the test passes only on a full match (`matched N/N`).
"""
import os
import subprocess
import sys

from support import Skip

GOLDEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden")


def compare(ctx, probe, transcript, extra_env):
    env = dict(os.environ, **{k: str(v) for k, v in extra_env.items()})
    r = subprocess.run([sys.executable, "compare.py", probe, transcript], cwd=GOLDEN, env=env,
                       capture_output=True, text=True, timeout=300)
    summary = r.stdout.strip().splitlines()[-1] if r.stdout.strip() else "(no output)"
    print("    %s: %s" % (probe, summary))
    assert r.returncode == 0, "%s does not match %s:\n%s\n%s" % (probe, transcript, r.stdout, r.stderr)


def start_queue(ctx):
    return ctx.start(extra_args=["--broadcast-address=127.0.0.1"])


def test_probe_tcp(ctx):
    """Errors, fatal vs non-fatal, IDENTIFY negotiation and validation (nsqd_tcp_probe.txt)."""
    w = start_queue(ctx)
    compare(ctx, "probe_tcp.py", "nsqd_tcp_probe.txt", {"NSQD_TCP_PORT": w.tcp_port, "NSQD_HTTP_PORT": w.http_port})


def test_probe2_message_flow(ctx):
    """RDY window, REQ/TOUCH/FIN, timeouts, heartbeats, CLS, /stats (nsqd_tcp_probe2.txt)."""
    w = start_queue(ctx)
    compare(ctx, "probe2.py", "nsqd_tcp_probe2.txt", {"NSQD_TCP_PORT": w.tcp_port, "NSQD_HTTP_PORT": w.http_port})


def test_probe_lookupd(ctx):
    """Lookup V1 protocol and HTTP API (lookupd_tcp_probe.txt); runs once `weir lookup` exists."""
    from weir_proc import NotBuilt
    try:
        lookup = ctx.start_service("lookup")
    except NotBuilt:
        raise Skip("needs the lookup (`weir lookup` says it is not built yet)")
    compare(ctx, "probe_lookupd.py", "lookupd_tcp_probe.txt",
            {"LOOKUPD_TCP_PORT": lookup.tcp_port, "LOOKUPD_HTTP_PORT": lookup.http_port})
