"""What the benchmarks share: a throw-away Prosody and xsgw on loopback."""
import json
import os
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PEERS = os.path.join(ROOT, "tests", "peers")


def ticks(pid):
    """CPU time of pid (utime + stime, clock ticks), None if it is gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fl = f.read().rsplit(")", 1)[1].split()
        return int(fl[11]) + int(fl[12])
    except (OSError, ValueError):
        return None


def wakeups(pid):
    """Times pid went to sleep of its own accord (voluntary context
    switches of its main thread): for a process that waits in its event
    loop, the wake-ups it had. Preemptions are not counted. None if it is
    gone."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("voluntary_ctxt_switches:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def hwm(pid):
    """Peak RSS of pid (VmHWM, KiB), None if it is gone."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmHWM"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def rss(pid):
    """Current RSS of pid (VmRSS, KiB), None if it is gone."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def wait(pred, t, what):
    """Until pred() holds, at most t seconds (RuntimeError after); returns
    what pred() returned."""
    end = time.monotonic() + t
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise RuntimeError("timed out waiting for " + what)


def pct(xs, p):
    """The p-th percentile of seconds, in ms (None for no data)."""
    xs = sorted(xs)
    if not xs:
        return None
    k = min(len(xs) - 1, max(0, int(round(p / 100.0 * (len(xs) - 1)))))
    return round(xs[k] * 1000.0, 3)


class Env:
    def __init__(self, build, users):
        self.build = build
        self.users = users
        self.tmp = tempfile.mkdtemp(prefix="xsgw-bench-")
        self.cfg = os.path.join(self.tmp, "xsgw.yaml")
        self.ctl_bin = os.path.join(build, "bin", "xsgwctl")
        self.gw = None

    def start(self):
        env = dict(os.environ, XMPP_USERS=self.users)
        subprocess.run([os.path.join(PEERS, "prosody_start.sh"), self.tmp + "/prosody"],
                       env=env, check=True, capture_output=True, timeout=60)
        with open(self.cfg, "w") as f:
            f.write("xmpp: {component: sip.localhost, host: 127.0.0.1, port: 5347, "
                    "secret: s3cret, domains: [localhost]}\n"
                    "sip: {listen: 127.0.0.1:5600, proxy: \"\", domain: \"127.0.0.1:5070\"}\n"
                    "store: {path: %s/store, map_size: 1GiB}\n"
                    "runtime: {dir: %s/run}\nlog: {level: info}\n"
                    # the kill runs kill a worker 20 times in a row: the
                    # supervisor's policy for a crash loop would dominate
                    "supervisor: {restart_backoff_ms: [1, 100], max_deaths: 1000}\n"
                    % (self.tmp, self.tmp))
        self.logf = open(os.path.join(self.tmp, "xsgw.log"), "wb")
        self.gw = subprocess.Popen([os.path.join(self.build, "bin", "xsgw"), "-c", self.cfg],
                                   stdout=self.logf, stderr=subprocess.STDOUT)
        end = time.monotonic() + 20
        while time.monotonic() < end:
            st = self.status()
            if st and all(w["state"] == "ready" for w in st):
                break
            time.sleep(0.1)
        # the component handshake follows readiness
        while time.monotonic() < end:
            if "xmpp: connected" in self.log():
                return
            time.sleep(0.05)
        raise SystemExit("xsgw did not come up; see %s/xsgw.log" % self.tmp)

    def status(self):
        r = subprocess.run([self.ctl_bin, "-c", self.cfg, "status", "--json"],
                           capture_output=True, text=True, timeout=10)
        if r.returncode:
            return None
        return json.loads(r.stdout)["workers"]

    def log(self):
        with open(os.path.join(self.tmp, "xsgw.log"), errors="replace") as f:
            return f.read()

    def stop(self):
        if self.gw:
            self.gw.terminate()
            try:
                self.gw.wait(20)
            except subprocess.TimeoutExpired:
                self.gw.kill()
        subprocess.run([os.path.join(PEERS, "prosody_stop.sh"), self.tmp + "/prosody"],
                       capture_output=True, timeout=30)
