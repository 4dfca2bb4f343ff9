"""The supervisor's custody of descriptors (MSG_FD_STORE), end to end.

Only the supervisor and xsgwctl are real: the three workers are one scripted
worker (FAKE below) speaking the control protocol on fd 3, so no XMPP server
or SIP peer is needed. The scripted xmpp-front connects to a Unix socket of
the test's (its "component connection") and leaves it in custody with a memfd
(its "journal"); the test's end of that connection shows whether anything
still holds the other end.

  - kill -9: the connection stays up; the next incarnation gets both (fds 4
    and 5, XSGW_FDS=2), writes on the same connection, reads the journal;
  - a kill by the heartbeat (a hung worker): the same;
  - descriptors stored just before exiting are still taken (SIGCHLD may be
    seen before the frame: the supervisor reads what the dead one left);
  - xsgwctl restart: MSG_RESTART, not SHUTDOWN; handed over again;
  - another worker restarted meanwhile inherits nothing;
  - nfds 0 releases: after the next kill the connection ends;
  - SIGTERM: SHUTDOWN, and what is held is closed after that worker exited.
"""
import json
import os
import re
import select
import signal
import socket
import subprocess
import time

import pytest

from conftest import BIN, ROOT, wait_for

# The scripted worker. Written out at test time (FRAME_VERSION from frame.h).
FAKE = r'''#!/usr/bin/python3
import os, signal, socket, struct, sys

def is_open(fd):
    try:
        os.fstat(fd)
        return True
    except OSError:
        return False

# before anything opens a file: what this process was given
GIVEN = [fd for fd in range(3, 64) if is_open(fd)]
NFDS = os.environ.get("XSGW_FDS")
VER = %(ver)d
READY, PING, PONG, SHUTDOWN, RESTART, FD_STORE = 2, 3, 4, 5, 10, 11
NAME = os.path.basename(sys.argv[0])[len("xsgw-"):]
OUT = os.environ["FAKE_DIR"]
PEER = os.environ["FAKE_PEER"]


def note(text):
    with open(os.path.join(OUT, NAME + ".notes"), "a") as f:
        f.write("%%d %%s\n" %% (os.getpid(), text))


def frame(t, payload=b""):
    return struct.pack(">HHIQ", VER, t, len(payload), 0) + payload


ctl = socket.socket(fileno=3)
note("start given=%%s XSGW_FDS=%%s" %% (",".join(map(str, GIVEN)), NFDS))
conn = journal = None
if NAME == "xmpp-front":
    if NFDS:
        conn = socket.socket(fileno=4)
        journal = 5
        os.lseek(journal, 0, os.SEEK_SET)
        note("journal=%%s" %% os.read(journal, 100).decode())
        conn.sendall(b"hello from %%d\n" %% os.getpid())
    else:
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        conn.connect(PEER)
        journal = os.memfd_create("journal")
        os.write(journal, b"journal of %%d" %% os.getpid())
        conn.sendall(b"connected %%d\n" %% os.getpid())
        socket.send_fds(ctl, [frame(FD_STORE, b"\x01" + struct.pack(">I", 2))],
                        [conn.fileno(), journal])
        note("stored")


def release(sig, f):
    ctl.sendall(frame(FD_STORE, b"\x01" + struct.pack(">I", 0)))
    note("released")


def store_and_die(sig, f):
    late = os.memfd_create("journal")
    os.write(late, b"late journal of %%d" %% os.getpid())
    socket.send_fds(ctl, [frame(FD_STORE, b"\x01" + struct.pack(">I", 2))],
                    [conn.fileno(), late])
    os._exit(3)


signal.signal(signal.SIGUSR1, release)
signal.signal(signal.SIGUSR2, store_and_die)
ctl.sendall(frame(READY))
buf = b""
while True:
    try:
        d = ctl.recv(65536)
    except InterruptedError:
        continue
    if not d:
        note("eof")
        sys.exit(1)
    buf += d
    while len(buf) >= 16:
        ver, t, n, seq = struct.unpack(">HHIQ", buf[:16])
        if len(buf) < 16 + n:
            break
        payload, buf = buf[16:16 + n], buf[16 + n:]
        if t == PING:
            ctl.sendall(frame(PONG, payload))
        elif t in (SHUTDOWN, RESTART):
            note("shutdown" if t == SHUTDOWN else "restart")
            sys.exit(0)
'''


def frame_version():
    with open(os.path.join(ROOT, "shared", "frame.h")) as f:
        return int(re.search(r"#define FRAME_VERSION (\d+)", f.read()).group(1))


class Custody:
    def __init__(self, d):
        self.dir = d
        self.libexec = os.path.join(d, "libexec")
        os.makedirs(self.libexec)
        fake = os.path.join(self.libexec, "fake.py")
        with open(fake, "w") as f:
            f.write(FAKE % {"ver": frame_version()})
        os.chmod(fake, 0o755)
        for w in ("translator", "xmpp-front", "sip-front"):
            os.symlink(fake, os.path.join(self.libexec, "xsgw-" + w))
        self.peer = os.path.join(d, "peer.sock")
        self.lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.lsock.bind(self.peer)
        self.lsock.listen(4)
        self.cfg = os.path.join(d, "xsgw.yaml")
        with open(self.cfg, "w") as f:
            f.write("xmpp: {component: sip.localhost, secret: s, domains: [localhost]}\n"
                    "sip: {listen: 127.0.0.1:5600, domain: localhost}\n"
                    "store: {path: %s/store}\nruntime: {dir: %s/run}\n"
                    "supervisor: {restart_backoff_ms: [20, 200], heartbeat_ms: 300, "
                    "max_deaths: 20}\n"
                    "log: {level: info}\n" % (d, d))
        self.log = os.path.join(d, "xsgw.log")
        self.logf = open(self.log, "ab")
        # under `make asan`, reports go to files checked at the end
        san = os.path.join(d, "san")
        env = dict(os.environ, XSGW_LIBEXEC=self.libexec, FAKE_DIR=d,
                   FAKE_PEER=self.peer,
                   ASAN_OPTIONS="log_path=%s:detect_leaks=1" % san,
                   UBSAN_OPTIONS="log_path=%s:print_stacktrace=1" % san)
        env.pop("XSGW_FDS", None)
        self.proc = subprocess.Popen([os.path.join(BIN, "xsgw"), "-c", self.cfg],
                                     stdout=self.logf, stderr=subprocess.STDOUT,
                                     env=env)

    def read_log(self):
        with open(self.log, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def notes(self, worker):
        try:
            with open(os.path.join(self.dir, worker + ".notes")) as f:
                return [ln.split(" ", 1) for ln in f.read().splitlines()]
        except FileNotFoundError:
            return []

    def notes_of(self, worker, pid):
        return [t for p, t in self.notes(worker) if int(p) == pid]

    def status(self):
        r = subprocess.run([os.path.join(BIN, "xsgwctl"), "-c", self.cfg, "status", "--json"],
                           capture_output=True, text=True, timeout=15)
        if r.returncode:
            return None
        return {w["name"]: w for w in json.loads(r.stdout)["workers"]}

    def ctl(self, *args):
        r = subprocess.run([os.path.join(BIN, "xsgwctl"), "-c", self.cfg] + list(args),
                           capture_output=True, text=True, timeout=15)
        assert r.returncode == 0, r.stderr
        return r.stdout

    def ready(self, worker, not_pid=None):
        def ok():
            st = self.status() or {}
            w = st.get(worker, {})
            return w.get("pid") not in (None, 0, not_pid) and w.get("state") == "ready" and w["pid"]
        return wait_for(ok, 15, "%s ready" % worker)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.logf.close()
        self.lsock.close()
        return self.proc.returncode


@pytest.fixture
def custody(tmp_path):
    c = Custody(str(tmp_path))
    yield c
    c.stop()
    reps = [fn for fn in os.listdir(c.dir) if fn.startswith("san.")]
    assert not reps, "sanitizer reports: %s" % reps


def line(conn, timeout=10):
    """One line from the test's end of the connection ('' at EOF)."""
    buf = b""
    end = time.monotonic() + timeout
    while not buf.endswith(b"\n"):
        r, _, _ = select.select([conn], [], [], max(0, end - time.monotonic()))
        assert r, "nothing on the connection in %ss" % timeout
        d = conn.recv(1)
        if not d:
            return buf.decode()
        buf += d
    return buf.decode()


def quiet(conn, secs):
    """Nothing (no byte, no EOF) arrives for secs."""
    r, _, _ = select.select([conn], [], [], secs)
    return not r


def test_custody_outlives_kill_restart_and_ends_at_stop(custody):
    c = custody
    front = "xmpp-front"
    p1 = c.ready(front)
    c.lsock.settimeout(10)
    conn, _ = c.lsock.accept()
    assert line(conn) == "connected %d\n" % p1
    wait_for(lambda: "xmpp-front: holding 2 descriptor(s) for it" in c.read_log(),
             10, "custody taken")

    # kill -9: the supervisor's copy keeps the connection up
    os.kill(p1, signal.SIGKILL)
    p2 = c.ready(front, not_pid=p1)
    assert line(conn) == "hello from %d\n" % p2
    assert c.notes_of(front, p2)[:2] == ["start given=3,4,5 XSGW_FDS=2",
                                         "journal=journal of %d" % p1]
    assert "started xmpp-front (pid %d), handing over 2 descriptor(s)" % p2 \
        in c.read_log()

    # the heartbeat kills a hung one: the same
    os.kill(p2, signal.SIGSTOP)
    p3 = c.ready(front, not_pid=p2)
    assert "xmpp-front missed 3 heartbeats; killing it" in c.read_log()
    assert line(conn) == "hello from %d\n" % p3
    assert c.notes_of(front, p3)[:2] == ["start given=3,4,5 XSGW_FDS=2",
                                         "journal=journal of %d" % p1]

    # stored just before exiting (SIGCHLD may come first): still taken
    os.kill(p3, signal.SIGUSR2)
    p4 = c.ready(front, not_pid=p3)
    assert line(conn) == "hello from %d\n" % p4
    assert c.notes_of(front, p4)[:2] == ["start given=3,4,5 XSGW_FDS=2",
                                         "journal=late journal of %d" % p3]

    # another worker restarted meanwhile inherits nothing
    sp = c.ready("sip-front")
    c.ctl("restart", "sip-front")
    sp2 = c.ready("sip-front", not_pid=sp)
    assert c.notes_of("sip-front", sp2)[0] == "start given=3 XSGW_FDS=None"

    # xsgwctl restart: MSG_RESTART, handed over again
    assert "restarting" in c.ctl("restart", front)
    p5 = c.ready(front, not_pid=p4)
    assert c.notes_of(front, p4)[-1] == "restart"
    assert line(conn) == "hello from %d\n" % p5
    assert c.notes_of(front, p5)[0] == "start given=3,4,5 XSGW_FDS=2"

    # nfds 0 releases; the next kill then ends the connection
    os.kill(p5, signal.SIGUSR1)
    wait_for(lambda: "xmpp-front: holding 0 descriptor(s) for it" in c.read_log(),
             10, "custody released")
    assert quiet(conn, 0.3)
    os.kill(p5, signal.SIGKILL)
    assert line(conn) == ""  # EOF: nobody holds it
    conn.close()
    p6 = c.ready(front, not_pid=p5)
    assert c.notes_of(front, p6)[0] == "start given=3 XSGW_FDS=None"

    # the fresh one stores a new connection; SIGTERM: SHUTDOWN (not a
    # restart), closed once that worker has exited
    conn2, _ = c.lsock.accept()
    assert line(conn2) == "connected %d\n" % p6
    wait_for(lambda: c.read_log().count("xmpp-front: holding 2 descriptor(s) for it") == 3,
             10, "custody taken again")
    assert c.stop() == 0
    assert c.notes_of(front, p6)[-1] == "shutdown"
    assert line(conn2) == ""
    log = c.read_log()
    stopping = log.index("stopping: SIGTERM")
    exited = log.index("xmpp-front exited with code 0", stopping)
    closed = log.index("xmpp-front: closed the 2 descriptor(s) held for it")
    assert stopping < exited < closed, log[-3000:]
