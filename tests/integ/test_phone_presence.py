"""Phone state as XMPP presence (SPEC §6.3, issue 12 points 1, 2, 5, 7):
a phone of presence.phones registers, refreshes, calls and de-registers at
Kamailio (registrar, proxy and presence server); the gateway follows its
reg and dialog events and its owner sees the phone's gateway JID as
available / dnd / unavailable, once per change."""
import asyncio
import json
import os
import subprocess
import tempfile
import uuid

import pytest

import accounts
import jingle
from conftest import PEERS, run, wait_for

KAM_PORT = 5170
PHONE_PORT = 5080
CALLER_PORT = 5081
AOR = "sip:alice@127.0.0.1"
PRESENCE = ('{server: "127.0.0.1:%d", keepalive_max_s: 3600, '
            'phones: [{sip: "%s", jid: "erin@localhost", resource: "desk"}]}'
            % (KAM_PORT, AOR))


class KamPresence:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="xsgw-kamp-")
        e = dict(os.environ, SIP_PORT=str(KAM_PORT))
        r = subprocess.run([os.path.join(PEERS, "kam_presence_start.sh"), self.dir],
                           env=e, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr + r.stdout

    def log(self):
        with open(os.path.join(self.dir, "kamailio.log"), errors="replace") as f:
            return f.read()

    def stop(self):
        subprocess.run([os.path.join(PEERS, "kamailio_stop.sh"), self.dir],
                       capture_output=True, timeout=30)


@pytest.fixture
def kam():
    k = KamPresence()
    yield k
    k.stop()


def phones(gw):
    return json.loads(gw.ctl("presence", "--json").stdout)["phones"]


def subs(gw):
    return json.loads(gw.ctl("presence", "--json").stdout)["subscriptions"]


def state(gw):
    p = phones(gw)
    return p[0]["state"] if p else None


class Phone:
    """alice's desk phone: REGISTERs at Kamailio and answers calls."""

    def __init__(self, peer):
        self.peer = peer
        self.callid = uuid.uuid4().hex
        self.cseq = 0

    async def register(self, expires=300):
        self.cseq += 1
        self.peer.send(
            "REGISTER sip:127.0.0.1:%d SIP/2.0\r\n"
            "Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK%s;rport\r\n"
            "Max-Forwards: 70\r\nFrom: <%s>;tag=ph1\r\nTo: <%s>\r\n"
            "Call-ID: %s\r\nCSeq: %d REGISTER\r\n"
            "Contact: <sip:alice@127.0.0.1:%d>\r\nExpires: %d\r\n"
            "Content-Length: 0\r\n\r\n"
            % (KAM_PORT, PHONE_PORT, uuid.uuid4().hex[:12], AOR, AOR,
               self.callid, self.cseq, PHONE_PORT, expires),
            ("127.0.0.1", KAM_PORT))
        code, _ = await self.peer.next_response("REGISTER", final=True)
        assert code == 200


def udp_bound(port):
    r = subprocess.run(["ss", "-Hlun", "sport = :%d" % port],
                       capture_output=True, text=True, timeout=5)
    return bool(r.stdout.strip())


def shows(p):
    """What a presence stanza shows: available, dnd or unavailable."""
    if p["type"] == "unavailable":
        return "unavailable"
    # (slixmpp gives a presence's <show/> as its type)
    return "dnd" if "dnd" in (p["show"], p["type"]) else "available"


async def settle(u, gwjid):
    """Until the gateway's subscription request is approved (auto) and its
    answers are in: a ping answered after them. From here every presence
    from the phone's JID is a change of state."""
    loop = asyncio.get_event_loop()
    await u.get_roster()
    await loop.run_in_executor(None, lambda: wait_for(
        lambda: u.client_roster[gwjid]["subscription"] in ("from", "both"),
        10, "the phone's subscription approved"))
    await u.plugin["xep_0199"].ping(gwjid, timeout=10)


def test_phone_states_reach_the_owner_once_per_change(gateway_factory, kam, sipp):
    gw = gateway_factory(presence=PRESENCE)
    wait_for(lambda: len(subs(gw)) == 2 and all(s["state"] == "active" for s in subs(gw)),
             15, "reg and dialog subscriptions active")
    assert state(gw) == "offline"

    async def go():
        u = await accounts.login("erin@localhost/pc", "erinpass")
        gwjid = phones(gw)[0]["gateway_jid"]
        seen = asyncio.Queue()
        u.add_event_handler("presence", lambda p: p["from"].bare == gwjid
                            and p["type"] in ("available", "unavailable",
                                              "dnd", "away", "xa", "chat")
                            and seen.put_nowait(shows(p)))
        async def nxt(timeout, what):
            try:
                return await asyncio.wait_for(seen.get(), timeout)
            except asyncio.TimeoutError:
                raise AssertionError("no presence (%s) within %ss; phone %s"
                                     % (what, timeout, phones(gw)))

        u.send_presence(pto=gwjid, ptype="probe")
        assert await nxt(10, "unavailable") == "unavailable"
        await settle(u, gwjid)
        while not seen.empty():
            assert seen.get_nowait() == "unavailable"
        peer = await jingle.SipPeer.start(PHONE_PORT)
        ph = Phone(peer)
        try:
            await ph.register()
            assert await nxt(10, "available") == "available"
            wait_for(lambda: state(gw) == "online", 5, "online")
            # a refresh: still-online, and no presence for it
            await ph.register()
            await asyncio.get_event_loop().run_in_executor(
                None, lambda: wait_for(lambda: state(gw) == "still-online", 10,
                                       "still-online"))
            await u.plugin["xep_0199"].ping(gwjid, timeout=10)
            assert seen.empty()
            # a call through Kamailio: the phone answers (SipPeer), the
            # caller is SIPp
            peer.close()
        finally:
            peer.close()
        # the port is free only once the loop has run the close: SIPp
        # started before that cannot bind it (seen once in CI)
        await asyncio.get_event_loop().run_in_executor(None, lambda: wait_for(
            lambda: not udp_bound(PHONE_PORT), 10, "the phone's port free"))
        uas = sipp("uas_call.xml", ["-p", str(PHONE_PORT), "-m", "1",
                                    "-timeout", "60s"], "phone")
        await asyncio.get_event_loop().run_in_executor(None, lambda: wait_for(
            lambda: udp_bound(PHONE_PORT), 10, "the phone (SIPp UAS) listening"))
        uac = sipp("uac_call_long.xml",
                   ["-s", "alice", "-key", "domain", "127.0.0.1", "-p",
                    str(CALLER_PORT), "-m", "1", "-d", "4000", "-timeout",
                    "60s", "127.0.0.1:%d" % KAM_PORT], "caller")
        assert await nxt(15, "dnd") == "dnd"
        assert state(gw) == "onthephone"
        assert await nxt(20, "available") == "available"
        assert state(gw) == "still-online"
        await asyncio.get_event_loop().run_in_executor(None, lambda: uac.wait(30))
        # the phone's port is the SIPp UAS's until it has ended
        await asyncio.get_event_loop().run_in_executor(None, lambda: uas.wait(30))
        peer = await jingle.SipPeer.start(PHONE_PORT)
        ph.peer = peer
        try:
            await ph.register(expires=0)
            assert await nxt(15, "unavailable") == "unavailable"
            assert state(gw) == "offline"
            # nothing twice (a ping answered after it all)
            await u.plugin["xep_0199"].ping(gwjid, timeout=10)
            assert seen.empty()
        finally:
            peer.close()
            u.disconnect()
    run(go(), timeout=150)


@pytest.mark.parametrize("worker", ["translator", "sip-front", "xmpp-front"])
def test_phone_state_survives_kill9(gateway_factory, kam, worker):
    """Subscriptions and the phone's state are in the store: after kill -9
    the NOTIFYs still move the phone, and nobody is told twice."""
    gw = gateway_factory(presence=PRESENCE)
    wait_for(lambda: len(subs(gw)) == 2 and all(s["state"] == "active" for s in subs(gw)),
             15, "subscriptions active")

    async def go():
        u = await accounts.login("erin@localhost/pc", "erinpass")
        gwjid = phones(gw)[0]["gateway_jid"]
        seen = []
        u.add_event_handler("presence", lambda p: p["from"].bare == gwjid
                            and p["type"] not in ("subscribe", "subscribed",
                                                  "unsubscribe", "unsubscribed",
                                                  "probe", "error")
                            and seen.append(shows(p)))
        await settle(u, gwjid)
        seen.clear()  # the answers to the approval
        peer = await jingle.SipPeer.start(PHONE_PORT)
        ph = Phone(peer)
        loop = asyncio.get_event_loop()
        try:
            await ph.register()
            await loop.run_in_executor(None, lambda: wait_for(
                lambda: state(gw) == "online", 10, "online"))
            await loop.run_in_executor(None, gw.kill9, worker)
            await ph.register()
            await loop.run_in_executor(None, lambda: wait_for(
                lambda: state(gw) == "still-online", 10, "still-online"))
            await loop.run_in_executor(None, gw.kill9, worker)
            await ph.register(expires=0)
            await loop.run_in_executor(None, lambda: wait_for(
                lambda: state(gw) == "offline", 10, "offline"))
            await u.plugin["xep_0199"].ping(gwjid, timeout=10)
            assert seen == ["available", "unavailable"], seen
        finally:
            peer.close()
            u.disconnect()
    run(go(), timeout=120)


# ---- PUBLISH (RFC 3903) -------------------------------------------------

PIDF = ("<?xml version='1.0' encoding='UTF-8'?>"
        "<presence xmlns='urn:ietf:params:xml:ns:pidf' "
        "xmlns:rpid='urn:ietf:params:xml:ns:pidf:rpid' "
        "xmlns:dm='urn:ietf:params:xml:ns:pidf:data-model' entity='%s'>"
        "<tuple id='t1'><status><basic>%s</basic></status></tuple>"
        "%s</presence>")
ON_THE_PHONE = ("<dm:person id='p1'><rpid:activities><rpid:on-the-phone/>"
                "</rpid:activities></dm:person>")


def publish(peer, aor, event="presence", body="", etag=None, expires=60):
    """A PUBLISH from the phone straight to the gateway (a trusted
    source); returns its Call-ID."""
    callid = uuid.uuid4().hex
    b = body.encode()
    peer.send(("PUBLISH %s SIP/2.0\r\n"
               "Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK%s;rport\r\n"
               "Max-Forwards: 70\r\nFrom: <%s>;tag=%s\r\nTo: <%s>\r\n"
               "Call-ID: %s\r\nCSeq: 1 PUBLISH\r\nEvent: %s\r\nExpires: %d\r\n"
               "%s%sContent-Length: %d\r\n\r\n"
               % (aor, peer.port, uuid.uuid4().hex[:10], aor,
                  uuid.uuid4().hex[:8], aor, callid, event, expires,
                  "SIP-If-Match: %s\r\n" % etag if etag else "",
                  "Content-Type: application/%s\r\n"
                  % ("pidf+xml" if event == "presence" else "dialog-info+xml")
                  if b else "", len(b))).encode() + b)
    return callid


def test_publish_drives_the_phone_state(gateway_factory):
    """A phone that PUBLISHes its state (RFC 3903) to the gateway: open ->
    available, on-the-phone -> dnd, a refresh (SIP-If-Match, no body)
    changes nothing, a stale entity-tag 412, another event 489, an AOR that
    is no phone 404, Expires: 0 -> unavailable. An available or dnd
    presence carries XEP-0115 caps (clients offer calls from them)."""
    # no presence server answers: the phone's own PUBLISHes are its state
    gw = gateway_factory(presence=PRESENCE.replace(str(KAM_PORT), "5199"))

    async def go():
        u = await accounts.login("erin@localhost/pc", "erinpass")
        gwjid = phones(gw)[0]["gateway_jid"]
        seen = asyncio.Queue()
        caps = []
        u.add_event_handler("presence", lambda p: p["from"].bare == gwjid
                            and p["type"] != "subscribe"
                            and seen.put_nowait(shows(p)))
        u.add_event_handler("presence", lambda p: p["from"].bare == gwjid
                            and p["type"] != "subscribe"
                            and caps.append((shows(p), p.xml.find(
                                "{http://jabber.org/protocol/caps}c")
                                is not None)))
        peer = await jingle.SipPeer.start(PHONE_PORT)

        async def answer(callid):
            while True:
                code, resp = await peer.next_response("PUBLISH")
                if jingle.hdr(resp, "Call-ID") == callid:
                    return code, resp
        try:
            u.send_presence(pto=gwjid, ptype="probe")
            assert await asyncio.wait_for(seen.get(), 10) == "unavailable"
            await settle(u, gwjid)
            while not seen.empty():
                assert seen.get_nowait() == "unavailable"
            code, r = await answer(publish(peer, AOR, body=PIDF % (AOR, "open", "")))
            assert code == 200
            etag = jingle.hdr(r, "SIP-ETag")
            assert etag and jingle.hdr(r, "Expires") == "60"
            assert await asyncio.wait_for(seen.get(), 10) == "available"
            code, r = await answer(publish(peer, AOR, etag=etag,
                                           body=PIDF % (AOR, "open", ON_THE_PHONE)))
            assert code == 200
            etag2 = jingle.hdr(r, "SIP-ETag")
            assert etag2 and etag2 != etag
            assert await asyncio.wait_for(seen.get(), 10) == "dnd"
            assert phones(gw)[0]["state"] == "onthephone"
            # a refresh: a new tag, nothing shown
            code, r = await answer(publish(peer, AOR, etag=etag2))
            assert code == 200
            etag3 = jingle.hdr(r, "SIP-ETag")
            # the old tag is stale; other events and AORs are refused
            assert (await answer(publish(peer, AOR, etag=etag)))[0] == 412
            code, r = await answer(publish(peer, AOR, event="message-summary",
                                           body="Messages-Waiting: no\r\n"))
            assert code == 489
            assert (await answer(publish(peer, "sip:nobody@127.0.0.1",
                                         body=PIDF % ("x", "open", ""))))[0] == 404
            code, r = await answer(publish(peer, AOR, etag=etag3, expires=0))
            assert code == 200
            assert await asyncio.wait_for(seen.get(), 10) == "unavailable"
            assert seen.empty()
            assert phones(gw)[0]["state"] == "offline"
            assert phones(gw)[0]["source"] == "publish"
            assert {(s, c) for s, c in caps} == {
                ("unavailable", False), ("available", True),
                ("dnd", True)}, caps
        finally:
            u.disconnect()
            peer.close()
    run(go())


@pytest.mark.parametrize("worker", ["translator", "sip-front", "xmpp-front"])
def test_publish_kill9_in_each_phone_state(gateway_factory, worker):
    """kill -9 of each worker in each of the five states (driven by
    PUBLISH): the entity-tag survives (the next PUBLISH with SIP-If-Match
    is accepted), and the owner sees every change exactly once."""
    gw = gateway_factory(presence=PRESENCE.replace(str(KAM_PORT), "5199"))
    open_ = PIDF % (AOR, "open", "")
    busy = PIDF % (AOR, "open", ON_THE_PHONE)

    async def go():
        u = await accounts.login("erin@localhost/pc", "erinpass")
        gwjid = phones(gw)[0]["gateway_jid"]
        seen = []
        u.add_event_handler("presence", lambda p: p["from"].bare == gwjid
                            and p["type"] not in ("subscribe", "subscribed",
                                                  "unsubscribe", "unsubscribed",
                                                  "probe", "error")
                            and seen.append(shows(p)))
        peer = await jingle.SipPeer.start(PHONE_PORT)
        loop = asyncio.get_event_loop()
        etag = [None]

        async def step(body, want, expires=60):
            callid = publish(peer, AOR, body=body, etag=etag[0], expires=expires)
            while True:
                code, r = await peer.next_response("PUBLISH")
                if jingle.hdr(r, "Call-ID") == callid:
                    break
            assert code == 200, r
            etag[0] = jingle.hdr(r, "SIP-ETag")
            await loop.run_in_executor(None, lambda: wait_for(
                lambda: state(gw) == want, 10, want))
            if want != "offline":
                await loop.run_in_executor(None, gw.kill9, worker)
        try:
            await settle(u, gwjid)
            seen.clear()
            await step(open_, "online")
            await step(busy, "onthephone")
            await step(busy, "still-onthephone")
            await step(open_, "still-online")
            await step("", "offline", expires=0)
            # every change once, in order (a ping answered after them)
            await u.plugin["xep_0199"].ping(gwjid, timeout=10)
            assert seen == ["available", "dnd", "available", "unavailable"], seen
        finally:
            peer.close()
            u.disconnect()
    run(go(), timeout=120)
