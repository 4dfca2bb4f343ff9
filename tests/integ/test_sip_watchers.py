"""SIP watchers of XMPP users (SPEC §6.3 "XMPP user → SIP watchers", issue
12 point 3): a SIP SUBSCRIBE "Event: presence" for a served user is
answered 202 and NOTIFYed pending; the user is asked from the watcher's
gateway JID; once approved the watcher gets PIDF (RFC 3863) on every change
of the user's presence, show/status mapped as RFC 7248 says; refusal,
refresh, un-SUBSCRIBE and expiry as RFC 6665; the subscription survives kill
-9 of any worker and a full restart, and nobody is NOTIFYed twice.

The watcher is tests/peers/sip_watcher.py (a real UDP SIP UA); the users are
slixmpp clients of Prosody (frank, grace: registered here, used by no other
test); each test watches from its own AOR, so no roster state is shared."""
import asyncio
import json
import os
import queue
import re
import signal
import socket
import subprocess
import threading
import time
import uuid

import pytest

import xmpp_user
from conftest import GW_SIP, PEERS, run, wait_for

DOMAIN = "example.org"  # sip.domain: sip:x@example.org is x@sip.localhost
USERS = {"frank": "frankpass", "grace": "gracepass"}
QUIET_S = 1.5           # how long "nothing more" is watched for


@pytest.fixture(scope="module", autouse=True)
def watcher_users(prosody):
    cfg = os.path.join(prosody, "prosody.cfg.lua")
    for u, p in USERS.items():
        r = subprocess.run(["prosodyctl", "--config", cfg, "register", u,
                            "localhost", p], capture_output=True, text=True,
                           timeout=30)
        assert r.returncode == 0, r.stderr


class Watcher:
    """sip_watcher.py: its NOTIFYs (stdout) and happenings (stderr)."""

    def __init__(self, user, frm, expires=120, refresh=0, event="presence",
                 bind="127.0.0.1", port=0, target=None):
        args = ["/usr/bin/python3", os.path.join(PEERS, "sip_watcher.py"),
                "--server", GW_SIP,
                "--aor", target or "sip:%s@localhost" % user,
                "--event", event, "--expires", str(expires),
                "--from", frm, "--bind", bind, "--port", str(port),
                "--unsub-timeout", "10"]
        if refresh:
            args += ["--refresh", str(refresh)]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.notifies = queue.Queue()
        self.events = queue.Queue()
        self.all_notifies = []
        self.all_events = []
        threading.Thread(target=self._read, args=(self.proc.stdout, self.notifies,
                                                  self.all_notifies),
                         daemon=True).start()
        threading.Thread(target=self._read, args=(self.proc.stderr, self.events,
                                                  self.all_events),
                         daemon=True).start()

    @staticmethod
    def _read(f, q, keep):
        for line in f:
            try:
                o = json.loads(line)
            except ValueError:
                continue
            keep.append(o)
            q.put(o)

    def notify(self, timeout=10, what="a NOTIFY"):
        try:
            return self.notifies.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("no NOTIFY (%s) within %ss; events %s"
                                 % (what, timeout, self.all_events))

    def event(self, kind, timeout=10):
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            if left <= 0:
                raise AssertionError("no %s within %ss; events %s"
                                     % (kind, timeout, self.all_events))
            try:
                e = self.events.get(timeout=left)
            except queue.Empty:
                continue
            if e["kind"] == kind:
                return e

    def quiet(self, seconds=QUIET_S):
        """Nothing more is NOTIFYed for a while."""
        try:
            n = self.notifies.get(timeout=seconds)
        except queue.Empty:
            return
        raise AssertionError("an unexpected NOTIFY: %s" % n)

    def stop(self):
        """un-SUBSCRIBE (SIGTERM); the exit status (0: 200 and the
        terminated NOTIFY seen)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(20)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


def pidf(n):
    """What a NOTIFY's PIDF says: basic, note, RPID activities."""
    b = n["body"] or ""
    basic = re.search(r"<basic>(\w+)</basic>", b)
    note = re.search(r"<note>(.*?)</note>", b, re.S)
    acts = re.findall(r"<rpid:(\w+)/>", b)
    return (basic.group(1) if basic else None,
            note.group(1) if note else None, acts)


def watchers(gw):
    return json.loads(gw.ctl("presence", "--json").stdout)["watchers"]


async def login(user):
    u = xmpp_user.User("%s@localhost/pc" % user, USERS[user])
    u.auto_authorize = None    # the test answers subscription requests
    u.auto_subscribe = False
    u.subs = asyncio.Queue()
    u.add_event_handler("presence_subscribe",
                        lambda p: u.subs.put_nowait(p))
    u.add_event_handler("presence_unsubscribe",
                        lambda p: u.subs.put_nowait(p))
    u.connect(("127.0.0.1", 5222), use_ssl=False, force_starttls=False,
              disable_starttls=True)
    await asyncio.wait_for(u.started, 10)
    # a client that asked for its roster is told of roster changes
    # (Prosody sends an unsubscribe only to "interested" resources)
    await u.get_roster()
    return u


async def next_sub(u, timeout=10):
    try:
        return await asyncio.wait_for(u.subs.get(), timeout)
    except asyncio.TimeoutError:
        raise AssertionError("no subscription request within %ss" % timeout)


def in_thread(fn, *a):
    return asyncio.get_event_loop().run_in_executor(None, fn, *a)


def aor(name):
    """A watcher AOR of its own per test: its gateway JID is fresh in the
    user's roster."""
    return "sip:%s%s@%s" % (name, uuid.uuid4().hex[:6], DOMAIN)


def gwjid_of(frm):
    return frm[4:].split("@")[0] + "@sip.localhost"


async def subscribed(gw, w, u, frm):
    """SUBSCRIBE -> 202 + NOTIFY pending + the user asked; approved ->
    NOTIFY active with the user's presence (open)."""
    r = await in_thread(w.event, "response")
    assert r["code"] == 202 and r["expires"] > 0, r
    n = await in_thread(w.notify, 10, "pending")
    assert n["sub_state"].startswith("pending"), n
    assert n["event"].startswith("presence")
    p = await next_sub(u)
    assert p["type"] == "subscribe"
    assert p["from"].bare == gwjid_of(frm), p["from"]
    assert p["to"].bare == u.boundjid.bare
    u.send_presence(pto=gwjid_of(frm), ptype="subscribed")
    while True:
        n = await in_thread(w.notify, 10, "active, open")
        assert n["sub_state"].startswith("active;expires="), n
        assert n["content_type"] == "application/pidf+xml"
        if pidf(n)[0] == "open":
            return n


def test_approve_then_every_change_mapped(gateway_factory):
    gw = gateway_factory(sip={"domain": '"%s"' % DOMAIN})

    async def go():
        u = await login("frank")
        u.send_presence(pstatus="At my desk")
        frm = aor("bob")
        w = Watcher("frank", frm)
        try:
            n = await subscribed(gw, w, u, frm)
            assert pidf(n) == ("open", "At my desk", [])
            assert 'entity="sip:frank@localhost"' in n["body"]
            ws = await in_thread(watchers, gw)
            assert [(x["watcher"], x["user"], x["state"]) for x in ws] == \
                [(frm, "frank@localhost", "active")]
            assert 100 < ws[0]["expires_in"] <= 120
            # RFC 7248: show as RPID activities, status as note
            u.send_presence(pshow="away", pstatus="Lunch & <coffee>")
            n = await in_thread(w.notify, 10, "away")
            assert pidf(n) == ("open", "Lunch &amp; &lt;coffee&gt;", ["away"])
            u.send_presence(pshow="dnd")
            n = await in_thread(w.notify, 10, "dnd")
            assert pidf(n) == ("open", "Do not disturb", ["busy"])
            u.send_presence(pshow="xa", pstatus="Gone fishing")
            n = await in_thread(w.notify, 10, "xa")
            assert pidf(n) == ("open", "Gone fishing", ["away"])
            # the same presence again changes nothing: no NOTIFY
            u.send_presence(pshow="xa", pstatus="Gone fishing")
            await in_thread(w.quiet)
            u.send_presence(ptype="unavailable")
            n = await in_thread(w.notify, 10, "closed")
            assert pidf(n) == ("closed", None, [])
            # un-SUBSCRIBE: 200, NOTIFY terminated, the record gone, and
            # the user's roster follows (unsubscribe from the gateway JID)
            assert await in_thread(w.stop) == 0, w.all_events
            n = await in_thread(w.notify, 5, "terminated")
            assert n["sub_state"].startswith("terminated"), n
            p = await next_sub(u)
            assert p["type"] == "unsubscribe"
            assert p["from"].bare == gwjid_of(frm)
            await in_thread(wait_for, lambda: watchers(gw) == [], 45,
                            "the watcher forgotten")
        finally:
            w.kill()
            u.disconnect()
    run(go(), timeout=120)


def test_refused_is_terminated_rejected(gateway_factory):
    gw = gateway_factory(sip={"domain": '"%s"' % DOMAIN})

    async def go():
        u = await login("grace")
        frm = aor("mallory")
        w = Watcher("grace", frm)
        try:
            n = await in_thread(w.notify, 10, "pending")
            assert n["sub_state"].startswith("pending")
            p = await next_sub(u)
            assert p["from"].bare == gwjid_of(frm)
            u.send_presence(pto=gwjid_of(frm), ptype="unsubscribed")
            n = await in_thread(w.notify, 10, "terminated")
            assert n["sub_state"] == "terminated;reason=rejected", n
            assert not n["body"]
            assert await in_thread(w.proc.wait, 10) == 3
            await in_thread(wait_for, lambda: watchers(gw) == [], 45,
                            "the watcher forgotten")
        finally:
            w.kill()
            u.disconnect()
    run(go(), timeout=90)


def test_refresh_and_expiry(gateway_factory):
    """A refresh is answered 200 with Expires and followed by the current
    state; a subscription not refreshed ends: terminated;reason=timeout,
    and the record is gone. The grant is capped at
    presence.subscribe_expires_s."""
    gw = gateway_factory(sip={"domain": '"%s"' % DOMAIN},
                         presence="{subscribe_expires_s: 4}")

    async def go():
        u = await login("frank")
        u.send_presence(pstatus="here")
        frm = aor("carol")
        w = Watcher("frank", frm, expires=60, refresh=1.5)
        try:
            n = await subscribed(gw, w, u, frm)
            first = n["cseq"]
            r = await in_thread(w.event, "response")   # the refresh's
            assert r["code"] == 200 and r["expires"] == 4 and r["requested"] == 60, r
            n = await in_thread(w.notify, 10, "after the refresh")
            assert n["sub_state"].startswith("active;expires=")
            assert 1 <= int(n["sub_state"].split("=")[1]) <= 4
            assert pidf(n) == ("open", "here", []) and n["cseq"] > first
        finally:
            w.kill()
        # expiry: this watcher never refreshes
        frm2 = aor("carol")
        w2 = Watcher("frank", frm2, expires=3, refresh=1000)
        try:
            await subscribed(gw, w2, u, frm2)
            n = await in_thread(w2.notify, 10, "expiry")
            assert n["sub_state"] == "terminated;reason=timeout", n
            assert await in_thread(w2.proc.wait, 10) == 3
            await in_thread(wait_for, lambda: not [
                x for x in watchers(gw) if x["watcher"] == frm2], 45,
                "the expired watcher forgotten")
        finally:
            w2.kill()
            u.disconnect()
    run(go(), timeout=120)


def raw_subscribe(ruri, frm, extra, src="127.0.0.1"):
    """One SUBSCRIBE from a socket of our own; the final response's
    status line and headers."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((src, 0))
    s.settimeout(5)
    port = s.getsockname()[1]
    msg = ("SUBSCRIBE %s SIP/2.0\r\n"
           "Via: SIP/2.0/UDP %s:%d;branch=z9hG4bK%s;rport\r\n"
           "Max-Forwards: 70\r\nFrom: <%s>;tag=%s\r\nTo: <%s>\r\n"
           "Call-ID: %s\r\nCSeq: 1 SUBSCRIBE\r\n"
           "Contact: <sip:w@%s:%d>\r\n%sContent-Length: 0\r\n\r\n"
           % (ruri, src, port, uuid.uuid4().hex[:10], frm,
              uuid.uuid4().hex[:8], ruri, uuid.uuid4().hex, src, port, extra))
    host, p = GW_SIP.split(":")
    try:
        s.sendto(msg.encode(), (host, int(p)))
        while True:
            data = s.recv(65535).decode("utf-8", "replace")
            if data.startswith("SIP/2.0 ") and not data.startswith("SIP/2.0 1"):
                return data
    finally:
        s.close()


def test_refused_requests(gateway_factory):
    """Untrusted source 403; another event 489 (Allow-Events: presence);
    junk Expires 400; an unknown domain 404; PIDF not accepted 406."""
    gw = gateway_factory(sip={"domain": '"%s"' % DOMAIN,
                              "trusted": "[127.0.0.1/32]"})
    frm = aor("eve")
    w = Watcher("frank", frm, bind="127.0.0.2")
    try:
        assert w.proc.wait(30) == 2
        r = w.event("response")
        assert r["code"] == 403, r
    finally:
        w.kill()
    w = Watcher("frank", frm, event="dialog")
    try:
        assert w.proc.wait(30) == 2
        assert w.event("response")["code"] == 489
    finally:
        w.kill()
    r = raw_subscribe("sip:frank@localhost", frm, "Event: message-summary\r\n")
    assert r.startswith("SIP/2.0 489") and "Allow-Events: presence" in r, r
    r = raw_subscribe("sip:frank@localhost", frm,
                      "Event: presence\r\nExpires: soon\r\n")
    assert r.startswith("SIP/2.0 400"), r
    r = raw_subscribe("sip:frank@elsewhere.example", frm, "Event: presence\r\n")
    assert r.startswith("SIP/2.0 404"), r
    r = raw_subscribe("sip:frank@localhost", frm,
                      "Event: presence\r\nAccept: text/plain\r\n")
    assert r.startswith("SIP/2.0 406"), r
    assert watchers(gw) == []


def test_mapped_number_reaches_the_user(gateway_factory):
    """SPEC 5: a SIP request for a username_to_phone number reaches that
    user: a watcher of +15550001 watches frank, whose PIDF names the
    number."""
    gw = gateway_factory(sip={"domain": '"%s"' % DOMAIN,
                              "username_to_phone":
                              '[{username: frank, phone: "+15550001"}]'})

    async def go():
        u = await login("frank")
        u.send_presence(pstatus="by number")
        frm = aor("peggy")
        w = Watcher("frank", frm, target="sip:+15550001@%s" % DOMAIN)
        try:
            n = await subscribed(gw, w, u, frm)
            assert pidf(n) == ("open", "by number", [])
            assert 'entity="sip:+15550001@%s"' % DOMAIN in n["body"]
            assert watchers(gw)[0]["user"] == "frank@localhost"
            assert await in_thread(w.stop) == 0, w.all_events
        finally:
            w.kill()
            u.disconnect()
    run(go(), timeout=90)


def test_notify_481_ends_it(gateway_factory):
    """A watcher gone without un-SUBSCRIBE (its NOTIFY answered 481 by
    whoever has its address now) is forgotten at once (RFC 6665 4.2.2)."""
    gw = gateway_factory(sip={"domain": '"%s"' % DOMAIN})
    port = 5095

    async def go():
        u = await login("grace")
        u.send_presence(pstatus="here")
        frm = aor("oscar")
        w = Watcher("grace", frm, port=port)
        s = None
        try:
            await subscribed(gw, w, u, frm)
            w.kill()
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind(("127.0.0.1", port))
            s.settimeout(10)
            u.send_presence(pshow="away", pstatus="gone")

            def answer_481():
                data, src = s.recvfrom(65535)
                req = data.decode("utf-8", "replace")
                assert req.startswith("NOTIFY "), req
                head = req.split("\r\n\r\n")[0].split("\r\n")
                keep = [h for h in head[1:] if h.split(":")[0].lower() in
                        ("via", "from", "to", "call-id", "cseq")]
                s.sendto(("SIP/2.0 481 Call Leg Does Not Exist\r\n%s\r\n"
                          "Content-Length: 0\r\n\r\n"
                          % "\r\n".join(keep)).encode(), src)
            await in_thread(answer_481)
            await in_thread(wait_for, lambda: watchers(gw) == [], 10,
                            "the watcher forgotten")
        finally:
            w.kill()
            if s:
                s.close()
            u.disconnect()
    run(go(), timeout=90)


async def changes_once(w, u, show, status):
    """The user's next presence: exactly one NOTIFY (a new CSeq), with it."""
    u.send_presence(pshow=show, pstatus=status)
    n = await in_thread(w.notify, 15, show)
    assert pidf(n)[:2] == ("open", status), n
    await in_thread(w.quiet)
    return n


@pytest.mark.parametrize("worker", ["translator", "sip-front", "xmpp-front"])
def test_survives_kill9(gateway_factory, worker):
    gw = gateway_factory(sip={"domain": '"%s"' % DOMAIN})

    async def go():
        u = await login("frank")
        u.send_presence(pstatus="before")
        frm = aor("dan")
        w = Watcher("frank", frm)
        try:
            await subscribed(gw, w, u, frm)
            await in_thread(w.quiet)
            await in_thread(gw.kill9, worker)
            await in_thread(w.quiet)           # nobody re-NOTIFYed
            await changes_once(w, u, "away", "after kill 1")
            await in_thread(gw.kill9, worker)
            await changes_once(w, u, "dnd", "after kill 2")
            cseqs = [n["cseq"] for n in w.all_notifies]
            assert len(cseqs) == len(set(cseqs))
            assert await in_thread(w.stop) == 0, w.all_events
        finally:
            w.kill()
            u.disconnect()
    run(go(), timeout=120)


@pytest.mark.parametrize("while_down", [False, True])
def test_survives_full_restart(gateway_factory, while_down):
    """The watcher survives a full restart and nobody is re-NOTIFYed. The
    server routes the gateway nothing while it is down: a presence changed
    meanwhile reaches the watcher after the restart (the gateway probes
    the watched users on a new component stream), once."""
    gw = gateway_factory(sip={"domain": '"%s"' % DOMAIN})

    async def go():
        u = await login("grace")
        u.send_presence(pstatus="before")
        frm = aor("erin")
        w = Watcher("grace", frm)
        try:
            await subscribed(gw, w, u, frm)
            await in_thread(w.quiet)
            await in_thread(gw.stop)
            if while_down:
                u.send_presence(pshow="xa", pstatus="while it was down")
                # (the server has taken it: its answer to a ping is after)
                await u.plugin["xep_0199"].ping("localhost", timeout=10)
            await in_thread(gw.start)
            ws = await in_thread(watchers, gw)
            assert [(x["watcher"], x["state"]) for x in ws] == [(frm, "active")]
            if while_down:
                n = await in_thread(w.notify, 15, "xa")
                assert pidf(n)[:2] == ("open", "while it was down"), n
            await in_thread(w.quiet)           # nobody (else) re-NOTIFYed
            await changes_once(w, u, "away", "after the restart")
            assert await in_thread(w.stop) == 0, w.all_events
        finally:
            w.kill()
            u.disconnect()
    run(go(), timeout=120)

