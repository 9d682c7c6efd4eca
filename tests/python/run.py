#!/usr/bin/env python3
"""Integration suite: real NSQ clients (pynsq; gnsq's own test suite) and nsqd's golden transcripts
against the `weir` binary.

Run by `cargo xtask test` (or directly: `python3 tests/python/run.py [NAME-FILTER]`). It

1. creates a virtualenv in `target/pyenv` (ignored by git) and installs `requirements.txt` with
   pip, once (a stamp file remembers what was installed), then re-runs itself inside it;
2. builds the binary (`cargo build -p weir`; `WEIR_BIN` overrides the path and skips the build);
3. runs every test, each against its own `weir queue` process on free ports and a fresh data
   directory, and prints libtest-style lines (`test NAME ... ok` and a closing
   `test result: ok. N passed; M failed; K ignored; ...`) so xtask counts them.

Exit code 0 only if nothing failed. A broken bootstrap (pip, cargo) is reported as one failed test.
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
VENV = os.environ.get("WEIR_PYENV", os.path.join(ROOT, "target", "pyenv"))
REQUIREMENTS = os.path.join(HERE, "requirements.txt")


def bootstrap_failed(what, detail):
    print("test bootstrap::%s ... FAILED" % what)
    print("\n---- bootstrap::%s ----\n%s" % (what, detail))
    print("\ntest result: FAILED. 0 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s")
    sys.exit(1)


def ensure_venv():
    """Creates the virtualenv if needed and re-executes this script with its interpreter."""
    if os.environ.get("WEIR_PYENV_ACTIVE") == "1":
        return
    py = os.path.join(VENV, "bin", "python")
    stamp = os.path.join(VENV, ".weir-requirements")
    with open(REQUIREMENTS) as f:
        wanted = f.read()
    installed = None
    if os.path.exists(py) and os.path.exists(stamp):
        with open(stamp) as f:
            installed = f.read()
    if installed != wanted:
        print("creating %s and installing %s" % (VENV, os.path.relpath(REQUIREMENTS, ROOT)), file=sys.stderr)
        try:
            subprocess.run([sys.executable, "-m", "venv", "--clear", VENV], check=True, capture_output=True, text=True)
            subprocess.run([py, "-m", "pip", "install", "--disable-pip-version-check", "-q", "-r", REQUIREMENTS],
                           check=True, capture_output=True, text=True)
        except subprocess.CalledProcessError as e:
            bootstrap_failed("virtualenv", "%s\n%s\n%s" % (e.cmd, e.stdout, e.stderr))
        with open(stamp, "w") as f:
            f.write(wanted)
    env = dict(os.environ, WEIR_PYENV_ACTIVE="1", PYTHONUNBUFFERED="1")
    os.execve(py, [py, os.path.abspath(__file__), *sys.argv[1:]], env)


def build_weir():
    """The binary to test: `WEIR_BIN`, or a fresh `cargo build -p weir`."""
    if os.environ.get("WEIR_BIN"):
        return os.environ["WEIR_BIN"]
    cargo = os.environ.get("CARGO", "cargo")
    cmd = [cargo, "build", "-p", "weir", "--manifest-path", os.path.join(ROOT, "Cargo.toml")]
    print("$ %s" % " ".join(cmd), file=sys.stderr)
    # The simulator flags must not leak in from the environment: this is the real binary.
    env = {k: v for k, v in os.environ.items() if k not in ("RUSTFLAGS", "RUSTDOCFLAGS", "CARGO_ENCODED_RUSTFLAGS")}
    r = subprocess.run(cmd, env=env, stdout=sys.stderr, stderr=sys.stderr)
    if r.returncode != 0:
        bootstrap_failed("cargo_build_weir", "cargo build -p weir failed (exit %d)" % r.returncode)
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    return os.path.join(target, "debug", "weir")


class Context:
    """What a test gets: the binary, and fresh data directories under one temporary root."""

    def __init__(self, binary, tmp_root):
        self.binary = binary
        self.tmp_root = tmp_root
        self.servers = []
        self._n = 0

    def data_dir(self, name="data"):
        self._n += 1
        path = os.path.join(self.tmp_root, "%s-%d" % (name, self._n))
        os.makedirs(path)
        return path

    def start(self, data_path=None, extra_args=()):
        """Starts a `weir queue`; stopped (killed if still running) after the test."""
        from weir_proc import Weir
        w = Weir(self.binary, data_path or self.data_dir(), extra_args)
        self.servers.append(w)
        return w

    def start_service(self, service, extra_args=()):
        """Starts another `weir <service>` (no data path); raises `weir_proc.NotBuilt` if the
        binary says it does not have it yet."""
        from weir_proc import Weir
        w = Weir(self.binary, None, extra_args, service=service)
        self.servers.append(w)
        return w

    def start_registry(self, extra_args=(), data_path=None):
        """Starts a `weir registry` on a free port (HTTP only), in `data_path` or a fresh data
        directory (its `data_path` attribute says which)."""
        from weir_proc import Weir
        data_path = data_path or self.data_dir("registry")
        w = Weir(self.binary, None, ["--data-path=%s" % data_path, *extra_args],
                 service="registry", listeners=("HTTP",))
        w.data_path = data_path
        self.servers.append(w)
        return w

    def cleanup(self):
        for w in self.servers:
            w.kill()

    def server_logs(self):
        return "\n".join("  weir %s (%s):\n%s" % (i, " ".join(w.args[1:]), w.log_text())
                         for i, w in enumerate(self.servers))


def all_tests():
    import test_clients
    import test_consul
    import test_eureka
    import test_gnsq
    import test_golden
    import test_lookup
    import test_metrics
    tests = []
    for module, prefix in ((test_clients, "clients"), (test_consul, "consul"), (test_eureka, "eureka"),
                           (test_gnsq, "gnsq"), (test_golden, "golden"), (test_lookup, "lookup"),
                           (test_metrics, "metrics")):
        for name in dir(module):
            if name.startswith("test_"):
                tests.append(("%s::%s" % (prefix, name[len("test_"):]), getattr(module, name)))
    return sorted(tests, key=lambda t: t[0])


def main():
    ensure_venv()
    sys.path.insert(0, HERE)
    from support import Skip
    binary = build_weir()
    if not os.path.exists(binary):
        bootstrap_failed("weir_binary", "no binary at %s" % binary)
    filters = sys.argv[1:]
    tests = all_tests()
    selected = [t for t in tests if not filters or any(f in t[0] for f in filters)]
    print("\nrunning %d tests" % len(selected))
    started = time.time()
    passed, failed, ignored = 0, [], 0
    for name, fn in selected:
        tmp = tempfile.mkdtemp(prefix="weir-pytest-")
        ctx = Context(binary, tmp)
        t0 = time.time()
        try:
            fn(ctx)
        except Skip as s:
            print("test %s ... ignored, %s" % (name, s))
            ignored += 1
        except BaseException as e:  # noqa: B902 - a test may fail in any way
            if isinstance(e, KeyboardInterrupt):
                raise
            print("test %s ... FAILED (%.1fs)" % (name, time.time() - t0))
            failed.append((name, traceback.format_exc(), ctx.server_logs()))
        else:
            print("test %s ... ok (%.1fs)" % (name, time.time() - t0))
            passed += 1
        finally:
            ctx.cleanup()
            shutil.rmtree(tmp, ignore_errors=True)
        sys.stdout.flush()
    if failed:
        print("\nfailures:\n")
        for name, tb, logs in failed:
            print("---- %s ----\n%s\n%s\n" % (name, tb, logs))
        print("failures:")
        for name, _, _ in failed:
            print("    %s" % name)
    print("\ntest result: %s. %d passed; %d failed; %d ignored; 0 measured; %d filtered out; finished in %.2fs"
          % ("FAILED" if failed else "ok", passed, len(failed), ignored, len(tests) - len(selected),
             time.time() - started))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
