"""SIP users for XMPP watchers (SPEC §6.3 "SIP user -> XMPP watchers", issue
12 point 4): an XMPP user's <presence type='subscribe'/> to a SIP user's
gateway JID makes the gateway SUBSCRIBE Event: presence to that SIP URI at
presence.server (Kamailio here), one subscription per watcher From the
watcher's own SIP address (RFC 7248); every PIDF change a SIP publisher PUBLISHes reaches each
watcher once; unsubscribe of the last watcher is a SUBSCRIBE with Expires: 0;
a presence server that refuses or does not answer comes back as
<presence type='error'/>; kill -9 of any worker and a full restart lose no
subscription, re-SUBSCRIBE nothing and repeat no presence."""
import asyncio
import json
import os
import pwd
import re
import subprocess
import uuid

import pytest

import jingle
import xmpp_user
from conftest import run, wait_for
from test_phone_presence import KAM_PORT, KamPresence

USERS = (("heidi", "heidipass"), ("ivan", "ivanpass"))
PUB_PORT = 5182        # the SIP publisher (stdlib, through jingle.SipPeer)
FAKE_PORT = 5183       # a presence server that refuses or never answers
PIDF_NS = "urn:ietf:params:xml:ns:pidf"


@pytest.fixture(scope="module")
def watchers(prosody):
    """heidi and ivan: XMPP users no other test uses."""
    cfg = os.path.join(prosody, "prosody.cfg.lua")
    owner = pwd.getpwuid(os.stat(os.path.join(prosody, "data")).st_uid).pw_name
    pre = ["runuser", "-u", owner, "--"] if os.getuid() == 0 and owner != "root" else []
    for u, p in USERS:
        r = subprocess.run(pre + ["prosodyctl", "--config", cfg, "register", u,
                                  "localhost", p],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr + r.stdout
    return USERS


@pytest.fixture
def kam():
    k = KamPresence()
    yield k
    k.stop()


def presence_cfg(port=KAM_PORT):
    return '{server: "127.0.0.1:%d", subscribe_expires_s: 3600}' % port


def fresh_sip_user():
    """A SIP user no earlier run has watched (rosters outlive a test)."""
    return "xw" + uuid.uuid4().hex[:10]


def gwjid_of(user):
    return "%s@sip.localhost" % user


def subs(gw):
    return [s for s in json.loads(gw.ctl("presence", "--json").stdout)["subscriptions"]
            if s["event"] == "presence"]


def sub_of(gw, user):
    for s in subs(gw):
        if s["target"].startswith("sip:%s@" % user):
            return s
    return None


def kam_subscribes(kam, user):
    """The Expires of every SUBSCRIBE Event: presence for user that
    Kamailio took, in order (a refresh's R-URI is Kamailio's Contact: its
    lines are found by the Call-ID of the first)."""
    log = kam.log()
    cids = set(re.findall(r"\{\d+ SUBSCRIBE (\S+)\} <script>: REQ SUBSCRIBE "
                          r"\S+ to=sip:%s@" % user, log))
    return [e for cid, e in re.findall(
        r"\{\d+ SUBSCRIBE (\S+)\} <script>: SUB presence \S+ from=\S+ "
        r"expires=(\S+)", log) if cid in cids]


def kam_notify_answers(kam):
    return len(re.findall(r"RPL 200 OK for NOTIFY", kam.log()))


def pidf(user, basic, activity=None, note=None):
    person = ""
    if activity:
        person = ('<dm:person id="p1"><rpid:activities><rpid:%s/>'
                  '</rpid:activities></dm:person>' % activity)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<presence xmlns="%s" xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model" '
            'xmlns:rpid="urn:ietf:params:xml:ns:pidf:rpid" entity="sip:%s@127.0.0.1">'
            '<tuple id="t1"><status><basic>%s</basic></status>%s</tuple>%s'
            '</presence>' % (PIDF_NS, user, basic,
                             "<note>%s</note>" % note if note else "", person))


class Publisher:
    """A SIP presence source (RFC 3903): PUBLISHes PIDF for sip:user@127.0.0.1
    at Kamailio, reusing its entity tag (SIP-If-Match) so that each PUBLISH
    replaces the last instead of adding a publication."""

    def __init__(self, peer, user):
        self.peer, self.user = peer, user
        self.etag = None
        self.callid = uuid.uuid4().hex
        self.cseq = 0

    async def publish(self, body, expires=600):
        self.cseq += 1
        aor = "sip:%s@127.0.0.1" % self.user
        msg = ("PUBLISH %s SIP/2.0\r\n"
               "Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK%s;rport\r\n"
               "Max-Forwards: 70\r\nFrom: <%s>;tag=pub1\r\nTo: <%s>\r\n"
               "Call-ID: %s\r\nCSeq: %d PUBLISH\r\nEvent: presence\r\n"
               "Expires: %d\r\n%sContent-Type: application/pidf+xml\r\n"
               "Content-Length: %d\r\n\r\n%s"
               % (aor, PUB_PORT, uuid.uuid4().hex[:12], aor, aor, self.callid,
                  self.cseq, expires,
                  "SIP-If-Match: %s\r\n" % self.etag if self.etag else "",
                  len(body.encode()), body))
        self.peer.send(msg, ("127.0.0.1", KAM_PORT))
        code, resp = await self.peer.next_response("PUBLISH", final=True)
        assert code == 200, resp
        self.etag = jingle.hdr(resp, "SIP-ETag")


def shows(p):
    """What a presence stanza says, as the tests compare it."""
    t = p["type"]
    if t in ("subscribe", "subscribed", "unsubscribe", "unsubscribed",
             "probe", "error", "unavailable"):
        return t
    # (slixmpp gives a presence's <show/> as its type)
    return t if t in ("away", "dnd", "xa", "chat") else "available"


class Watcher:
    """A logged-in XMPP user and what the gateway JID sent it."""

    def __init__(self, u, gwjid):
        self.u, self.gwjid = u, gwjid
        self.seen = asyncio.Queue()
        u.add_event_handler("presence", self._presence)

    @classmethod
    async def login(cls, name, password, gwjid):
        u = await xmpp_user.login("%s@localhost/pc" % name, password)
        # a session that fetched the roster is "interested": only it gets
        # subscription approvals (RFC 6121 3.1.6)
        await u.get_roster(timeout=10)
        return cls(u, gwjid)

    def _presence(self, p):
        if p["from"].bare == self.gwjid:
            self.seen.put_nowait(p)

    async def next(self, timeout=10, what=""):
        try:
            return await asyncio.wait_for(self.seen.get(), timeout)
        except asyncio.TimeoutError:
            raise AssertionError("no presence (%s) from %s within %ss"
                                 % (what, self.gwjid, timeout))

    async def expect(self, want, timeout=10):
        p = await self.next(timeout, want)
        assert shows(p) == want, "%s instead of %s: %s" % (shows(p), want, p)
        return p

    def subscribe(self, ptype="subscribe"):
        self.u.send_presence(pto=self.gwjid, ptype=ptype)

    async def barrier(self):
        """The presence stanzas the gateway JID sent before now: its answer
        to a ping comes after everything the gateway wrote before it (one
        component stream, one client session, both in order)."""
        await self.u["xep_0199"].send_ping(self.gwjid, timeout=10)
        out = []
        while not self.seen.empty():
            out.append(self.seen.get_nowait())
        return out

    async def probe(self):
        """A probe: the stanzas up to a barrier after it (its answer
        last)."""
        self.u.send_presence(pto=self.gwjid, ptype="probe")
        return await self.barrier()

    async def close(self):
        """Leave the roster as it was: a pending request would be sent
        again at every login (RFC 6121 3.1.2), to later tests' gateways."""
        try:
            await self.u.del_roster_item(self.gwjid, timeout=5)
        except Exception:
            pass
        self.u.disconnect()


async def until(pred, timeout, what):
    await asyncio.get_event_loop().run_in_executor(
        None, lambda: wait_for(pred, timeout, what))


async def subscribed(w, gw, user):
    """w subscribes; the gateway SUBSCRIBEs and approves on NOTIFY active
    (Kamailio's first one is empty: nothing published, unavailable)."""
    w.subscribe()
    await w.expect("subscribed", 15)
    await until(lambda: (sub_of(gw, user) or {}).get("state") == "active",
                10, "the subscription active")
    assert [shows(p) for p in await w.barrier()] == ["unavailable"]


async def change(w, pub, body, want, kam):
    n = kam_notify_answers(kam)
    await pub.publish(body)
    if want:
        await w.expect(want)
    # the NOTIFY was answered (by the gateway) before anything else
    await until(lambda: kam_notify_answers(kam) > n, 10, "NOTIFY answered")


def test_subscribe_publish_probe_unsubscribe(gateway_factory, kam, watchers):
    gw = gateway_factory(presence=presence_cfg())
    user = fresh_sip_user()

    async def go():
        w = await Watcher.login("heidi", "heidipass", gwjid_of(user))
        peer = await jingle.SipPeer.start(PUB_PORT)
        pub = Publisher(peer, user)
        try:
            await subscribed(w, gw, user)
            assert kam_subscribes(kam, user) == ["3600"]

            await change(w, pub, pidf(user, "open", note="At my desk"),
                         "available", kam)
            await change(w, pub, pidf(user, "open", "on-the-phone", "Talking"),
                         "dnd", kam)
            # the same document again: a NOTIFY, no presence
            await change(w, pub, pidf(user, "open", "on-the-phone", "Talking"),
                         None, kam)
            got = await w.probe()
            assert [shows(p) for p in got] == ["dnd"]
            assert got[0]["status"] == "Talking"
            await change(w, pub, pidf(user, "open", "away"), "away", kam)
            await change(w, pub, pidf(user, "closed", "on-the-phone"),
                         "unavailable", kam)
            assert [shows(p) for p in await w.probe()] == ["unavailable"]

            s = sub_of(gw, user)
            assert s["watchers"] == ["heidi@localhost"]
            assert s["basic"] == "closed" and s["expires_in"] > 3000
            assert s["gateway_jid"] == gwjid_of(user) and s["authorized"]
            line = [l for l in gw.ctl("presence").stdout.splitlines()
                    if "sip:%s@" % user in l]
            assert len(line) == 1 and re.search(
                r"subscription presence +sip:%s@\S+ +active +200 +expires in "
                r"3\d\d\ds +heidi@localhost$" % user, line[0]), line
            # one SUBSCRIBE for all of it
            assert kam_subscribes(kam, user) == ["3600"]

            w.subscribe("unsubscribe")
            await w.expect("unavailable")
            await until(lambda: kam_subscribes(kam, user) == ["3600", "0"],
                        10, "SUBSCRIBE Expires: 0")
            await until(lambda: sub_of(gw, user) is None, 10,
                        "the subscription forgotten")
        finally:
            peer.close()
            await w.close()
    run(go(), timeout=120)


def kam_subscribers(kam, user):
    """(From, Expires) of every SUBSCRIBE Event: presence for user that
    Kamailio took, in order."""
    log = kam.log()
    cids = set(re.findall(r"\{\d+ SUBSCRIBE (\S+)\} <script>: REQ SUBSCRIBE "
                          r"\S+ to=sip:%s@" % user, log))
    return [(f, e) for cid, f, e in re.findall(
        r"\{\d+ SUBSCRIBE (\S+)\} <script>: SUB presence \S+ from=(\S+) "
        r"expires=(\S+)", log) if cid in cids]


def sub_for(gw, user, watcher):
    for s in subs(gw):
        if s["target"].startswith("sip:%s@" % user) and s["watchers"] == [watcher]:
            return s
    return None


def test_each_watcher_has_its_own_subscription(gateway_factory, kam, watchers):
    """RFC 7248 4: the SUBSCRIBE is From the watcher's own SIP address, one
    per watcher, so that the presentity authorizes each XMPP user, not the
    gateway: a second watcher is approved only on its own NOTIFY active,
    and its leaving ends only its own subscription."""
    gw = gateway_factory(presence=presence_cfg())
    user = fresh_sip_user()

    async def go():
        h = await Watcher.login("heidi", "heidipass", gwjid_of(user))
        i = await Watcher.login("ivan", "ivanpass", gwjid_of(user))
        peer = await jingle.SipPeer.start(PUB_PORT)
        pub = Publisher(peer, user)
        try:
            await subscribed(h, gw, user)
            assert kam_subscribers(kam, user) == [("sip:heidi@localhost", "3600")]
            await change(h, pub, pidf(user, "open", "busy", "In a meeting"),
                         "dnd", kam)
            # ivan: his own SUBSCRIBE, approved on its NOTIFY active, which
            # brings what the presentity publishes
            i.subscribe()
            await i.expect("subscribed", 15)
            p = await i.expect("dnd")
            assert p["status"] == "In a meeting"
            await until(lambda: (sub_for(gw, user, "ivan@localhost") or {})
                        .get("state") == "active", 10, "ivan's subscription")
            assert kam_subscribers(kam, user) == [
                ("sip:heidi@localhost", "3600"), ("sip:ivan@localhost", "3600")]
            assert sub_for(gw, user, "heidi@localhost")["id"] != \
                sub_for(gw, user, "ivan@localhost")["id"]
            # both see the next change, once
            await change(h, pub, pidf(user, "open"), "available", kam)
            await i.expect("available")
            for w in (h, i):
                assert [shows(p) for p in await w.probe()] == ["available"]
            # heidi leaves: her subscription ends (Expires: 0), ivan's stays
            h.subscribe("unsubscribe")
            await h.expect("unavailable")
            await until(lambda: ("sip:heidi@localhost", "0")
                        in kam_subscribers(kam, user), 10,
                        "heidi's SUBSCRIBE Expires: 0")
            await until(lambda: sub_for(gw, user, "heidi@localhost") is None,
                        10, "heidi's subscription gone")
            assert sub_for(gw, user, "ivan@localhost")["state"] == "active"
            # a probe from a non-watcher reveals nothing
            assert [shows(p) for p in await h.probe()] == ["unavailable"]
            assert [shows(p) for p in await i.probe()] == ["available"]
            # ivan leaves: Expires: 0
            i.subscribe("unsubscribe")
            await i.expect("unavailable")
            await until(lambda: ("sip:ivan@localhost", "0")
                        in kam_subscribers(kam, user), 10,
                        "ivan's SUBSCRIBE Expires: 0")
        finally:
            peer.close()
            await h.close()
            await i.close()
    run(go(), timeout=120)


class FakePresenceServer:
    """A presence server on FAKE_PORT that answers every SUBSCRIBE with
    `code` (None: never answers); with 200 it NOTIFYs active, then
    terminated with `reason`."""

    def __init__(self, peer, user, code, reason="rejected"):
        self.peer, self.user = peer, user
        self.code, self.reason = code, reason
        self.subscribes = 0
        self.seen = set()
        self.log = []
        self.task = asyncio.ensure_future(self._serve())

    async def _serve(self):
        while True:
            req = await self.peer.next_request(timeout=3600)
            m = req.split(" ", 1)[0]
            if m != "SUBSCRIBE" or "sip:%s@" % self.user not in req.split("\r\n")[0]:
                continue
            key = (jingle.hdr(req, "Call-ID"), jingle.hdr(req, "CSeq"))
            if key in self.seen:
                continue  # a retransmission
            self.seen.add(key)
            self.subscribes += 1
            self.log.append(req.split("\r\n\r\n")[0])
            if self.code is None:
                continue
            if self.code >= 300:
                self.peer.reply(req, self.code, "Forbidden")
                continue
            self.peer.reply(req, 200, "OK", extra="Expires: 600\r\n")
            for n, state in ((1, "active;expires=600"),
                             (2, "terminated;reason=" + self.reason)):
                self.peer.send(
                    "NOTIFY sip:xsgw@127.0.0.1:5600 SIP/2.0\r\n"
                    "Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK%s;rport\r\n"
                    "Max-Forwards: 70\r\nFrom: %s;tag=%s\r\nTo: %s\r\n"
                    "Call-ID: %s\r\nCSeq: %d NOTIFY\r\n"
                    "Contact: <sip:peer@127.0.0.1:%d>\r\nEvent: presence\r\n"
                    "Subscription-State: %s\r\nContent-Length: 0\r\n\r\n"
                    % (FAKE_PORT, uuid.uuid4().hex[:12],
                       jingle.hdr(req, "To").split(";")[0], self.peer.tag,
                       jingle.hdr(req, "From"), jingle.hdr(req, "Call-ID"), n,
                       FAKE_PORT, state))
                await self.peer.next_response("NOTIFY", final=True)

    def close(self):
        self.task.cancel()


@pytest.mark.parametrize("code,cond", [(403, "forbidden"),
                                       (None, "remote-server-timeout")])
def test_server_refuses_or_never_answers(gateway_factory, watchers, code, cond):
    gw = gateway_factory(presence=presence_cfg(FAKE_PORT))
    user = fresh_sip_user()

    async def go():
        w = await Watcher.login("heidi", "heidipass", gwjid_of(user))
        peer = await jingle.SipPeer.start(FAKE_PORT)
        srv = FakePresenceServer(peer, user, code)
        try:
            w.subscribe()
            p = await w.expect("error", 20)
            assert p["error"]["condition"] == cond, p
            assert srv.subscribes >= 1
            await until(lambda: sub_of(gw, user) is None, 5,
                        "the subscription forgotten")
        finally:
            srv.close()
            peer.close()
            await w.close()
    run(go(), timeout=60)


def test_server_terminates_unsubscribed(gateway_factory, watchers):
    gw = gateway_factory(presence=presence_cfg(FAKE_PORT))
    user = fresh_sip_user()

    async def go():
        w = await Watcher.login("heidi", "heidipass", gwjid_of(user))
        peer = await jingle.SipPeer.start(FAKE_PORT)
        srv = FakePresenceServer(peer, user, 200, "rejected")
        try:
            w.subscribe()
            await w.expect("subscribed")
            await w.expect("unavailable")   # active, nothing published
            await w.expect("unsubscribed")
            await w.expect("unavailable")
            await until(lambda: sub_of(gw, user) is None, 5,
                        "the subscription forgotten")
            assert srv.subscribes == 1, "\n\n".join(srv.log)
        finally:
            srv.close()
            peer.close()
            await w.close()
    run(go(), timeout=60)


def crash_case(gw, kam, hurt):
    """Subscription up and open; hurt(); then each change exactly once and
    no SUBSCRIBE more."""
    user = fresh_sip_user()

    async def go():
        w = await Watcher.login("heidi", "heidipass", gwjid_of(user))
        peer = await jingle.SipPeer.start(PUB_PORT)
        pub = Publisher(peer, user)
        loop = asyncio.get_event_loop()
        try:
            await subscribed(w, gw, user)
            await change(w, pub, pidf(user, "open"), "available", kam)
            await loop.run_in_executor(None, hurt)
            await change(w, pub, pidf(user, "open", "on-the-phone"), "dnd", kam)
            await loop.run_in_executor(None, hurt)
            await change(w, pub, pidf(user, "closed"), "unavailable", kam)
            assert [shows(p) for p in await w.probe()] == ["unavailable"]
            assert kam_subscribes(kam, user) == ["3600"]
            s = sub_of(gw, user)
            assert s["state"] == "active" and s["watchers"] == ["heidi@localhost"]
        finally:
            peer.close()
            await w.close()
    run(go(), timeout=120)


@pytest.mark.parametrize("worker", ["translator", "sip-front", "xmpp-front"])
def test_kill9_loses_nothing_repeats_nothing(gateway_factory, kam, watchers,
                                             worker):
    gw = gateway_factory(presence=presence_cfg())
    crash_case(gw, kam, lambda: gw.kill9(worker))


def test_full_restart_loses_nothing_repeats_nothing(gateway_factory, kam,
                                                    watchers):
    gw = gateway_factory(presence=presence_cfg())

    def restart():
        assert gw.stop() == 0
        gw.start()

    crash_case(gw, kam, restart)


@pytest.mark.parametrize("worker", ["translator", "sip-front", "xmpp-front"])
def test_kill9_while_a_change_is_under_way(gateway_factory, kam, watchers,
                                           worker):
    """kill -9 as the NOTIFY of a change comes in: the change still
    reaches the watcher once."""
    gw = gateway_factory(presence=presence_cfg())
    user = fresh_sip_user()

    async def go():
        w = await Watcher.login("heidi", "heidipass", gwjid_of(user))
        peer = await jingle.SipPeer.start(PUB_PORT)
        pub = Publisher(peer, user)
        loop = asyncio.get_event_loop()
        try:
            await subscribed(w, gw, user)
            n = kam_notify_answers(kam)
            await pub.publish(pidf(user, "open", "on-the-phone"))
            await loop.run_in_executor(None, gw.kill9, worker)
            await w.expect("dnd", 20)
            await until(lambda: kam_notify_answers(kam) > n, 20,
                        "NOTIFY answered")
            assert [shows(p) for p in await w.probe()] == ["dnd"]
            assert kam_subscribes(kam, user) == ["3600"]
        finally:
            peer.close()
            await w.close()
    run(go(), timeout=120)
