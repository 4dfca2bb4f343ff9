"""XMPP interoperability rules the gateway must follow, end to end with a
real Prosody, slixmpp users and a scripted SIP user agent:

- XMPP localparts are case-insensitive (RFC 7622; Prosody lower-cases every
  JID): a SIP INVITE, MESSAGE or SUBSCRIBE to sip:Alice@localhost /
  sip:ALICE@localhost reaches the XMPP user alice@localhost (her ringing
  device, her chat, her presence once she approves the watcher).
- XEP-0166 section 8: a Jingle request about a session the gateway does not
  know (session-terminate, session-info, transport-info, or another user's
  sid) is answered item-not-found (type cancel) carrying
  <unknown-session xmlns='urn:xmpp:jingle:errors:1'/>.

Every wait has a timeout."""
import asyncio
import socket
import uuid

import pytest

from conftest import GW_SIP, UAS_PORT, run
from jingle import (CONTENTS, GW, SipPeer, error_condition, hdr, jlogin, q,
                    tag_of)
from sipraw import final, request
from test_call import online, sessions, until
from test_sip_watchers import Watcher, aor, gwjid_of, next_sub, pidf
from xmpp_user import User, login, logout

NS_JINGLE_ERR = "urn:xmpp:jingle:errors:1"
BOB = "bob@" + GW  # sip:bob@127.0.0.1:5070, the scripted peer


def jingle_app_errors(iq):
    """The application conditions (namespace, name) of an IQ error."""
    e = iq.xml.find("{jabber:client}error")
    assert e is not None, str(iq)
    return [tuple(c.tag[1:].split("}")) for c in e
            if not c.tag.startswith("{urn:ietf:params:xml:ns:xmpp-stanzas}")]


@pytest.mark.parametrize("user", ["Alice", "ALICE"])
def test_invite_to_upper_case_user_rings_her_device(gateway, user):
    """INVITE sip:Alice@localhost while alice@localhost/phone is online:
    her device gets the session-initiate and the caller hears 180 (no 480);
    the caller's CANCEL ends it on both sides."""
    async def go():
        peer = await SipPeer.start(UAS_PORT)
        alice = await jlogin("alice@localhost/phone", "alicepass")
        alice.online_to_gateway()
        await online(gateway, "alice@localhost/phone")
        ruri = "sip:%s@localhost" % user
        d = peer.invite(ruri, "sip:carol@127.0.0.1:%d" % UAS_PORT, ruri)
        iq, j = await alice.next_jingle(action="session-initiate", timeout=10)
        assert str(iq["to"]) == "alice@localhost/phone"
        assert j.find(q("content")) is not None
        code, _ = await peer.next_response("INVITE", timeout=10)
        assert code == 100
        code, _ = await peer.next_response("INVITE", timeout=10)
        assert code == 180  # her device acknowledged: it rings
        s = sessions(gateway)
        assert len(s) == 1 and s[0]["sid"] == j.get("sid")
        peer.cancel(d)
        code, _ = await peer.next_response("CANCEL", final=True, timeout=10)
        assert code == 200
        code, resp = await peer.next_response("INVITE", final=True, timeout=10)
        assert code == 487
        peer.ack(d, tag_of(hdr(resp, "To")), branch=d["branch"])
        _, t = await alice.next_jingle(action="session-terminate", timeout=10)
        assert t.get("sid") == j.get("sid")
        await until(lambda: sessions(gateway) == [], 5, "session removed")
        await logout(alice)
        peer.close()
    run(go())


@pytest.mark.parametrize("ruri,to", [
    ("sip:ALICE@localhost", "sip:ALICE@localhost"),
    ("sip:Alice@LOCALHOST", "sip:Alice@LOCALHOST"),
    # the Request-URI names the gateway itself: the To says who it is for
    ("sip:x@127.0.0.1:5600", "sip:aLiCe@localhost"),
])
def test_sip_message_to_upper_case_user_reaches_her(gateway, ruri, to):
    """A SIP MESSAGE to sip:ALICE@localhost is accepted (202) and alice
    reads it as a chat addressed to alice@localhost."""
    text = "hello in any case " + uuid.uuid4().hex[:8]

    async def go():
        u = await login("alice@localhost/pc", "alicepass")
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        s.setblocking(False)
        port = s.getsockname()[1]
        host, p = GW_SIP.split(":")
        try:
            s.sendto(request("MESSAGE", ruri, "sip:tester@127.0.0.1:%d" % port,
                             to, port, body=text.encode()), (host, int(p)))
            loop = asyncio.get_event_loop()
            s.settimeout(10)
            code, _ = await loop.run_in_executor(None, final, s)
            msg = await u.next_message(10, lambda m: text in m["body"])
        finally:
            s.close()
        await logout(u)
        return code, msg

    code, msg = run(go())
    assert code == 202
    assert msg["type"] == "chat" and msg["body"] == text
    assert str(msg["to"].bare) == "alice@localhost"
    assert str(msg["from"]) == "tester\\40127.0.0.1@" + GW


def test_sip_subscribe_to_upper_case_user_watches_her(gateway_factory):
    """SUBSCRIBE sip:ALICE@localhost: 202, NOTIFY pending, alice is asked;
    once she approves, the watcher is NOTIFYed her presence (open)."""
    gateway_factory(sip={"domain": '"example.org"'})
    frm = aor("case")

    async def go():
        u = User("alice@localhost/pc", "alicepass")
        u.auto_authorize = None  # the test answers the request
        u.auto_subscribe = False
        u.subs = asyncio.Queue()
        u.add_event_handler("presence_subscribe",
                            lambda p: u.subs.put_nowait(p))
        u.connect(("127.0.0.1", 5222), use_ssl=False, force_starttls=False,
                  disable_starttls=True)
        await asyncio.wait_for(u.started, 10)
        await u.get_roster()
        w = Watcher("ALICE", frm)
        loop = asyncio.get_event_loop()
        try:
            r = await loop.run_in_executor(None, w.event, "response")
            assert r["code"] == 202, r
            n = await loop.run_in_executor(None, w.notify, 10, "pending")
            assert n["sub_state"].startswith("pending"), n
            p = await next_sub(u)
            assert p["from"].bare == gwjid_of(frm)
            u.send_presence(pto=gwjid_of(frm), ptype="subscribed")
            while True:
                n = await loop.run_in_executor(None, w.notify, 10,
                                               "active, open")
                assert n["sub_state"].startswith("active"), n
                if pidf(n)[0] == "open":
                    break
        finally:
            rc = await loop.run_in_executor(None, w.stop)
            await logout(u)
        return rc

    assert run(go()) == 0  # un-SUBSCRIBE: 200 and NOTIFY terminated


def test_jingle_for_unknown_session_is_unknown_session(gateway):
    """session-terminate / session-info / transport-info for a sid the
    gateway does not know, and another user's sid: item-not-found (cancel)
    with <unknown-session/> (XEP-0166 section 8); the owner's call goes on."""
    async def go():
        peer = await SipPeer.start(UAS_PORT)
        alice = await jlogin("alice@localhost/phone", "alicepass")
        bob = await jlogin("bob@localhost/phone", "bobpass")
        nosid = "nosuch" + uuid.uuid4().hex[:8]
        got = []
        for action, body_ in (
                ("session-terminate", "<reason><success/></reason>"),
                ("session-info", "<ringing xmlns='urn:xmpp:jingle:apps:rtp:info:1'/>"),
                ("transport-info", "")):
            r = await alice.send_jingle(BOB, action, nosid, body_, timeout=10)
            got.append((action, r["type"], error_condition(r),
                        jingle_app_errors(r)))
        # a session that exists, but is alice's: bob does not know it
        sid = "o" + uuid.uuid4().hex[:12]
        r = await alice.send_jingle(BOB, "session-initiate", sid, CONTENTS,
                                    timeout=10)
        assert r["type"] == "result"
        inv = await peer.next_request("INVITE", timeout=10)
        peer.reply(inv, 180, "Ringing")
        await alice.next_jingle(action="session-info", timeout=10)
        r = await bob.send_jingle(BOB, "session-terminate", sid,
                                  "<reason><decline/></reason>", timeout=10)
        got.append(("other's", r["type"], error_condition(r),
                    jingle_app_errors(r)))
        assert sessions(gateway)[0]["state"] == "ringing"
        # alice ends her call: her sid is known (a result, no error)
        r = await alice.send_jingle(BOB, "session-terminate", sid,
                                    "<reason><success/></reason>", timeout=10)
        assert r["type"] == "result"
        cancel = await peer.next_request("CANCEL", timeout=10)
        peer.reply(cancel, 200, "OK")
        peer.reply(inv, 487, "Request Terminated")
        await peer.next_request("ACK", timeout=10)
        await logout(alice)
        await logout(bob)
        peer.close()
        return got

    for action, typ, cond, app in run(go()):
        assert typ == "error", action
        assert cond == ("cancel", "item-not-found"), action
        assert app == [(NS_JINGLE_ERR, "unknown-session")], action


def test_malformed_jingle_is_not_unknown_session(gateway):
    """A Jingle request without a sid is a bad request, not an unknown
    session: no Jingle application condition."""
    async def go():
        alice = await jlogin("alice@localhost/phone", "alicepass")
        r = await alice.send_jingle(BOB, "session-terminate", "", timeout=10)
        await logout(alice)
        return r

    r = run(go())
    assert error_condition(r) == ("modify", "bad-request")
    assert jingle_app_errors(r) == []
