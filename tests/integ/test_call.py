"""Calls: Jingle <-> SIP INVITE (SPEC §6.1), with a real Prosody, slixmpp
users and a scripted SIP user agent (exact control of every response)."""
import asyncio
import json
import uuid
import xml.etree.ElementTree as ET

import pytest

from conftest import UAS_PORT, run
from jingle import (ANSWER, CONTENTS, GW, PHONE_SDP, SipPeer, body, cseq,
                    error_condition, hdr, jlogin, q, reason_of, tag_of)
from xmpp_user import logout

BOB = "bob@" + GW  # sip:bob@127.0.0.1:5070, the scripted peer
# the scripted peer calling as sip:carol@127.0.0.1:5070: not sip.domain's
# host and port, so escaped (§5)
CAROL = "carol\\40127.0.0.1@" + GW


def sessions(gw):
    out = gw.ctl("sessions", "--json")
    return json.loads(out.stdout)["sessions"]


async def until(pred, timeout, what):
    """wait_for for coroutines: the event loop (slixmpp) keeps running."""
    loop = asyncio.get_event_loop()
    end = loop.time() + timeout
    while loop.time() < end:
        v = pred()
        if v:
            return v
        await asyncio.sleep(0.05)
    raise AssertionError("timed out after %ss waiting for %s" % (timeout, what))


async def online(gw, jid):
    """Wait until the gateway has seen jid's presence (§6.0)."""
    await until(lambda: jid in [p["jid"] for p in json.loads(
        gw.ctl("presence", "--json").stdout)["presence"]], 10, jid + " online")


def uas_bye(peer, inv, totag):
    """The callee (peer) hangs up a call the gateway made."""
    n = 10
    contact = hdr(inv, "Contact").strip("<>")
    peer.send("BYE %s SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK%s;rport\r\n"
              "Max-Forwards: 70\r\nFrom: %s;tag=%s\r\nTo: %s\r\nCall-ID: %s\r\n"
              "CSeq: %d BYE\r\nContent-Length: 0\r\n\r\n"
              % (contact, UAS_PORT, uuid.uuid4().hex[:10], hdr(inv, "To"), totag,
                 hdr(inv, "From"), hdr(inv, "Call-ID"), n))


async def call_out(alice, peer, sid, answer=True):
    """alice calls bob@gw; the peer rings (180) and answers (200)."""
    r = await alice.send_jingle(BOB, "session-initiate", sid, CONTENTS)
    assert r["type"] == "result"
    inv = await peer.next_request("INVITE")
    peer.reply(inv, 180, "Ringing")
    _, j = await alice.next_jingle(action="session-info")
    assert j.get("sid") == sid
    assert j.find("{urn:xmpp:jingle:apps:rtp:info:1}ringing") is not None
    if answer:
        peer.reply(inv, 200, "OK", sdp=PHONE_SDP)
        _, j = await alice.next_jingle(action="session-accept")
        assert j.get("sid") == sid
        ack = await peer.next_request("ACK")
        assert hdr(ack, "Call-ID") == hdr(inv, "Call-ID")
        assert cseq(ack) == (1, "ACK")
    return inv


def test_outgoing_call_answered_and_hung_up(gateway):
    async def go():
        peer = await SipPeer.start(UAS_PORT)
        alice = await jlogin("alice@localhost/phone", "alicepass")
        alice.online_to_gateway()
        sid = "s" + uuid.uuid4().hex[:12]
        r = await alice.send_jingle(BOB, "session-initiate", sid, CONTENTS)
        assert r["type"] == "result"
        inv = await peer.next_request("INVITE")
        # RFC 3261 well-formedness and §5 addressing
        assert inv.startswith("INVITE sip:bob@127.0.0.1:%d SIP/2.0" % UAS_PORT)
        assert tag_of(hdr(inv, "From")) and "sip:alice@localhost" in hdr(inv, "From")
        assert "sip:bob@127.0.0.1:%d" % UAS_PORT in hdr(inv, "To")
        assert tag_of(hdr(inv, "To")) is None
        assert hdr(inv, "Call-ID") == sid
        assert cseq(inv) == (1, "INVITE")
        assert hdr(inv, "Max-Forwards") == "70"
        assert "127.0.0.1:5600" in hdr(inv, "Contact")
        sdp = body(inv)
        assert hdr(inv, "Content-Type") == "application/sdp"
        assert "m=audio" in sdp and "m=video" in sdp
        assert sdp.index("m=audio") < sdp.index("m=video")
        assert "a=rtpmap:111 opus/48000/2" in sdp
        assert "a=candidate:1293499931 1 udp 2122260223 127.0.0.1 46515 typ host" in sdp
        assert "a=group:BUNDLE audio video" in sdp
        assert "a=fingerprint:sha-256 AA:BB" in sdp and "a=setup:actpass" in sdp
        peer.reply(inv, 180, "Ringing")
        _, j = await alice.next_jingle(action="session-info")
        assert j.find("{urn:xmpp:jingle:apps:rtp:info:1}ringing") is not None
        assert j.get("initiator") == "alice@localhost/phone"
        s = sessions(gateway)
        assert len(s) == 1 and s[0]["sid"] == sid and s[0]["state"] == "ringing"
        assert s[0]["call_id"] == sid
        peer.reply(inv, 200, "OK", sdp=PHONE_SDP)
        iq, j = await alice.next_jingle(action="session-accept")
        assert j.get("sid") == sid and j.get("responder")
        c = j.find(q("content"))
        assert c is not None and c.find(".//{urn:xmpp:jingle:apps:rtp:1}payload-type") is not None
        t = c.find("{urn:xmpp:jingle:transports:ice-udp:1}transport")
        assert t is not None and t.find("{urn:xmpp:jingle:transports:ice-udp:1}candidate").get("port") == "30000"
        ack = await peer.next_request("ACK")
        assert cseq(ack) == (1, "ACK") and tag_of(hdr(ack, "To")) == peer.tag
        assert sessions(gateway)[0]["state"] == "active"
        r = await alice.send_jingle(BOB, "session-terminate", sid,
                                    "<reason><success/></reason>")
        assert r["type"] == "result"
        bye = await peer.next_request("BYE")
        assert hdr(bye, "Call-ID") == sid
        assert tag_of(hdr(bye, "From")) == tag_of(hdr(inv, "From"))
        assert tag_of(hdr(bye, "To")) == peer.tag
        assert cseq(bye) == (2, "BYE")
        assert bye.startswith("BYE sip:peer@127.0.0.1:%d" % UAS_PORT)
        peer.reply(bye, 200, "OK")
        await until(lambda: sessions(gateway) == [], 5, "session removed")
        await logout(alice)
        peer.close()
    run(go())


@pytest.mark.parametrize("code,reason,cond,sip_error", [
    (480, "Temporarily Unavailable", "general-error", "480"),
    (404, "Not Found", "general-error", "404"),
    (302, "Moved Temporarily", "general-error", "302"),
    (486, "Busy Here", "decline", None),
    (603, "Decline", "decline", None),
])
def test_outgoing_call_rejected(gateway, code, reason, cond, sip_error):
    async def go():
        peer = await SipPeer.start(UAS_PORT)
        alice = await jlogin("alice@localhost/phone", "alicepass")
        sid = "r" + uuid.uuid4().hex[:12]
        r = await alice.send_jingle(BOB, "session-initiate", sid, CONTENTS)
        assert r["type"] == "result"
        inv = await peer.next_request("INVITE")
        peer.reply(inv, code, reason)
        _, j = await alice.next_jingle(action="session-terminate")
        assert j.get("sid") == sid
        assert reason_of(j) == (cond, sip_error)
        if sip_error:
            assert j.find(q("reason")).find(q("sip-error")).text == reason
        ack = await peer.next_request("ACK")  # hop-by-hop ACK of the failure
        assert cseq(ack) == (1, "ACK")
        await until(lambda: sessions(gateway) == [], 5, "session removed")
        await logout(alice)
        peer.close()
    run(go())


def test_outgoing_call_cancelled_by_caller(gateway):
    async def go():
        peer = await SipPeer.start(UAS_PORT)
        alice = await jlogin("alice@localhost/phone", "alicepass")
        sid = "c" + uuid.uuid4().hex[:12]
        inv = await call_out(alice, peer, sid, answer=False)
        r = await alice.send_jingle(BOB, "session-terminate", sid,
                                    "<reason><decline/></reason>")
        assert r["type"] == "result"
        can = await peer.next_request("CANCEL")
        assert cseq(can) == (1, "CANCEL")
        assert hdr(can, "Via").split(";branch=")[1].split(";")[0] == \
            hdr(inv, "Via").split(";branch=")[1].split(";")[0]
        peer.reply(can, 200, "OK")
        peer.reply(inv, 487, "Request Terminated")
        await peer.next_request("ACK")
        await until(lambda: sessions(gateway) == [], 5, "session removed")
        await logout(alice)
        peer.close()
    run(go())


def test_outgoing_call_hung_up_by_callee(gateway):
    async def go():
        peer = await SipPeer.start(UAS_PORT)
        alice = await jlogin("alice@localhost/phone", "alicepass")
        sid = "h" + uuid.uuid4().hex[:12]
        inv = await call_out(alice, peer, sid)
        uas_bye(peer, inv, peer.tag)
        code, _ = await peer.next_response("BYE")
        assert code == 200
        _, j = await alice.next_jingle(action="session-terminate")
        assert j.get("sid") == sid and reason_of(j)[0] == "success"
        await until(lambda: sessions(gateway) == [], 5, "session removed")
        await logout(alice)
        peer.close()
    run(go())


async def call_in(alice, peer, answer=True):
    d = peer.invite("sip:alice@localhost", "sip:carol@127.0.0.1:%d" % UAS_PORT,
                    "sip:alice@localhost")
    iq, j = await alice.next_jingle(action="session-initiate")
    code, _ = await peer.next_response("INVITE")
    assert code == 100
    code, ring = await peer.next_response("INVITE")
    assert code == 180  # the device alerts: it acknowledged the initiate
    if not answer:
        return d, j, ring
    sid = j.get("sid")
    r = await alice.send_jingle(iq["from"], "session-accept", sid, ANSWER)
    assert r["type"] == "result"
    code, ok = await peer.next_response("INVITE")
    assert code == 200
    return d, j, ok


def test_incoming_call_answered_and_hung_up(gateway):
    async def go():
        peer = await SipPeer.start(UAS_PORT)
        alice = await jlogin("alice@localhost/phone", "alicepass")
        alice.online_to_gateway()
        await online(gateway, "alice@localhost/phone")
        d = peer.invite("sip:alice@localhost", "sip:carol@127.0.0.1:%d" % UAS_PORT,
                        "sip:alice@localhost")
        iq, j = await alice.next_jingle(action="session-initiate")
        # carol's host is not sip.domain (127.0.0.1:5070): escaped (§5)
        assert j.get("initiator") == CAROL
        assert str(iq["from"].bare) == j.get("initiator")
        c = j.find(q("content"))
        assert c.find("{urn:xmpp:jingle:apps:rtp:1}description").get("media") == "audio"
        cand = c.find(".//{urn:xmpp:jingle:transports:ice-udp:1}candidate")
        assert cand.get("ip") == "127.0.0.1" and cand.get("port") == "30000"
        code, _ = await peer.next_response("INVITE")
        assert code == 100
        code, _ = await peer.next_response("INVITE")
        assert code == 180
        sid = j.get("sid")
        r = await alice.send_jingle(iq["from"], "session-accept", sid, ANSWER)
        assert r["type"] == "result"
        code, ok = await peer.next_response("INVITE")
        assert code == 200
        totag = tag_of(hdr(ok, "To"))
        assert totag and hdr(ok, "Contact")
        sdp = body(ok)
        assert "m=audio" in sdp and "a=candidate:1 1 udp 2130706431 127.0.0.1 40000 typ host" in sdp
        peer.ack(d, totag)
        s = await until(lambda: [x for x in sessions(gateway) if x["state"] == "active"], 5, "active")
        assert s[0]["sid"] == sid and s[0]["call_id"] == d["callid"]
        d["target"] = hdr(ok, "Contact").strip("<>")
        peer.in_dialog(d, "BYE", totag)
        code, _ = await peer.next_response("BYE")
        assert code == 200
        _, j = await alice.next_jingle(action="session-terminate")
        assert j.get("sid") == sid and reason_of(j)[0] == "success"
        await until(lambda: sessions(gateway) == [], 5, "session removed")
        await logout(alice)
        peer.close()
    run(go())


def test_incoming_call_to_offline_user_gets_480(gateway):
    async def go():
        peer = await SipPeer.start(UAS_PORT)
        peer.invite("sip:bob@localhost", "sip:carol@127.0.0.1:%d" % UAS_PORT,
                    "sip:bob@localhost")
        code, _ = await peer.next_response("INVITE", final=True)
        assert code == 480
        peer.close()
    run(go())


def test_incoming_call_rings_every_device_first_answer_wins(gateway):
    """Two online resources: both get the session-initiate (same sid); the
    second answers; the first gets session-terminate <cancel/>."""
    async def go():
        peer = await SipPeer.start(UAS_PORT)
        a1 = await jlogin("alice@localhost/desk", "alicepass")
        a2 = await jlogin("alice@localhost/mobile", "alicepass")
        a1.online_to_gateway()
        a2.online_to_gateway()
        await online(gateway, "alice@localhost/desk")
        await online(gateway, "alice@localhost/mobile")
        d = peer.invite("sip:alice@localhost", "sip:carol@127.0.0.1:%d" % UAS_PORT,
                        "sip:alice@localhost")
        iq1, j1 = await a1.next_jingle(action="session-initiate")
        iq2, j2 = await a2.next_jingle(action="session-initiate")
        assert j1.get("sid") == j2.get("sid")
        r = await a2.send_jingle(iq2["from"], "session-accept", j2.get("sid"), ANSWER)
        assert r["type"] == "result"
        code, ok = await peer.next_response("INVITE", final=True)
        assert code == 200
        _, t = await a1.next_jingle(action="session-terminate")
        assert t.get("sid") == j1.get("sid") and reason_of(t)[0] == "cancel"
        totag = tag_of(hdr(ok, "To"))
        peer.ack(d, totag)
        s = await until(lambda: [x for x in sessions(gateway) if x["state"] == "active"], 5, "active")
        assert s[0]["user"] == "alice@localhost/mobile"
        # a device that did not answer cannot act on the call... as another
        # user; but the owner's other device may (same bare JID)
        d["target"] = hdr(ok, "Contact").strip("<>")
        peer.in_dialog(d, "BYE", totag)
        await peer.next_response("BYE")
        _, t = await a2.next_jingle(action="session-terminate")
        assert reason_of(t)[0] == "success"
        for u in (a1, a2):
            await logout(u)
    run(go())


def test_incoming_call_declined_and_cancelled(gateway):
    """The callee declines: 486 to the caller. The caller cancels: the
    callee gets <decline/> and the INVITE 487."""
    async def go():
        peer = await SipPeer.start(UAS_PORT)
        alice = await jlogin("alice@localhost/phone", "alicepass")
        alice.online_to_gateway()
        await online(gateway, "alice@localhost/phone")
        d, j, _ = await call_in(alice, peer, answer=False)
        r = await alice.send_jingle(CAROL, "session-terminate",
                                    j.get("sid"), "<reason><decline/></reason>")
        assert r["type"] == "result"
        code, resp = await peer.next_response("INVITE", final=True)
        assert code == 486
        peer.ack(d, tag_of(hdr(resp, "To")), branch=d["branch"])
        d, j, _ = await call_in(alice, peer, answer=False)
        peer.cancel(d)
        code, _ = await peer.next_response("CANCEL", final=True)
        assert code == 200
        code, _ = await peer.next_response("INVITE", final=True)
        assert code == 487
        _, t = await alice.next_jingle(action="session-terminate")
        assert t.get("sid") == j.get("sid") and reason_of(t)[0] == "decline"
        await until(lambda: sessions(gateway) == [], 5, "sessions removed")
        await logout(alice)
    run(go())


def test_only_the_owner_acts_on_a_session(gateway):
    """Reference cases 15/16: another user's accept/terminate with a known
    sid gets item-not-found; an unknown sid too."""
    async def go():
        peer = await SipPeer.start(UAS_PORT)
        alice = await jlogin("alice@localhost/phone", "alicepass")
        bob = await jlogin("bob@localhost/phone", "bobpass")
        sid = "o" + uuid.uuid4().hex[:12]
        await alice.send_jingle(BOB, "session-initiate", sid, CONTENTS)
        inv = await peer.next_request("INVITE")
        peer.reply(inv, 180, "Ringing")
        await alice.next_jingle(action="session-info")
        for action, body_ in (("session-accept", ANSWER),
                              ("session-terminate", "<reason><decline/></reason>")):
            r = await bob.send_jingle(BOB, action, sid, body_)
            assert error_condition(r) == ("cancel", "item-not-found")
        r = await alice.send_jingle(BOB, "session-terminate", "nosuchsid",
                                    "<reason><success/></reason>")
        assert error_condition(r) == ("cancel", "item-not-found")
        assert sessions(gateway)[0]["state"] == "ringing"
        await logout(alice)
        await logout(bob)
    run(go())


def test_existing_session_initiate_resends_the_offer(gateway):
    """Reference case 13: a device that came online later asks for the
    pending session-initiate and gets it from the caller's bare JID."""
    async def go():
        peer = await SipPeer.start(UAS_PORT)
        a1 = await jlogin("alice@localhost/desk", "alicepass")
        a1.online_to_gateway()
        await online(gateway, "alice@localhost/desk")
        d, j, _ = await call_in(a1, peer, answer=False)
        a2 = await jlogin("alice@localhost/late", "alicepass")
        assert a2.jingle.empty()
        r = await a2.send_jingle(None, "existing-session-initiate", j.get("sid"),
                                 typ="get")
        assert r["type"] == "error"  # to own account: not the gateway's
        r = await a2.send_jingle(GW, "existing-session-initiate", j.get("sid"),
                                 typ="get")
        assert r["type"] == "result"
        iq, j2 = await a2.next_jingle(action="session-initiate")
        assert j2.get("sid") == j.get("sid")
        assert str(iq["from"]) == CAROL
        assert j2.find(q("content")) is not None
        r = await a2.send_jingle(GW, "existing-session-initiate", "unknown",
                                 typ="get")
        assert error_condition(r) == ("cancel", "item-not-found")
        peer.cancel(d)
        await peer.next_response("INVITE", final=True)
        await logout(a1)
        await logout(a2)
    run(go())


def test_ring_timeout_ends_both_directions(gateway_factory):
    """No answer within sip.ring_timeout_ms: CANCEL and <timeout/> for an
    outgoing call; 480 and <timeout/> for an incoming one."""
    gw = gateway_factory(sip={"ring_timeout_ms": "1500"})

    async def go():
        peer = await SipPeer.start(UAS_PORT)
        alice = await jlogin("alice@localhost/phone", "alicepass")
        alice.online_to_gateway()
        await online(gw, "alice@localhost/phone")
        sid = "t" + uuid.uuid4().hex[:12]
        inv = await call_out(alice, peer, sid, answer=False)
        can = await peer.next_request("CANCEL", timeout=10)
        peer.reply(can, 200, "OK")
        peer.reply(inv, 487, "Request Terminated")
        _, t = await alice.next_jingle(action="session-terminate")
        assert t.get("sid") == sid and reason_of(t)[0] == "timeout"
        d, j, _ = await call_in(alice, peer, answer=False)
        code, _ = await peer.next_response("INVITE", final=True, timeout=10)
        assert code == 480
        _, t = await alice.next_jingle(action="session-terminate")
        assert t.get("sid") == j.get("sid") and reason_of(t)[0] == "timeout"
        await until(lambda: sessions(gw) == [], 5, "sessions removed")
        await logout(alice)
    run(go())


def test_cli_show_and_end(gateway):
    """xsgwctl show has the dialog, both SDPs and the history; xsgwctl end
    hangs up on both sides (BYE + session-terminate)."""
    async def go():
        peer = await SipPeer.start(UAS_PORT)
        alice = await jlogin("alice@localhost/phone", "alicepass")
        sid = "e" + uuid.uuid4().hex[:12]
        inv = await call_out(alice, peer, sid)
        s = sessions(gateway)[0]
        shown = json.loads(gateway.ctl("show", str(s["id"]), "--json").stdout)
        assert shown["call_id"] == sid and shown["remote_tag"] == peer.tag
        assert shown["local_tag"] == tag_of(hdr(inv, "From"))
        assert "m=audio" in shown["local_sdp"] and "m=audio 30000" in shown["remote_sdp"]
        assert [l.split(" ", 1)[1] for l in shown["history"].splitlines()] == \
            ["calling", "ringing", "active"]
        st = json.loads(gateway.ctl("stats", "--json").stdout)
        assert st["calls.active"] == 1 and st["calls.x2s"] == 1
        human = gateway.ctl("show", str(s["id"])).stdout
        assert "remote_target" in human and "sip:peer@127.0.0.1" in human
        assert ["held_by_user", "no"] in [l.split() for l in human.splitlines()]
        assert shown["held_by_user"] is False and shown["held_by_peer"] is False
        r = gateway.ctl("end", "999999", check=False)
        assert r.returncode == 1 and "no session" in r.stderr
        out = gateway.ctl("end", str(s["id"]))
        bye = await peer.next_request("BYE")
        peer.reply(bye, 200, "OK")
        assert cseq(bye) == (2, "BYE") and hdr(bye, "Call-ID") == sid
        _, t = await alice.next_jingle(action="session-terminate")
        assert t.get("sid") == sid and reason_of(t)[0] == "success"
        assert "ended" in out.stdout
        assert sessions(gateway) == []
        st = json.loads(gateway.ctl("stats", "--json").stdout)
        assert st["calls.active"] == 0 and st["calls.ended"] == 1
        await logout(alice)
    run(go())


HOLD_SDP = PHONE_SDP.replace("a=sendrecv", "a=sendonly")
FRAG = ("a=ice-ufrag:ph0n\r\na=ice-pwd:ph0nepwdph0nepwdph0nepw\r\n"
        "m=audio 9 RTP/AVP 0\r\na=mid:audio\r\n"
        "a=candidate:2 1 udp 1694498815 127.0.0.1 30002 typ srflx raddr 127.0.0.1 rport 30000\r\n")


def test_mid_call_info_dtmf_hold_and_trickle(gateway):
    """In an answered call: transport-info -> INFO with an RFC 8840 fragment
    and back; XEP-0181 DTMF <-> INFO dtmf-relay; <hold/>/<active/> <->
    re-INVITE sendonly/sendrecv, each re-INVITE answered with an SDP."""
    async def go():
        peer = await SipPeer.start(UAS_PORT)
        alice = await jlogin("alice@localhost/phone", "alicepass")
        sid = "m" + uuid.uuid4().hex[:12]
        inv = await call_out(alice, peer, sid)
        d, gwtag = callee_dialog(peer, inv)
        # XMPP -> SIP trickle candidate
        r = await alice.send_jingle(BOB, "transport-info", sid, """
<content xmlns='urn:xmpp:jingle:1' creator='initiator' name='audio'>
 <transport xmlns='urn:xmpp:jingle:transports:ice-udp:1' ufrag='7Gpn' pwd='MUOzzatqL2qP7n1uRC7msD+c'>
  <candidate foundation='2' component='1' protocol='UDP' priority='1686052607' ip='127.0.0.1' port='46600' type='srflx' rel-addr='127.0.0.1' rel-port='46515' generation='0' id='c9'/>
 </transport>
</content>""")
        assert r["type"] == "result"
        info = await peer.next_request("INFO")
        assert hdr(info, "Content-Type") == "application/trickle-ice-sdpfrag"
        assert hdr(info, "Info-Package") == "trickle-ice"
        b = body(info)
        assert "a=mid:audio" in b and "a=ice-ufrag:7Gpn" in b
        assert "a=candidate:2 1 udp 1686052607 127.0.0.1 46600 typ srflx raddr 127.0.0.1 rport 46515" in b
        assert cseq(info) == (2, "INFO")
        peer.reply(info, 200, "OK")
        # SIP -> XMPP trickle candidate
        peer.in_dialog(d, "INFO", gwtag, FRAG, "application/trickle-ice-sdpfrag")
        code, _ = await peer.next_response("INFO")
        assert code == 200
        _, j = await alice.next_jingle(action="transport-info")
        c = j.find(q("content"))
        assert c.get("name") == "audio" and c.find("{urn:xmpp:jingle:apps:rtp:1}description") is None
        cand = c.find(".//{urn:xmpp:jingle:transports:ice-udp:1}candidate")
        assert cand.get("port") == "30002" and cand.get("type") == "srflx"
        # DTMF both ways
        r = await alice.send_jingle(BOB, "session-info", sid,
                                    "<dtmf xmlns='urn:xmpp:jingle:dtmf:0' code='7' duration='160'/>")
        assert r["type"] == "result"
        info = await peer.next_request("INFO")
        assert hdr(info, "Content-Type") == "application/dtmf-relay"
        assert "Signal=7" in body(info) and "Duration=160" in body(info)
        peer.reply(info, 200, "OK")
        peer.in_dialog(d, "INFO", gwtag, "Signal=5\r\nDuration=100\r\n",
                       "application/dtmf-relay")
        await peer.next_response("INFO")
        _, j = await alice.next_jingle(action="session-info")
        assert j.find("{urn:xmpp:jingle:dtmf:0}dtmf").get("code") == "5"
        # hold from SIP: session-info <hold/>, answered recvonly
        peer.in_dialog(d, "INVITE", gwtag, HOLD_SDP, "application/sdp")
        code, ok = await peer.next_response("INVITE", final=True)
        assert code == 200 and "a=recvonly" in body(ok)
        peer.ack(d, gwtag, n=d["cseq"])
        _, j = await alice.next_jingle(action="session-info")
        assert j.find("{urn:xmpp:jingle:apps:rtp:info:1}hold") is not None
        peer.in_dialog(d, "INVITE", gwtag, PHONE_SDP, "application/sdp")
        code, ok = await peer.next_response("INVITE", final=True)
        assert code == 200 and "a=sendrecv" in body(ok)
        peer.ack(d, gwtag, n=d["cseq"])
        _, j = await alice.next_jingle(action="session-info")
        assert j.find("{urn:xmpp:jingle:apps:rtp:info:1}active") is not None
        # hold from XMPP: re-INVITE sendonly, ACKed after our 200
        r = await alice.send_jingle(BOB, "session-info", sid,
                                    "<hold xmlns='urn:xmpp:jingle:apps:rtp:info:1'/>")
        assert r["type"] == "result"
        re_inv = await peer.next_request("INVITE")
        assert tag_of(hdr(re_inv, "To")) == peer.tag and "a=sendonly" in body(re_inv)
        peer.reply(re_inv, 200, "OK", sdp=PHONE_SDP.replace("a=sendrecv", "a=recvonly"))
        ack = await peer.next_request("ACK")
        assert cseq(ack) == (cseq(re_inv)[0], "ACK")
        await logout(alice)
    run(go())


def uri_in(v):
    return v.split("<", 1)[1].split(">", 1)[0]


def callee_dialog(peer, inv):
    """The dialog of an INVITE the gateway sent, seen from the peer (the
    callee), for requests the peer sends in it; and the gateway's tag."""
    # in-dialog requests (an ACK too) go to the gateway's Contact
    target = hdr(inv, "Contact").strip("<>")
    d = {"callid": hdr(inv, "Call-ID"), "ftag": peer.tag, "ruri": target,
         "cseq": 1, "from": uri_in(hdr(inv, "To")), "to": uri_in(hdr(inv, "From")),
         "target": target}
    return d, tag_of(hdr(inv, "From"))


def test_username_to_phone_both_ways(gateway_factory):
    """username_to_phone: the mapped user calls with the number in From; a
    call to the number rings the user."""
    gw = gateway_factory(sip={"username_to_phone":
                              '[{username: "2000006168", phone: "+919177074440"}]'})

    async def go():
        peer = await SipPeer.start(UAS_PORT)
        u = await jlogin("2000006168@localhost/phone", "phonepass")
        u.online_to_gateway()
        await online(gw, "2000006168@localhost/phone")
        sid = "p" + uuid.uuid4().hex[:12]
        r = await u.send_jingle(BOB, "session-initiate", sid, CONTENTS)
        assert r["type"] == "result"
        inv = await peer.next_request("INVITE")
        assert "+919177074440" in hdr(inv, "From") and "2000006168" not in hdr(inv, "From")
        peer.reply(inv, 603, "Decline")
        await u.next_jingle(action="session-terminate")
        await peer.next_request("ACK")
        peer.invite("sip:+919177074440@127.0.0.1;user=phone",
                    "sip:carol@127.0.0.1:%d" % UAS_PORT,
                    "sip:+919177074440@127.0.0.1;user=phone")
        iq, j = await u.next_jingle(action="session-initiate")
        assert j.get("responder") in (None, "2000006168@localhost")
        assert str(iq["to"]).startswith("2000006168@localhost")
        await logout(u)
    run(go())


def test_xep0353_propose_when_no_presence_was_seen(gateway):
    """§6.0: a user who never sent the gateway presence is asked with an
    XEP-0353 propose to the bare JID: proceed -> session-initiate to that
    device -> 200; reject -> 603; no answer -> retract and 480."""
    async def go():
        peer = await SipPeer.start(UAS_PORT)
        alice = await jlogin("alice@localhost/phone", "alicepass")
        props = asyncio.Queue()

        def on_msg(m):
            for c in m.xml:
                if c.tag.startswith("{urn:xmpp:jingle-message:0}"):
                    props.put_nowait((str(m["from"]), c.tag.split("}")[1], c.get("id")))
        alice.add_event_handler("message", on_msg)
        alice.add_event_handler("message_error", on_msg)
        from slixmpp.xmlstream.handler import Callback
        from slixmpp.xmlstream.matcher import MatchXPath
        alice.register_handler(Callback("jmi", MatchXPath(
            "{jabber:client}message/{urn:xmpp:jingle-message:0}propose"), on_msg))
        alice.register_handler(Callback("jmi2", MatchXPath(
            "{jabber:client}message/{urn:xmpp:jingle-message:0}retract"), on_msg))

        def jmi(to, what, sid):
            m = alice.make_message(mto=to, mtype="chat")
            m.append(ET.fromstring("<%s xmlns='urn:xmpp:jingle-message:0' id='%s'/>"
                                   % (what, sid)))
            m.send()

        # proceed
        d = peer.invite("sip:alice@localhost", "sip:carol@127.0.0.1:%d" % UAS_PORT,
                        "sip:alice@localhost")
        frm, what, sid = await asyncio.wait_for(props.get(), 10)
        assert what == "propose" and frm.startswith("carol")
        jmi(frm, "proceed", sid)
        iq, j = await alice.next_jingle(action="session-initiate")
        assert j.get("sid") == sid and j.find(q("content")) is not None
        r = await alice.send_jingle(iq["from"], "session-accept", sid, ANSWER)
        assert r["type"] == "result"
        code, ok = await peer.next_response("INVITE", final=True)
        assert code == 200
        peer.ack(d, tag_of(hdr(ok, "To")))
        d["target"] = hdr(ok, "Contact").strip("<>")
        peer.in_dialog(d, "BYE", tag_of(hdr(ok, "To")))
        await peer.next_response("BYE")
        await alice.next_jingle(action="session-terminate")
        # reject
        d = peer.invite("sip:alice@localhost", "sip:carol@127.0.0.1:%d" % UAS_PORT,
                        "sip:alice@localhost")
        frm, what, sid = await asyncio.wait_for(props.get(), 10)
        jmi(frm, "reject", sid)
        code, resp = await peer.next_response("INVITE", final=True)
        assert code == 603
        peer.ack(d, tag_of(hdr(resp, "To")), branch=d["branch"])
        # no answer: retract, 480 (propose_timeout_ms 1000 in the tests)
        d = peer.invite("sip:alice@localhost", "sip:carol@127.0.0.1:%d" % UAS_PORT,
                        "sip:alice@localhost")
        frm, what, sid = await asyncio.wait_for(props.get(), 10)
        assert what == "propose"
        code, _ = await peer.next_response("INVITE", final=True, timeout=10)
        assert code == 480
        frm, what, sid2 = await asyncio.wait_for(props.get(), 10)
        assert (what, sid2) == ("retract", sid)
        await until(lambda: sessions(gateway) == [], 5, "sessions removed")
        await logout(alice)
    run(go())


def test_abandoned_call_is_swept(gateway_factory):
    """A call with no signalling for sip.call_idle_timeout_s is hung up on
    both sides and removed (the far side vanished without a BYE)."""
    gw = gateway_factory(sip={"call_idle_timeout_s": "1"})

    async def go():
        peer = await SipPeer.start(UAS_PORT)
        alice = await jlogin("alice@localhost/phone", "alicepass")
        sid = "w" + uuid.uuid4().hex[:12]
        await call_out(alice, peer, sid)
        bye = await peer.next_request("BYE", timeout=10)
        assert hdr(bye, "Call-ID") == sid and cseq(bye) == (2, "BYE")
        peer.reply(bye, 200, "OK")
        _, t = await alice.next_jingle(action="session-terminate", timeout=10)
        assert t.get("sid") == sid and reason_of(t)[0] == "success"
        await until(lambda: sessions(gw) == [], 5, "session removed")
        await logout(alice)
    run(go())


def test_bad_sdp_and_bad_jingle_get_clear_errors(gateway):
    """Malformed SDP in an INVITE: 488 whose reason names the line; a
    malformed Jingle offer: <bad-request/> with a text; nothing crashes and
    no session is left."""
    async def go():
        peer = await SipPeer.start(UAS_PORT)
        alice = await jlogin("alice@localhost/phone", "alicepass")
        alice.online_to_gateway()
        await online(gateway, "alice@localhost/phone")
        bad = PHONE_SDP.replace("m=audio 30000 RTP/AVP 0 101", "m=audio notaport RTP/AVP 0")
        peer.invite("sip:alice@localhost", "sip:carol@127.0.0.1:%d" % UAS_PORT,
                    "sip:alice@localhost", sdp=bad)
        code, resp = await peer.next_response("INVITE", final=True)
        assert code == 488 and "SDP line" in resp.split("\r\n", 1)[0]
        sid = "b" + uuid.uuid4().hex[:12]
        r = await alice.send_jingle(BOB, "session-initiate", sid, """
<content xmlns='urn:xmpp:jingle:1' creator='initiator' name='audio'>
 <description xmlns='urn:xmpp:jingle:apps:rtp:1' media='audio'>
  <payload-type name='PCMU' clockrate='8000'/></description></content>""")
        assert error_condition(r) == ("modify", "bad-request")
        text = r.xml.find("{jabber:client}error/{urn:ietf:params:xml:ns:xmpp-stanzas}text")
        assert text is not None and text.text
        r = await alice.send_jingle(BOB, "session-initiate", "", CONTENTS)
        assert error_condition(r) == ("modify", "bad-request")
        assert sessions(gateway) == []
        assert gateway.status()["translator"]["restarts"] == 0
        await logout(alice)
    run(go())


def test_answer_crossing_our_cancel_is_acked_and_hung_up(gateway):
    """The callee answers as the caller cancels (RFC 3261 9.1 race): the 200
    is ACKed and the call hung up with a BYE; nothing is left."""
    async def go():
        peer = await SipPeer.start(UAS_PORT)
        alice = await jlogin("alice@localhost/phone", "alicepass")
        sid = "x" + uuid.uuid4().hex[:12]
        inv = await call_out(alice, peer, sid, answer=False)
        await alice.send_jingle(BOB, "session-terminate", sid,
                                "<reason><decline/></reason>")
        can = await peer.next_request("CANCEL")
        peer.reply(can, 200, "OK")
        peer.reply(inv, 200, "OK", sdp=PHONE_SDP)  # too late to cancel
        ack = await peer.next_request("ACK")
        assert cseq(ack) == (1, "ACK")
        bye = await peer.next_request("BYE")
        assert cseq(bye) == (2, "BYE") and tag_of(hdr(bye, "To")) == peer.tag
        peer.reply(bye, 200, "OK")
        await until(lambda: sessions(gateway) == [], 5, "session removed")
        await logout(alice)
    run(go())


@pytest.mark.parametrize("transport,ns", [
    ("ice", "urn:xmpp:jingle:transports:ice-udp:1"),
    ("raw-udp", "urn:xmpp:jingle:transports:raw-udp:1")])
def test_phone_without_ice_as_configured(gateway_factory, transport, ns):
    """sip.phone_transport: a plain phone's c=/port becomes an ICE-UDP host
    candidate or a XEP-0177 Raw UDP candidate."""
    gw = gateway_factory(sip={"phone_transport": transport})

    async def go():
        peer = await SipPeer.start(UAS_PORT)
        alice = await jlogin("alice@localhost/phone", "alicepass")
        alice.online_to_gateway()
        await online(gw, "alice@localhost/phone")
        d = peer.invite("sip:alice@localhost", "sip:carol@127.0.0.1:%d" % UAS_PORT,
                        "sip:alice@localhost")
        _, j = await alice.next_jingle(action="session-initiate")
        t = j.find(q("content")).find("{%s}transport" % ns)
        assert t is not None
        c = t.find("{%s}candidate" % ns)
        assert (c.get("ip"), c.get("port")) == ("127.0.0.1", "30000")
        peer.cancel(d)
        await peer.next_response("INVITE", final=True)
        await logout(alice)
    run(go())


def test_trickle_before_the_dialog_waits_for_it(gateway):
    """transport-info sent right after session-initiate (before any SIP
    response) is held and sent as INFO once the 180 creates the dialog."""
    async def go():
        peer = await SipPeer.start(UAS_PORT)
        alice = await jlogin("alice@localhost/phone", "alicepass")
        sid = "tr" + uuid.uuid4().hex[:10]
        r = await alice.send_jingle(BOB, "session-initiate", sid, CONTENTS)
        assert r["type"] == "result"
        inv = await peer.next_request("INVITE")
        assert hdr(inv, "Recv-Info") == "trickle-ice"
        r = await alice.send_jingle(BOB, "transport-info", sid, """
<content xmlns='urn:xmpp:jingle:1' creator='initiator' name='video'>
 <transport xmlns='urn:xmpp:jingle:transports:ice-udp:1' ufrag='7Gpn' pwd='MUOzzatqL2qP7n1uRC7msD+c'>
  <candidate foundation='3' component='1' protocol='udp' priority='1' ip='127.0.0.1' port='46700' type='host' generation='0' id='c3'/>
 </transport>
</content>""")
        assert r["type"] == "result"
        peer.reply(inv, 180, "Ringing")
        info = await peer.next_request("INFO")
        assert tag_of(hdr(info, "To")) == peer.tag
        assert "m=video 9 UDP/TLS/RTP/SAVPF 0" in body(info) or "m=video" in body(info)
        assert "a=mid:video" in body(info) and " 46700 typ host" in body(info)
        peer.reply(info, 200, "OK")
        await logout(alice)
    run(go())


def test_xep0353_caller_gets_proceed_from_the_gateway(gateway):
    """A client that starts calls with an XEP-0353 propose (e.g.
    Conversations) gets <proceed/> from the gateway JID; its
    session-initiate with the propose id then becomes the INVITE."""
    async def go():
        peer = await SipPeer.start(UAS_PORT)
        alice = await jlogin("alice@localhost/phone", "alicepass")
        got = asyncio.Queue()
        from slixmpp.xmlstream.handler import Callback
        from slixmpp.xmlstream.matcher import MatchXPath
        alice.register_handler(Callback("proceed", MatchXPath(
            "{jabber:client}message/{urn:xmpp:jingle-message:0}proceed"),
            lambda m: got.put_nowait(m)))
        info = await alice["xep_0030"].get_info(jid=BOB, timeout=10)
        assert "urn:xmpp:jingle-message:0" in info["disco_info"]["features"]
        sid = "jp" + uuid.uuid4().hex[:10]
        m = alice.make_message(mto=BOB, mtype="chat")
        m.append(ET.fromstring("<propose xmlns='urn:xmpp:jingle-message:0' id='%s'>"
                               "<description xmlns='urn:xmpp:jingle:apps:rtp:1' "
                               "media='audio'/></propose>" % sid))
        m.send()
        p = await asyncio.wait_for(got.get(), 10)
        assert str(p["from"]) == BOB
        assert p.xml.find("{urn:xmpp:jingle-message:0}proceed").get("id") == sid
        r = await alice.send_jingle(BOB, "session-initiate", sid, CONTENTS)
        assert r["type"] == "result"
        inv = await peer.next_request("INVITE")
        assert hdr(inv, "Call-ID") == sid
        peer.reply(inv, 486, "Busy Here")
        await alice.next_jingle(action="session-terminate")
        await logout(alice)
    run(go())


TRICKLE_OFFER = """
<content xmlns='urn:xmpp:jingle:1' creator='initiator' name='0' senders='both'>
 <description xmlns='urn:xmpp:jingle:apps:rtp:1' media='audio'>
  <payload-type id='111' name='opus' clockrate='48000' channels='2'/>
  <payload-type id='0' name='PCMU' clockrate='8000'/>
 </description>
 <transport xmlns='urn:xmpp:jingle:transports:ice-udp:1' ufrag='tR1c' pwd='tricklepwdtricklepwd1234'/>
</content>"""


def test_invite_waits_for_trickled_candidates(gateway):
    """A client that trickles every candidate (Conversations, Dino): the
    INVITE waits sip.candidate_wait_ms and carries the candidates trickled
    meanwhile, so a phone without trickle ICE gets an address."""
    async def go():
        peer = await SipPeer.start(UAS_PORT)
        alice = await jlogin("alice@localhost/phone", "alicepass")
        sid = "tw" + uuid.uuid4().hex[:10]
        r = await alice.send_jingle(BOB, "session-initiate", sid, TRICKLE_OFFER)
        assert r["type"] == "result"
        for port, typ in ((47000, "host"), (47002, "srflx")):
            r = await alice.send_jingle(BOB, "transport-info", sid, """
<content xmlns='urn:xmpp:jingle:1' creator='initiator' name='0'>
 <transport xmlns='urn:xmpp:jingle:transports:ice-udp:1' ufrag='tR1c' pwd='tricklepwdtricklepwd1234'>
  <candidate foundation='%d' component='1' protocol='udp' priority='%d' ip='127.0.0.1' port='%d' type='%s' generation='0' id='k%d'/>
 </transport></content>""" % (port, 2000 - port // 100, port, typ, port))
            assert r["type"] == "result"
        inv = await peer.next_request("INVITE")
        sdp = body(inv)
        assert " 47000 typ host" in sdp and " 47002 typ srflx" in sdp
        assert "m=audio 47002 " in sdp  # the default candidate (srflx > host)
        peer.reply(inv, 486, "Busy Here")
        await alice.next_jingle(action="session-terminate")
        # ended while still held: nothing reaches SIP, nothing is left
        sid = "tx" + uuid.uuid4().hex[:10]
        await alice.send_jingle(BOB, "session-initiate", sid, TRICKLE_OFFER)
        await alice.send_jingle(BOB, "session-terminate", sid,
                                "<reason><cancel/></reason>")
        await until(lambda: sessions(gateway) == [], 5, "session removed")
        with pytest.raises(asyncio.TimeoutError):
            await peer.next_request("INVITE", timeout=1)
        await logout(alice)
    run(go())


@pytest.mark.parametrize("reason,code,phrase", [
    ("<busy/>", 486, "Busy Here"),
    ("<general-error/><sip-error code='603'>Decline</sip-error>", 603, "Decline"),
    ("<general-error/><sip-error code='480'>Out\nto lunch</sip-error>", 480, "Outto lunch"),
    ("<gone/>", 410, "Gone"),
])
def test_callee_reason_becomes_the_sip_final_response(gateway, reason, code, phrase):
    """An XMPP callee's session-terminate reason is the SIP caller's final
    response: <sip-error code> with its text as the phrase (one safe line)."""
    async def go():
        peer = await SipPeer.start(UAS_PORT)
        alice = await jlogin("alice@localhost/phone", "alicepass")
        alice.online_to_gateway()
        await online(gateway, "alice@localhost/phone")
        d, j, _ = await call_in(alice, peer, answer=False)
        r = await alice.send_jingle(CAROL, "session-terminate",
                                    j.get("sid"), "<reason>%s</reason>" % reason)
        assert r["type"] == "result"
        got, resp = await peer.next_response("INVITE", final=True)
        assert (got, resp.split("\r\n", 1)[0]) == (code, "SIP/2.0 %d %s" % (code, phrase))
        peer.ack(d, tag_of(hdr(resp, "To")), branch=d["branch"])
        await until(lambda: sessions(gateway) == [], 5, "session removed")
        await logout(alice)
    run(go())


def test_invite_nobody_answers_timer_b(gateway_factory):
    """A callee that never answers at all (no 100 even): the INVITE is
    retransmitted (Timer A) and fails after 64*T1 (Timer B): the caller gets
    <general-error/> with sip-error 408 and the session is gone."""
    gw = gateway_factory(sip={"t1_ms": "50"})

    async def go():
        peer = await SipPeer.start(UAS_PORT)
        alice = await jlogin("alice@localhost/phone", "alicepass")
        sid = "tb" + uuid.uuid4().hex[:10]
        r = await alice.send_jingle(BOB, "session-initiate", sid, """
<content xmlns='urn:xmpp:jingle:1' creator='initiator' name='audio' senders='both'>
 <description xmlns='urn:xmpp:jingle:apps:rtp:1' media='audio'>
  <payload-type id='0' name='PCMU' clockrate='8000'/></description>
 <transport xmlns='urn:xmpp:jingle:transports:raw-udp:1'>
  <candidate id='r1' component='1' generation='0' ip='127.0.0.1' port='41000'/></transport>
</content>""")
        assert r["type"] == "result"
        first = await peer.next_request("INVITE")
        again = await peer.next_request("INVITE")  # Timer A retransmission
        assert hdr(again, "Via") == hdr(first, "Via")
        _, t = await alice.next_jingle(action="session-terminate", timeout=10)
        assert t.get("sid") == sid and reason_of(t) == ("general-error", "408")
        await until(lambda: sessions(gw) == [], 5, "session removed")
        await logout(alice)
    run(go())


def test_oversized_invite_gets_413(gateway):
    """An INVITE that libre takes (its TCP limit is 64 KiB per message) but
    that no longer fits a frame with its source address: 413, nothing
    stored, no process restarted. (Larger ones libre refuses itself by
    closing the connection.)"""
    import socket
    from sipraw import request

    def invite(pad):
        sdp = PHONE_SDP + "a=x-pad:" + "p" * pad + "\r\n"
        return request("INVITE", "sip:alice@localhost", "sip:carol@127.0.0.1",
                       "sip:alice@localhost", 5071, body=sdp.encode(),
                       ctype="application/sdp").replace(b"SIP/2.0/UDP",
                                                        b"SIP/2.0/TCP")
    req = invite(0)
    req = invite(65520 - len(req))
    assert 65500 < len(req) < 65536
    s = socket.create_connection(("127.0.0.1", 5600), timeout=10)
    try:
        s.sendall(req)
        data = b""
        while b"\r\n\r\n" not in data:
            data += s.recv(4096)
    finally:
        s.close()
    assert data.startswith(b"SIP/2.0 413 "), data[:80]
    assert sessions(gateway) == []
    assert all(w["restarts"] == 0 for w in gateway.status().values())
