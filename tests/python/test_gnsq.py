"""gnsq's own integration suite (PyPI `gnsq` 1.0.2, a gevent NSQ client) against the `weir` binary.

gnsq's tests spawn `nsqd` and `nsqlookupd` from PATH, parse `nsqd --version` with
`\\(built w\\/[a-z0-9.-]+\\)`, start nsqd with `--tls-cert/--tls-key/--https-address` and wait for
the `TCP:`, `HTTP:` and `HTTPS: listening on` lines, then exercise the TCP protocol (TLS, snappy,
deflate upgrades included), the HTTP API (over HTTP and HTTPS) and the lookup. Here PATH gets a
directory whose `nsqd` and `nsqlookupd` are links to the binary under test.

The tests ship only in gnsq's sdist, not its wheel: the first run downloads the sdist with pip
(pinned by version and SHA-256) into `target/pyenv/gnsq-src/` and unpacks it there; later runs
reuse it.
"""
import hashlib
import os
import re
import subprocess
import sys
import tarfile

GNSQ_VERSION = "1.0.2"
GNSQ_SDIST_SHA256 = "f2bb8cc816ffc449865ab1729eeec8b7524f7a416161cc99db2f44782a002c13"
# The whole suite takes seconds against a healthy server; this only turns a hang into a failure.
SUITE_TIMEOUT_S = 900
# What gnsq 1.0.2's suite holds (all run: python-snappy is installed, so nothing is skipped).
EXPECTED_TESTS = 108


def _pyenv():
    return os.path.dirname(os.path.dirname(os.path.abspath(sys.executable)))


def gnsq_source():
    """The unpacked gnsq sdist (with its `tests/`), downloaded once."""
    root = os.path.join(_pyenv(), "gnsq-src")
    src = os.path.join(root, "gnsq-%s" % GNSQ_VERSION)
    if os.path.exists(os.path.join(src, "tests", "integration_server.py")):
        return src
    os.makedirs(root, exist_ok=True)
    tarball = os.path.join(root, "gnsq-%s.tar.gz" % GNSQ_VERSION)
    if not os.path.exists(tarball):
        r = subprocess.run([sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "-q",
                            "--no-deps", "--no-binary", ":all:", "gnsq==%s" % GNSQ_VERSION, "-d", root],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise AssertionError("pip download gnsq==%s failed:\n%s\n%s" % (GNSQ_VERSION, r.stdout, r.stderr))
    with open(tarball, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    if digest != GNSQ_SDIST_SHA256:
        os.remove(tarball)
        raise AssertionError("gnsq sdist SHA-256 %s, expected %s" % (digest, GNSQ_SDIST_SHA256))
    with tarfile.open(tarball) as t:
        try:
            t.extractall(root, filter="data")
        except TypeError:  # Python before 3.11.4 / 3.10.12: no extraction filters (the hash is pinned)
            t.extractall(root)
    return src


def _bin_dir(ctx):
    """A directory whose `nsqd` and `nsqlookupd` run the binary under test."""
    d = os.path.join(ctx.tmp_root, "bin")
    os.makedirs(d, exist_ok=True)
    for name in ("nsqd", "nsqlookupd"):
        os.symlink(os.path.abspath(ctx.binary), os.path.join(d, name))
    return d


def test_integration_suite(ctx):
    src = gnsq_source()
    env = dict(os.environ, PATH=_bin_dir(ctx) + os.pathsep + os.environ.get("PATH", ""))
    env.pop("PYTHONPATH", None)
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "ignore::DeprecationWarning",
           "-rfEs", "tests"]
    try:
        r = subprocess.run(cmd, cwd=src, env=env, capture_output=True, text=True, timeout=SUITE_TIMEOUT_S)
    except subprocess.TimeoutExpired as e:
        raise AssertionError("gnsq's suite did not finish in %ds:\n%s" % (SUITE_TIMEOUT_S, (e.stdout or "")[-20000:]))
    out = r.stdout + r.stderr
    summary = [l for l in r.stdout.splitlines() if re.search(r"\d+ (passed|failed|error)", l)]
    last = summary[-1] if summary else ""
    passed = re.search(r"(\d+) passed", last)
    ok = (r.returncode == 0 and passed and int(passed.group(1)) == EXPECTED_TESTS
          and not re.search(r"failed|error|skipped", last))
    if not ok:
        raise AssertionError("gnsq %s suite: exit %d, summary %r (want %d passed, none failed or skipped)\n%s"
                             % (GNSQ_VERSION, r.returncode, last, EXPECTED_TESTS, out[-30000:]))
