"""Fixtures: real Prosody, the gateway under its supervisor, SIPp peers.

Everything listens on 127.0.0.1; every wait has a timeout.
"""
import asyncio
import os
import signal
import subprocess
import tempfile
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
BUILD = os.environ.get("XSGW_BUILD", os.path.join(ROOT, "build"))
BIN = os.path.join(BUILD, "bin")
PEERS = os.path.join(ROOT, "tests", "peers")
SIPP = os.path.join(ROOT, "tests", "sipp")

GW_SIP = "127.0.0.1:5600"
UAS_PORT = 5070


def wait_for(pred, timeout, what):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError("timed out after %ss waiting for %s" % (timeout, what))


@pytest.fixture(scope="session")
def prosody():
    d = tempfile.mkdtemp(prefix="xsgw-prosody-")
    env = dict(os.environ, XMPP_USERS="alice:alicepass bob:bobpass carol:carolpass kate:katepass dave:davepass erin:erinpass olivia:oliviapass 2000006168:phonepass")
    pid = subprocess.run([os.path.join(PEERS, "prosody_start.sh"), d + "/p"],
                         env=env, capture_output=True, text=True, timeout=60)
    assert pid.returncode == 0, pid.stderr
    yield d + "/p"
    subprocess.run([os.path.join(PEERS, "prosody_stop.sh"), d + "/p"],
                   capture_output=True, timeout=30)


class Gateway:
    def __init__(self, tmp, **over):
        self.dir = tmp
        self.cfg = os.path.join(tmp, "xsgw.yaml")
        self.log = os.path.join(tmp, "xsgw.log")
        sip = {"listen": GW_SIP, "proxy": '""',
               "domain": '"127.0.0.1:%d"' % UAS_PORT,
               "message_timeout_ms": "4000", "propose_timeout_ms": "1000",
               "candidate_wait_ms": "300"}
        sip.update(over.get("sip", {}))
        sup = {"restart_backoff_ms": "[20, 500]", "heartbeat_ms": "300",
               "max_deaths": "20"}
        sup.update(over.get("supervisor", {}))
        with open(self.cfg, "w") as f:
            f.write("xmpp: {component: sip.localhost, host: %s, "
                    "port: %d, secret: s3cret, domains: [localhost], "
                    "reconnect_backoff_ms: [50, 500]}\n"
                    % (over.get("xmpp_host", "127.0.0.1"),
                       over.get("xmpp_port", 5347)))
            f.write("sip: {%s}\n" % ", ".join("%s: %s" % kv for kv in sip.items()))
            f.write("store: {path: %s/store, map_size: %s%s}\n"
                    % (tmp, over.get("store_map", "64MiB"),
                       ", sync: %s, sync_interval_ms: %d"
                       % (over["store_sync"], over.get("sync_interval_ms", 60000))
                       if "store_sync" in over else ""))
            f.write("runtime: {dir: %s/run}\n" % tmp)
            f.write("supervisor: {%s}\n" % ", ".join("%s: %s" % kv for kv in sup.items()))
            if "presence" in over:
                f.write("presence: %s\n" % over["presence"])
            f.write("log: {level: %s%s}\n"
                    % (over.get("log_level", os.environ.get("XSGW_LOG_LEVEL", "info")),
                       ", bodies: true" if over.get("log_bodies") else ""))
        self.proc = None
        self.expect_rc = 0
        self.wait_xmpp = over.get("wait_xmpp", True)

    def start(self):
        self.logf = open(self.log, "ab")
        # Under `make asan` a sanitizer report ends the worker (the supervisor
        # would hide that by restarting it): reports go to files checked at stop.
        san = os.path.join(self.dir, "san")
        env = dict(os.environ,
                   ASAN_OPTIONS="log_path=%s:detect_leaks=1" % san,
                   UBSAN_OPTIONS="log_path=%s:print_stacktrace=1" % san)
        self.proc = subprocess.Popen([os.path.join(BIN, "xsgw"), "-c", self.cfg],
                                     stdout=self.logf, stderr=subprocess.STDOUT,
                                     env=env)
        wait_for(lambda: self.all_ready(), 15, "all workers ready")
        if self.wait_xmpp:
            wait_for(lambda: "xmpp: connected" in self.read_log(), 15,
                     "component connected")
        return self

    def read_log(self):
        with open(self.log, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def ctl(self, *args, check=True):
        r = subprocess.run([os.path.join(BIN, "xsgwctl"), "-c", self.cfg] + list(args),
                           capture_output=True, text=True, timeout=15)
        if check:
            assert r.returncode == 0, r.stderr
        return r

    def status(self):
        import json
        r = self.ctl("status", "--json", check=False)
        if r.returncode:
            return None
        return {w["name"]: w for w in json.loads(r.stdout)["workers"]}

    def all_ready(self):
        st = self.status()
        return st and all(w["state"] == "ready" for w in st.values())

    def pid(self, worker):
        """The worker's pid, once it runs (0 between incarnations: never
        passed to os.kill, where it means our own process group)."""
        return wait_for(lambda: (self.status() or {}).get(worker, {})
                        .get("pid"), 15, "%s running" % worker)

    def kill9(self, worker):
        """SIGKILL a worker; wait until the supervisor has a new one ready."""
        old = self.pid(worker)
        os.kill(old, signal.SIGKILL)
        self.wait_replaced(worker, old)

    def restart(self, worker):
        """xsgwctl restart; wait until the supervisor has a new one ready."""
        old = self.pid(worker)
        assert "restarting" in self.ctl("restart", worker).stdout
        self.wait_replaced(worker, old)

    def wait_replaced(self, worker, old):
        wait_for(lambda: (self.status() or {}).get(worker, {}).get("pid") not in (None, 0, old)
                 and self.status()[worker]["state"] == "ready", 15,
                 "%s restarted" % worker)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc:
            self.logf.close()
        return self.proc.returncode if self.proc else None

    def sanitizer_reports(self):
        out = []
        for fn in sorted(os.listdir(self.dir)):
            if fn.startswith("san."):
                with open(os.path.join(self.dir, fn), errors="replace") as f:
                    out.append(fn + ":\n" + f.read())
        return out


@pytest.fixture
def gateway_factory(prosody, tmp_path):
    made = []

    def make(**over):
        d = tempfile.mkdtemp(prefix="xsgw-gw-", dir=str(tmp_path))
        g = Gateway(d, **over)
        made.append(g)
        return g.start()

    yield make
    for g in made:
        rc = g.stop()
        assert rc == g.expect_rc, "gateway exited %s; log:\n%s" % (rc, g.read_log()[-4000:])
        reps = g.sanitizer_reports()
        assert not reps, "sanitizer reports:\n" + "\n".join(reps)[:8000]


@pytest.fixture
def gateway(gateway_factory):
    return gateway_factory()


def udp_bound(port):
    """Is a UDP socket bound to port (this network namespace)?"""
    want = ":%04X " % port
    for fn in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            with open(fn) as f:
                for line in f.readlines()[1:]:
                    if want in line.split(None, 2)[1] + " ":
                        return True
        except OSError:
            pass
    return False


class Sipp:
    """A SIPp process; SIPp writes its files into its own directory."""

    def __init__(self, tmp, scenario, args, name):
        self.dir = os.path.join(tmp, name)
        os.makedirs(self.dir, exist_ok=True)
        self.out = open(os.path.join(self.dir, "out.txt"), "wb")
        self.proc = subprocess.Popen(
            ["sipp", "-sf", os.path.join(SIPP, scenario), "-i", "127.0.0.1",
             "-mi", "127.0.0.1", "-nostdin", "-trace_logs", "-trace_err"] + args,
            cwd=self.dir, stdout=self.out, stderr=subprocess.STDOUT)
        # a peer the gateway sends to at once must be listening first
        if "-p" in args:
            port = int(args[args.index("-p") + 1])
            wait_for(lambda: self.proc.poll() is not None
                     or udp_bound(port), 10, "SIPp %s on UDP %d"
                     % (scenario, port))

    def wait(self, timeout):
        try:
            return self.proc.wait(timeout)
        finally:
            self.out.close()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGUSR1)  # SIPp: quit now
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def logged(self, prefix="BODY "):
        out = []
        for fn in os.listdir(self.dir):
            if fn.endswith("_logs.log"):
                with open(os.path.join(self.dir, fn), "rb") as f:
                    for line in f.read().decode("utf-8", "replace").splitlines():
                        if line.startswith(prefix):
                            out.append(line[len(prefix):])
        return out


@pytest.fixture
def sipp(tmp_path):
    running = []

    def start(scenario, args, name="sipp"):
        s = Sipp(str(tmp_path), scenario, args, name)
        running.append(s)
        return s

    yield start
    for s in running:
        s.stop()


def uac_burst_args(text, count, rate, limit, timeout_s):
    """SIPp uac_message.xml: count MESSAGEs from bob to alice@localhost
    through the gateway, `rate` per second, at most `limit` open; each body
    is text + " #N\\n"."""
    return ["-s", "alice", "-key", "domain", "localhost", "-key", "from",
            "bob", "-key", "text", text, GW_SIP, "-p", "5071", "-m",
            str(count), "-r", str(rate), "-l", str(limit), "-timeout",
            "%ds" % timeout_s, "-timeout_error"]


def uas_args():
    return ["-p", str(UAS_PORT), "-timeout", "180s"]


def run(coro, timeout=120):
    async def main():
        try:
            return await asyncio.wait_for(coro, timeout)
        finally:
            # scripted SIP peers a failed test left open free their port
            import jingle
            for p in jingle.SipPeer.running:
                p.close()
            jingle.SipPeer.running.clear()
    return asyncio.run(main())

