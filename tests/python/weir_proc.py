"""Starting and stopping the real `weir queue` binary for the integration tests.

The server is started on free ports (`127.0.0.1:0`); the addresses it actually bound are read from
its log lines `TCP: listening on ADDR` and `HTTP: listening on ADDR` on stderr (nsqd's wording).
Its stderr is kept (a background thread drains it so the pipe never fills) and shown when a test
fails.
"""
import os
import re
import signal
import subprocess
import threading
import time

LISTEN_RE = re.compile(r"\b(TCP|HTTP): listening on (\S+)")


def port_of(addr):
    return int(addr.rsplit(":", 1)[1])


class NotBuilt(Exception):
    """The binary says this service is not built yet."""


class Weir:
    """One `weir <service>` process (`queue` unless told otherwise)."""

    def __init__(self, binary, data_path=None, extra_args=(), start_timeout_s=30.0, service="queue",
                 listeners=("TCP", "HTTP")):
        """`listeners`: the `listening on` lines to wait for (`weir registry` has HTTP only)."""
        self.binary = binary
        self.data_path = data_path
        self.listeners = set(listeners)
        self.args = [binary, service] + ["--%s-address=127.0.0.1:0" % l.lower() for l in ("TCP", "HTTP") if l in self.listeners]
        if data_path is not None:
            self.args.append("--data-path=%s" % data_path)
            os.makedirs(data_path, exist_ok=True)
        self.args.extend(extra_args)
        self.log = []
        self.addrs = {}
        self._ready = threading.Event()
        self.proc = subprocess.Popen(self.args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        self._drain = threading.Thread(target=self._read_stderr, daemon=True)
        self._drain.start()
        if not self._ready.wait(start_timeout_s) or set(self.addrs) != self.listeners:
            self.kill()
            self._drain.join(5)
            if any("not built" in l for l in self.log):
                raise NotBuilt("\n".join(self.log))
            raise RuntimeError("weir did not report its listeners within %.0fs (exit %r):\n%s"
                               % (start_timeout_s, self.proc.poll(), self.log_text()))

    def _read_stderr(self):
        for raw in self.proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self.log.append(line)
            m = LISTEN_RE.search(line)
            if m:
                self.addrs[m.group(1)] = m.group(2)
                if set(self.addrs) == self.listeners:
                    self._ready.set()
        self._ready.set()  # exited: let the waiter see it

    @property
    def tcp_port(self):
        return port_of(self.addrs["TCP"])

    @property
    def http_port(self):
        return port_of(self.addrs["HTTP"])

    @property
    def tcp_address(self):
        return "127.0.0.1:%d" % self.tcp_port

    @property
    def http_address(self):
        return "127.0.0.1:%d" % self.http_port

    def log_text(self, last=60):
        return "\n".join("    | " + l for l in self.log[-last:])

    def terminate(self, timeout_s=30.0):
        """A clean stop (SIGTERM, as an operator would); returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
            raise RuntimeError("weir did not stop within %.0fs of SIGTERM:\n%s" % (timeout_s, self.log_text()))
        self._drain.join(5)
        return code

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def wait_until(pred, timeout_s, what, step_s=0.05):
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if pred():
            return
        time.sleep(step_s)
    raise AssertionError("timed out after %.0fs waiting for %s" % (timeout_s, what))
