"""Upgrades: a store written by the previous release (bb80ea4, store schema
1, tests/data/store-bb80ea4/) is opened by the new binaries and its calls
and message in flight go on; a worker of another release (another
FRAME_VERSION) is refused once, cleanly, and nothing replays in a loop.

The fixture's deadlines are wall-clock (the ringing call rings until
ring_deadline_ms, ~49.7 days after it was made), so the gateway runs under
libfaketime with its clock set to the fixture's crash + 60 s (manifest.json
"time_pitfall"): a relative FAKETIME offset, so that the supervisor and the
workers it starts later all see the same time.
"""
import asyncio
import calendar
import json
import os
import re
import shutil
import socket
import subprocess
import time
import types
import uuid

import pytest
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

from conftest import BIN, ROOT, Gateway, run
from jingle import ANSWER, SipPeer, body, cseq, hdr, jlogin, reason_of, tag_of
from test_call import until
from xmpp_user import logout

FIX = os.path.join(ROOT, "tests", "data", "store-bb80ea4")
with open(os.path.join(FIX, "manifest.json")) as _f:
    M = json.load(_f)
CALL_A = M["answered_call"]     # id 1, alice -> dave@sip.localhost, ACTIVE
CALL_B = M["ringing_call"]      # id 7, carol@127.0.0.1:5071 -> bob, RINGING
MSG = M["pending_message"]      # id 11, alice -> erin@sip.localhost, PENDING
ALICE = M["xmpp"]["users"]["alice"]["jid"]   # alice@localhost/fx-alice
BOB = M["xmpp"]["users"]["bob"]["jid"]       # bob@localhost/fx-bob
UAS_PORT = int(M["ports"]["sip_uas"].rsplit(":", 1)[1])               # 5070
UAC_PORT = int(M["ports"]["sip_uac_ringing_call"].rsplit(":", 1)[1])  # 5071
PINNED_MS = M["killed_at_ms"] + 60000
LIBFAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"
MIGRATING = "store: migrating schema 1"

# the three items as bb80ea4's xsgwctl listed them after the crash
FIXTURE_SESSIONS = {(1, "call-x2s", "active", CALL_A["sid"], CALL_A["call_id"]),
                    (7, "call-s2x", "ringing", CALL_B["sid"], CALL_B["call_id"])}


def frame_version():
    """FRAME_VERSION as this build has it (shared/frame.h)."""
    with open(os.path.join(ROOT, "shared", "frame.h")) as f:
        return int(re.search(r"#define FRAME_VERSION (\d+)", f.read()).group(1))


def store_schema():
    """STORE_SCHEMA as this build has it (shared/store.h)."""
    with open(os.path.join(ROOT, "shared", "store.h")) as f:
        return int(re.search(r"#define STORE_SCHEMA (\d+)", f.read()).group(1))


def uri(nameaddr):
    """<sip:x@h>;tag=t -> sip:x@h"""
    return nameaddr.split("<", 1)[1].split(">", 1)[0]


def branch(via):
    """The branch parameter of a Via header value."""
    return via.split(";branch=")[1].split(";")[0]


def faketime_env():
    """The clock of the gateway and its workers: the fixture's crash + 60 s
    (ticking from there)."""
    offset = round(PINNED_MS / 1000.0 - time.time())
    return {"LD_PRELOAD": LIBFAKETIME, "FAKETIME": "%+d" % offset,
            "FAKETIME_DONT_FAKE_MONOTONIC": "1"}


class FixtureGateway(Gateway):
    """The gateway on a copy of the fixture's data.mdb with the fixture's
    config (xsgw.yaml, placeholders filled), under libfaketime."""

    def __init__(self, tmp, libexec=None):
        os.makedirs(tmp, exist_ok=True)
        self.dir = tmp
        self.cfg = os.path.join(tmp, "xsgw.yaml")
        self.log = os.path.join(tmp, "xsgw.log")
        self.store = os.path.join(tmp, "store")
        os.makedirs(self.store)
        # data.mdb alone: LMDB makes lock.mdb
        shutil.copyfile(os.path.join(FIX, "data.mdb"),
                        os.path.join(self.store, "data.mdb"))
        with open(os.path.join(FIX, "xsgw.yaml")) as f:
            text = f.read()
        with open(self.cfg, "w") as f:
            f.write(text.replace("@STORE_DIR@", self.store)
                    .replace("@RUN_DIR@", os.path.join(tmp, "run")))
        self.libexec = libexec
        self.proc = None
        self.logf = None
        self.expect_rc = 0

    def spawn(self):
        """Start the supervisor; returns at once (the caller waits)."""
        self.logf = open(self.log, "ab")
        san = os.path.join(self.dir, "san")
        env = dict(os.environ,
                   # libfaketime is preloaded before an ASan runtime
                   ASAN_OPTIONS="log_path=%s:detect_leaks=1:"
                                "verify_asan_link_order=0" % san,
                   UBSAN_OPTIONS="log_path=%s:print_stacktrace=1" % san,
                   **faketime_env())
        if self.libexec:
            env["XSGW_LIBEXEC"] = self.libexec
        self.proc = subprocess.Popen([os.path.join(BIN, "xsgw"), "-c", self.cfg],
                                     stdout=self.logf, stderr=subprocess.STDOUT,
                                     env=env)
        return self

    async def astart(self):
        """spawn() and wait, with the event loop (users, peers) running."""
        self.spawn()
        await until(self.all_ready, 15, "all workers ready")
        await until(lambda: "xmpp: connected" in self.read_log(), 15,
                    "component connected")
        return self

    def stop(self):
        if self.proc is None:
            return None
        return super().stop()

    def json(self, *args):
        return json.loads(self.ctl(*(args + ("--json",))).stdout)

    def sessions(self):
        return self.json("sessions")["sessions"]

    def messages(self, *extra):
        return self.json("messages", *extra)["messages"]

    def schema(self):
        """The store's schema number, read with mdb_dump (lmdb-utils)."""
        r = subprocess.run(["mdb_dump", "-p", "-s", "meta", self.store],
                           capture_output=True, text=True, timeout=15)
        assert r.returncode == 0, r.stderr
        lines = [x.strip() for x in r.stdout.splitlines()]
        v = lines[lines.index("schema") + 1]
        return int(v.replace("\\", ""), 16)


@pytest.fixture
def fixture_gw(prosody, tmp_path):
    """A FixtureGateway not started yet: the test logs the users in and
    starts the SIP peers first. Stopped (exit 0) and checked afterwards."""
    gw = FixtureGateway(str(tmp_path))
    yield gw
    if gw.proc is None:
        return  # the test failed before it started the gateway
    rc = gw.stop()
    assert rc == gw.expect_rc, "gateway exited %s; log:\n%s" % (rc, gw.read_log()[-4000:])
    reps = gw.sanitizer_reports()
    assert not reps, "sanitizer reports:\n" + "\n".join(reps)[:8000]
    # the migrated store, read offline by the new xsgwctl
    assert gw.schema() == store_schema()
    assert gw.ctl("dump").stdout.strip()


def log_time_ms(line):
    """2026-12-03T07:41:10.002Z ... -> ms since the epoch (UTC)."""
    ts = line.split(" ", 1)[0]
    t = time.strptime(ts[:19], "%Y-%m-%dT%H:%M:%S")
    return calendar.timegm(t) * 1000 + int(ts[20:23])


async def boot(gw):
    """What each test starts before the gateway: the UAS of the answered
    call (and of the pending MESSAGE) on 5070, the UAC of the ringing call
    on 5071, alice and bob with the resources the store knows. Then the
    gateway, and what every test checks first."""
    p = types.SimpleNamespace()
    p.uas = await SipPeer.start(UAS_PORT)
    p.uas.tag = CALL_A["uas_to_tag"]
    p.uac = await SipPeer.start(UAC_PORT)
    p.alice = await jlogin(ALICE, "alicepass")
    p.bob = await jlogin(BOB, "bobpass")
    # XEP-0184 receipts have no <body>: slixmpp's "message" event skips them
    p.receipts = asyncio.Queue()
    p.alice.register_handler(Callback(
        "receipts", MatchXPath("{jabber:client}message/{urn:xmpp:receipts}received"),
        p.receipts.put_nowait))
    await gw.astart()

    log = gw.read_log()
    assert log.count(MIGRATING) == 1, log[-4000:]
    m = re.search(r"store: schema %d \((\d+) deadlines, (\d+) outbox entries, (\d+) "
                  r"messages, (\d+) calls, (\d+) presences, (\d+) call and "
                  r"presence keys carried over\)" % store_schema(), log)
    assert m, log[-4000:]
    # both deadlines, the message, both calls, both presences
    assert (int(m.group(1)), int(m.group(3)), int(m.group(4)), int(m.group(5))) == \
        (2, 1, 2, 2), m.group(0)
    # the clock the translator migrated with is the fixture's (faketime works)
    line = [x for x in log.splitlines() if MIGRATING in x][0]
    assert PINNED_MS - 5000 <= log_time_ms(line) <= PINNED_MS + 120000, line

    # the new xsgwctl reads the migrated store: the same items as before
    got = {(s["id"], s["kind"], s["state"], s["sid"], s["call_id"]) for s in gw.sessions()}
    assert got == FIXTURE_SESSIONS
    msgs = gw.messages()
    assert [(x["id"], x["state"], x["xmpp_id"], x["call_id"]) for x in msgs] == \
        [(11, "pending", MSG["stanza_id"], MSG["call_id"])]
    return p


def check_show(gw, left):
    """xsgwctl show of each call the test left: the stored dialog, as
    bb80ea4's xsgwctl showed it before the upgrade."""
    before = M["xsgwctl_after_crash"]["show"]
    for cid in (1, 7):
        r = gw.ctl("show", str(cid), "--json", check=False)
        if cid not in left:
            assert r.returncode != 0, r.stdout
            continue
        assert r.returncode == 0, r.stderr
        s, b = json.loads(r.stdout), before[str(cid)]
        for k in ("kind", "sid", "call_id", "owner", "peer", "local_uri", "remote_uri",
                  "local_tag", "remote_tag", "remote_target", "route_set",
                  "local_sdp", "remote_sdp", "local_cseq", "remote_cseq", "invite_cseq"):
            assert s[k] == b[k], (cid, k, s[k], b[k])


async def finish(gw, p, left):
    """The end of every test: only the calls the test left on purpose (with
    their state as stored), the store migrated exactly once."""
    want = {x for x in FIXTURE_SESSIONS if x[0] in left}
    await until(lambda: {(s["id"], s["kind"], s["state"], s["sid"], s["call_id"])
                         for s in gw.sessions()} == want, 5,
                "sessions %s" % sorted(want))
    check_show(gw, left)
    assert gw.read_log().count(MIGRATING) == 1
    assert gw.schema() == store_schema()
    for u in (p.alice, p.bob):
        await logout(u)
    p.uas.close()
    p.uac.close()


def uas_bye(uas):
    """The UAS hangs up the answered call, in the stored dialog."""
    msg = ("BYE %s SIP/2.0\r\n"
           "Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK%s;rport\r\n"
           "Max-Forwards: 70\r\n"
           "From: <%s>;tag=%s\r\n"
           "To: %s\r\n"
           "Call-ID: %s\r\n"
           "CSeq: 1 BYE\r\n"
           "Content-Length: 0\r\n\r\n"
           % (uri(CALL_A["gateway_contact"]), UAS_PORT, uuid.uuid4().hex[:12],
              uri(CALL_A["to"]), CALL_A["uas_to_tag"], CALL_A["from"],
              CALL_A["call_id"]))
    uas.send(msg)


def test_answered_call_hung_up_by_sip(fixture_gw):
    gw = fixture_gw

    async def go():
        p = await boot(gw)
        uas_bye(p.uas)
        code, ok = await p.uas.next_response("BYE", final=True, timeout=10)
        assert code == 200
        assert hdr(ok, "Call-ID") == CALL_A["call_id"] and cseq(ok) == (1, "BYE")
        assert tag_of(hdr(ok, "From")) == CALL_A["uas_to_tag"]
        assert tag_of(hdr(ok, "To")) == CALL_A["gateway_from_tag"]
        _, j = await p.alice.next_jingle(action="session-terminate", timeout=10)
        assert j.get("sid") == CALL_A["sid"]
        assert reason_of(j)[0] == "success"
        await finish(gw, p, left={7})
    run(go(), 60)


def test_answered_call_hung_up_by_xmpp(fixture_gw):
    gw = fixture_gw

    async def go():
        p = await boot(gw)
        r = await p.alice.send_jingle(CALL_A["gateway_jid"], "session-terminate",
                                      CALL_A["sid"], "<reason><success/></reason>")
        assert r["type"] == "result"
        bye = await p.uas.next_request("BYE", timeout=10)
        # to the stored remote target, in the stored dialog, the next CSeq
        assert bye.startswith("BYE %s SIP/2.0\r\n" % CALL_A["remote_target"])
        assert hdr(bye, "Call-ID") == CALL_A["call_id"]
        assert uri(hdr(bye, "From")) == uri(CALL_A["from"])
        assert tag_of(hdr(bye, "From")) == CALL_A["gateway_from_tag"]
        assert uri(hdr(bye, "To")) == uri(CALL_A["to"])
        assert tag_of(hdr(bye, "To")) == CALL_A["uas_to_tag"]
        assert cseq(bye) == (CALL_A["next_gateway_cseq_expected"], "BYE") == (2, "BYE")
        assert hdr(bye, "Route") is None  # the stored route set is empty
        p.uas.reply(bye, 200, "OK")
        await finish(gw, p, left={7})
    run(go(), 60)


@pytest.mark.parametrize("ender", ["sip", "xmpp"])
def test_ringing_call_answered(fixture_gw, ender):
    gw = fixture_gw

    async def go():
        p = await boot(gw)
        r = await p.bob.send_jingle(CALL_B["initiator_jid"], "session-accept",
                                    CALL_B["sid"], ANSWER)
        assert r["type"] == "result"
        # the 200 answers the stored INVITE (a re-sent 100/180 is skipped)
        code, ok = await p.uac.next_response("INVITE", final=True, timeout=10)
        assert code == 200
        assert hdr(ok, "Call-ID") == CALL_B["call_id"] and cseq(ok) == (1, "INVITE")
        assert branch(hdr(ok, "Via")) == CALL_B["invite_branch"]
        assert tag_of(hdr(ok, "From")) == CALL_B["uac_from_tag"]
        assert tag_of(hdr(ok, "To")) == CALL_B["gateway_to_tag"]
        assert hdr(ok, "Contact") == CALL_B["gateway_contact_in_180"]
        assert hdr(ok, "Content-Type") == "application/sdp"
        sdp = body(ok)
        assert "m=audio" in sdp and "PCMU/8000" in sdp and "m=video" not in sdp
        d = {"callid": CALL_B["call_id"], "ftag": CALL_B["uac_from_tag"], "cseq": 1,
             "ruri": CALL_B["request_uri"], "from": uri(CALL_B["from"]),
             "to": uri(CALL_B["to"])}
        totag = CALL_B["gateway_to_tag"]
        p.uac.ack(d, totag)
        d["target"] = uri(hdr(ok, "Contact"))
        await until(lambda: [s for s in gw.sessions() if s["id"] == 7
                             and s["state"] == "active"], 5, "call 7 active")
        if ender == "sip":
            n = p.uac.in_dialog(d, "BYE", totag)
            code, resp = await p.uac.next_response("BYE", final=True, timeout=10)
            assert code == 200 and cseq(resp) == (n, "BYE")
            _, j = await p.bob.next_jingle(action="session-terminate", timeout=10)
            assert j.get("sid") == CALL_B["sid"] and reason_of(j)[0] == "success"
        else:
            r = await p.bob.send_jingle(CALL_B["initiator_jid"], "session-terminate",
                                        CALL_B["sid"], "<reason><success/></reason>")
            assert r["type"] == "result"
            bye = await p.uac.next_request("BYE", timeout=10)
            assert bye.startswith("BYE %s SIP/2.0\r\n" % uri(CALL_B["uac_contact"]))
            assert hdr(bye, "Call-ID") == CALL_B["call_id"]
            assert tag_of(hdr(bye, "From")) == totag
            assert uri(hdr(bye, "To")) == uri(CALL_B["from"])
            assert tag_of(hdr(bye, "To")) == CALL_B["uac_from_tag"]
            # the gateway's first request in this dialog: stored local CSeq + 1
            n = M["xsgwctl_after_crash"]["show"]["7"]["local_cseq"] + 1
            assert cseq(bye) == (n, "BYE") == (1, "BYE")
            p.uac.reply(bye, 200, "OK")
        await finish(gw, p, left={1})
    run(go(), 60)


def test_pending_message_delivered(fixture_gw):
    gw = fixture_gw

    async def go():
        p = await boot(gw)
        msg = await p.uas.next_request("MESSAGE", timeout=10)
        # a retransmission of the stored transaction, not a new message
        assert msg.startswith("MESSAGE %s SIP/2.0\r\n" % MSG["request_uri"])
        assert hdr(msg, "Call-ID") == MSG["call_id"]
        assert tag_of(hdr(msg, "From")) == MSG["from_tag"]
        assert hdr(msg, "From") == MSG["sip_from"] and hdr(msg, "To") == MSG["sip_to"]
        assert hdr(msg, "Via") == MSG["via"]
        assert cseq(msg) == (MSG["cseq"], "MESSAGE")
        assert body(msg) == MSG["body"]
        p.uas.reply(msg, 200, "OK")
        rc = await asyncio.wait_for(p.receipts.get(), 10)
        rcv = rc.xml.find("{urn:xmpp:receipts}received")
        assert rcv.get("id") == MSG["stanza_id"]
        assert str(rc["from"]) == MSG["to_jid"] and str(rc["to"]) == ALICE
        await until(lambda: all(x["id"] != 11 for x in gw.messages()), 5,
                    "message 11 no longer pending")
        done = [x for x in gw.messages("--all") if x["id"] == 11]
        assert done == [] or done[0]["state"] == "done", done
        # every MESSAGE the UAS got was that one transaction
        while not p.uas.requests.empty():
            again, _ = p.uas.requests.get_nowait()
            if again.startswith("MESSAGE "):
                assert hdr(again, "Via") == MSG["via"]
                assert hdr(again, "Call-ID") == MSG["call_id"]
        assert p.receipts.empty()
        await finish(gw, p, left={1, 7})
    run(go(), 60)


# ---- B: a worker of another release --------------------------------------

@pytest.fixture(scope="module")
def v99_sip_front(tmp_path_factory):
    """An xsgw-sip-front built with FRAME_VERSION 99 (into a temporary
    directory only)."""
    out = os.path.join(str(tmp_path_factory.mktemp("v99")), "b")
    target = os.path.join(out, "bin", "xsgw-sip-front")
    r = subprocess.run(["make", "-C", ROOT, "BUILD=" + out, "OPT=-O0",
                        "EXTRA_DEFS=-DFRAME_VERSION=99", target],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and os.path.exists(target), r.stdout[-3000:] + r.stderr[-3000:]
    return target


def libexec_dir(tmp, sip_front, slow_xmpp_front):
    """A worker directory (XSGW_LIBEXEC): the normal workers but the given
    sip-front; slow_xmpp_front: the xmpp-front starts 0.5 s late (so that the
    sip-front is refused before the xmpp-front is ready)."""
    lx = os.path.join(tmp, "libexec")
    os.makedirs(lx)
    for b in ("xsgw", "xsgw-translator", "xsgw-xmpp-front", "xsgwctl"):
        if b == "xsgw-xmpp-front" and slow_xmpp_front:
            with open(os.path.join(lx, b), "w") as f:
                f.write("#!/bin/sh\nsleep 0.5\nexec %s \"$@\"\n" % os.path.join(BIN, b))
            os.chmod(os.path.join(lx, b), 0o755)
        else:
            os.symlink(os.path.join(BIN, b), os.path.join(lx, b))
    os.symlink(sip_front, os.path.join(lx, "xsgw-sip-front"))
    return lx


@pytest.mark.parametrize("xmpp_front", ["prompt", "slow"])
def test_worker_of_another_frame_version_is_refused(v99_sip_front, tmp_path, xmpp_front):
    """The fixture store has a pending MESSAGE whose outbox entry is owed to
    the sip-front: a v99 sip-front must get nothing of it, the supervisor
    must stop (78) instead of restarting it, and the store keeps it. The
    other front may or may not be ready when the sip-front is refused
    ("slow": it is not yet): the supervisor must stop either way."""
    libexec_v99 = libexec_dir(str(tmp_path), v99_sip_front, xmpp_front == "slow")
    gw = FixtureGateway(os.path.join(str(tmp_path), "gw"), libexec=libexec_v99)
    uas = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    uas.bind(("127.0.0.1", UAS_PORT))
    uas.setblocking(False)
    try:
        t0 = time.monotonic()
        gw.spawn()
        try:
            rc = gw.proc.wait(10)
        except subprocess.TimeoutExpired:
            # SIGTERM would not help a supervisor already stopping: kill it
            # (its workers exit on the closed control channel)
            gw.proc.kill()
            gw.proc.wait(5)
            raise AssertionError("supervisor still running 10 s after start; log:\n"
                                 + "\n".join(x for x in gw.read_log().splitlines()
                                             if "libstrophe" not in x)[-6000:])
        took = time.monotonic() - t0
        gw.expect_rc = 78
        assert gw.stop() == 78
        log = gw.read_log()
        assert rc == 78, log[-6000:]
        assert took < 10
        lines = log.splitlines()
        assert any("workers in %s" % libexec_v99 in x for x in lines), log[-6000:]

        def grep(pat):
            return [x for x in lines if re.search(pat, x)]

        # one line per channel side that met the other version, never more:
        # the supervisor's control channel to the sip-front (always: the
        # sip-front's READY), the sip-front's side of the first channel it
        # hears back on (supervisor or translator; then it exits), and the
        # translator's side if the v99 HELLO reached it before that
        ver = grep(r"frame version")
        cur = frame_version()
        sup = grep(r"supervisor\[\d+\] error: chan sip-front: the peer speaks "
                   r"frame version 99, this program %d: refused$" % cur)
        sf = grep(r"sip-front\[\d+\] error: chan (supervisor|translator): the peer "
                  r"speaks frame version %d, this program 99: refused$" % cur)
        tr = grep(r"translator\[\d+\] error: chan front: the peer speaks "
                  r"frame version 99, this program %d: refused$" % cur)
        assert len(sup) == 1, ver
        assert len(sf) <= 1 and len(tr) <= 1, ver
        assert sorted(ver) == sorted(sup + sf + tr), ver
        assert len(grep(r"stopping: a worker of another release$")) == 1, log[-6000:]
        assert len(grep(r"supervisor\[\d+\] info: stopped \(exit 78\)$")) == 1, log[-6000:]
        # the sip-front exits 78 by itself (or is stopped): never restarted
        for w in ("translator", "xmpp-front", "sip-front"):
            assert len(grep(r"supervisor\[\d+\] info: started %s " % w)) == 1, log[-6000:]
        assert not grep(r"death\(s\) in"), log[-6000:]
        # nothing was replayed to the refused worker: the translator's
        # outbox replay and the front's frame replay never ran for it
        assert not grep(r"re-sending \d+ outbox frame"), log[-6000:]
        assert not grep(r"sip-front\[\d+\] info: translator link up"), log[-6000:]
        assert not grep(r"sip-front connected"), log[-6000:]
        assert not grep(r"sip-front\[\d+\] .*\bout \d+:"), log[-6000:]
        # ...and no MESSAGE left the gateway (it has exited: nothing to wait for)
        try:
            got = uas.recv(65535)
        except BlockingIOError:
            got = None
        assert got is None, got
        # no worker left behind
        for pid in [int(x) for x in re.findall(r"info: started \S+ \(pid (\d+)\)", log)]:
            try:
                with open("/proc/%d/stat" % pid) as f:
                    state = f.read().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            assert state == "Z", "worker %d left running" % pid
        # the store: migrated once, the items still there for a correct install
        assert log.count(MIGRATING) == 1
        assert gw.schema() == store_schema()
        assert {(s["id"], s["kind"], s["state"], s["sid"], s["call_id"])
                for s in gw.sessions()} == FIXTURE_SESSIONS
        assert [(x["id"], x["state"]) for x in gw.messages()] == [(11, "pending")]
        outbox = [json.loads(x) for x in gw.ctl("dump").stdout.splitlines()]
        assert [x for x in outbox if x["db"] == "outbox"], "the MESSAGE's outbox entry is gone"
        reps = gw.sanitizer_reports()
        assert not reps, "sanitizer reports:\n" + "\n".join(reps)[:8000]
    finally:
        uas.close()
        if gw.proc and gw.proc.poll() is None:
            gw.proc.kill()
            gw.proc.wait(5)
        if gw.logf:
            gw.logf.close()
