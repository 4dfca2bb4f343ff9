"""In-call features (issue 11, point 5; SPEC §6.1, §6.2), both directions,
with a real Prosody, slixmpp users and the scripted SIP peer: INFO with any
payload <-> session-info <info/>, MESSAGE in the dialog -> chat, decline
with a chosen SIP code, early media (183 with SDP), blind transfer (REFER)
including kill -9 of the translator in the middle, SDES-SRTP <->
<encryption/>."""
import asyncio
import uuid

import pytest
from slixmpp.xmlstream import ET
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

from conftest import UAS_PORT, run
from jingle import (ANSWER, CONTENTS, PHONE_SDP, SipPeer, body, cseq, hdr,
                    jlogin, q, reason_of, tag_of)
from test_call import (BOB, CAROL, call_in, call_out, callee_dialog, online,
                       sessions, until, uri_in)
from test_call_crash import crash
from xmpp_user import logout

NS_SIP_INFO = "urn:xmpp:sip:info:0"
NS_ICE = "urn:xmpp:jingle:transports:ice-udp:1"
TARGET = "sip:carol@127.0.0.1:%d" % UAS_PORT  # sip.domain: allowed (F9)
TARGET_SDP = PHONE_SDP.replace("o=phone 1 1", "o=carol 7 7").replace(
    "m=audio 30000", "m=audio 32000")
CALL_BODY_MAX = 64 * 1024 // 2 - 4096


def dlg_req(peer, d, method, totag, extra="", b=b"", ctype=None):
    """A request of the peer in dialog d (its next CSeq), with extra header
    lines (each ending in CRLF) and a body of bytes or text."""
    b = b.encode() if isinstance(b, str) else b
    d["cseq"] += 1
    head = ("%s %s SIP/2.0\r\n"
            "Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK%s;rport\r\n"
            "Max-Forwards: 70\r\nFrom: <%s>;tag=%s\r\nTo: <%s>;tag=%s\r\n"
            "Call-ID: %s\r\nCSeq: %d %s\r\nContact: <sip:peer@127.0.0.1:%d>\r\n"
            "%s%sContent-Length: %d\r\n\r\n"
            % (method, d.get("target") or d["ruri"], peer.port,
               uuid.uuid4().hex[:12], d["from"], d["ftag"], d["to"], totag,
               d["callid"], d["cseq"], method, peer.port, extra,
               "Content-Type: %s\r\n" % ctype if b else "", len(b)))
    peer.send(head.encode() + b)
    return d["cseq"]


async def requests(peer, want, timeout=10, skip=()):
    """The peer's next requests until one of each method in want (a list)
    came; returns {method: request}. Nothing else may come meanwhile (but
    retransmissions, and the methods in skip)."""
    got = {}
    loop = asyncio.get_event_loop()
    end = loop.time() + timeout
    while set(got) != set(want):
        left = end - loop.time()
        if left <= 0:
            raise asyncio.TimeoutError("got %s of %s" % (sorted(got), want))
        msg, _ = await asyncio.wait_for(peer.requests.get(), left)
        if not msg.strip():
            continue  # a keep-alive (RFC 5626 CRLF) on the TCP connection
        m = msg.split(" ", 1)[0]
        if m in skip:
            continue
        assert m in want, "unexpected %s:\n%s" % (m, msg)
        if m in got:
            assert hdr(msg, "CSeq") == hdr(got[m], "CSeq"), msg
            continue
        got[m] = msg
    return got


async def no_jingle(user, action, timeout=1.0):
    with pytest.raises(asyncio.TimeoutError):
        await user.next_jingle(action=action, timeout=timeout)


async def answered(direction, alice, peer, gw):
    """An answered call in direction ("x2s": alice called bob; "s2x": carol's
    phone called alice); returns (sid, the SIP party's JID, the peer's
    dialog dict, the gateway's tag)."""
    if direction == "x2s":
        sid = "f" + uuid.uuid4().hex[:12]
        inv = await call_out(alice, peer, sid)
        d, gwtag = callee_dialog(peer, inv)
        return sid, BOB, d, gwtag
    alice.online_to_gateway()
    await online(gw, "alice@localhost/phone")
    d, j, ok = await call_in(alice, peer)
    gwtag = tag_of(hdr(ok, "To"))
    peer.ack(d, gwtag)
    d["target"] = hdr(ok, "Contact").strip("<>")
    await until(lambda: sessions(gw)[0]["state"] == "active", 5, "active")
    return j.get("sid"), CAROL, d, gwtag


# ---- 1. INFO with any payload <-> session-info <info/> (SPEC 6.2) ------

@pytest.mark.parametrize("direction", ["x2s", "s2x"])
def test_info_any_payload_both_ways(gateway, direction):
    async def go():
        peer = await SipPeer.start(UAS_PORT)
        alice = await jlogin("alice@localhost/phone", "alicepass")
        info = await alice["xep_0030"].get_info(jid=BOB, timeout=10)
        assert NS_SIP_INFO in info["disco_info"]["features"]
        sid, party, d, gwtag = await answered(direction, alice, peer, gateway)
        # SIP -> XMPP: 200 at once, the payload as it is
        text = "<status>caf\u00e9 & co</status>\r\nline 2"
        dlg_req(peer, d, "INFO", gwtag, b=text,
                ctype="application/x-status+xml; charset=utf-8")
        code, _ = await peer.next_response("INFO")
        assert code == 200
        _, j = await alice.next_jingle(action="session-info")
        assert j.get("sid") == sid
        info = j.find("{%s}info" % NS_SIP_INFO)
        assert info.get("content-type") == "application/x-status+xml; charset=utf-8"
        assert info.text.replace("\r\n", "\n") == text.replace("\r\n", "\n")
        # XMPP -> SIP: an INFO in the dialog with that type and body
        r = await alice.send_jingle(party, "session-info", sid,
                                    "<info xmlns='%s' content-type='application/json'>"
                                    "{&quot;volume&quot;: 7}</info>" % NS_SIP_INFO)
        assert r["type"] == "result"
        info = await peer.next_request("INFO")
        assert hdr(info, "Content-Type") == "application/json"
        assert body(info) == '{"volume": 7}'
        assert hdr(info, "Call-ID") == d["callid"]
        assert tag_of(hdr(info, "To")) == d["ftag"]
        assert tag_of(hdr(info, "From")) == gwtag
        peer.reply(info, 200, "OK")
        # what XML cannot carry is refused with a 4xx, never cleaned up
        for payload, ctype, want in (
                (b"\xff\xfe\x00\x01binary", "application/octet-stream", 400),
                (b"\x1b[31mred", "text/plain", 400),
                (b"x" * (CALL_BODY_MAX + 1), "text/plain", 413)):
            if b"\x00" in payload:
                want = 400  # NUL: refused before the call sees it
            dlg_req(peer, d, "INFO", gwtag, b=payload, ctype=ctype)
            code, resp = await peer.next_response("INFO")
            assert code == want, resp.split("\r\n", 1)[0]
        await no_jingle(alice, "session-info")
        # a content-type a header cannot carry
        r = await alice.send_jingle(party, "session-info", sid,
                                    "<info xmlns='%s' content-type='text/plain&#13;&#10;"
                                    "X-Evil: 1'>x</info>" % NS_SIP_INFO)
        assert r["type"] == "error"
        assert r.xml.find("{jabber:client}error/{urn:ietf:params:xml:ns:"
                          "xmpp-stanzas}bad-request") is not None
        with pytest.raises(asyncio.TimeoutError):
            await peer.next_request("INFO", timeout=1)
        assert sessions(gateway)[0]["state"] == "active"
        await logout(alice)
        peer.close()
    run(go())


# ---- 2. MESSAGE in the dialog -> chat ------------------------------------

@pytest.mark.parametrize("direction", ["x2s", "s2x"])
def test_message_in_dialog_is_a_chat(gateway, direction):
    async def go():
        peer = await SipPeer.start(UAS_PORT)
        alice = await jlogin("alice@localhost/phone", "alicepass")
        sid, party, d, gwtag = await answered(direction, alice, peer, gateway)
        dlg_req(peer, d, "MESSAGE", gwtag, b="can you hear me? \u266b",
                ctype="text/plain;charset=UTF-8")
        code, _ = await peer.next_response("MESSAGE")
        assert code == 200
        m = await alice.next_message(
            match=lambda m: m["body"] == "can you hear me? \u266b")
        assert m["type"] == "chat"
        assert str(m["from"]) == party
        assert str(m["to"]) == "alice@localhost/phone"
        dlg_req(peer, d, "MESSAGE", gwtag, b="<composing/>",
                ctype="application/im-iscomposing+xml")
        code, resp = await peer.next_response("MESSAGE")
        assert code == 415 and hdr(resp, "Accept") == "text/plain"
        assert sessions(gateway)[0]["state"] == "active"
        await logout(alice)
        peer.close()
    run(go())


@pytest.mark.parametrize("direction", ["x2s", "s2x"])
def test_chat_during_call_is_a_message_in_the_dialog(gateway, direction):
    """SPEC 6.2, the other way: a chat from the user to the call's party is
    a MESSAGE in the call's dialog (its Call-ID and tags, the next CSeq, the
    remote target, no Contact); its 200 is the receipt, a 481 an error back
    to the user; once the call is over, chats go outside a dialog again."""
    async def go():
        peer = await SipPeer.start(UAS_PORT)
        alice = await jlogin("alice@localhost/phone", "alicepass")
        receipts = asyncio.Queue()
        alice.register_handler(Callback(
            "receipts", MatchXPath(
                "{jabber:client}message/{urn:xmpp:receipts}received"),
            receipts.put_nowait))
        sid, party, d, gwtag = await answered(direction, alice, peer, gateway)
        peer_tag = peer.tag if direction == "x2s" else d["ftag"]

        def chat(text, sid_):
            m = alice.make_message(mto=party, mbody=text, mtype="chat")
            m["id"] = sid_
            m.xml.append(ET.Element("{urn:xmpp:receipts}request"))
            m.send()

        chat("are you there? \u266b", "c1")
        msg = await peer.next_request("MESSAGE")
        assert msg.startswith("MESSAGE sip:peer@127.0.0.1:%d SIP/2.0\r\n"
                              % peer.port), msg
        assert hdr(msg, "Call-ID") == d["callid"]
        assert tag_of(hdr(msg, "From")) == gwtag
        assert tag_of(hdr(msg, "To")) == peer_tag
        assert hdr(msg, "Contact") is None
        assert hdr(msg, "Content-Type").startswith("text/plain")
        assert body(msg) == "are you there? \u266b"
        n1 = cseq(msg)[0]
        peer.reply(msg, 200, "OK")
        rc = await asyncio.wait_for(receipts.get(), 10)
        assert rc.xml.find("{urn:xmpp:receipts}received").get("id") == "c1"
        assert str(rc["from"]) == party

        chat("and now?", "c2")
        msg = await peer.next_request("MESSAGE")
        assert hdr(msg, "Call-ID") == d["callid"] and cseq(msg)[0] == n1 + 1
        peer.reply(msg, 481, "Call/Transaction Does Not Exist")
        err = await alice.next_message(match=lambda m: m["type"] == "error")
        assert err["id"] == "c2" and str(err["from"]) == party
        assert err["error"]["condition"] == "item-not-found", err
        assert sessions(gateway)[0]["state"] == "active"

        peer.in_dialog(d, "BYE", gwtag)
        assert (await peer.next_response("BYE"))[0] == 200
        await alice.next_jingle(action="session-terminate")
        chat("after the call", "c3")
        if direction == "x2s":  # through sip.proxy (the peer)
            msg = await peer.next_request("MESSAGE")
            assert hdr(msg, "Call-ID") != d["callid"]
            assert tag_of(hdr(msg, "To")) is None
            peer.reply(msg, 200, "OK")
            await asyncio.wait_for(receipts.get(), 10)
        else:  # carol's host is no allowed destination without a dialog
            err = await alice.next_message(
                match=lambda m: m["type"] == "error" and m["id"] == "c3")
            assert err["error"]["condition"] == "forbidden", err
        await logout(alice)
        peer.close()
    run(go())


# ---- renegotiation: content-modify and ICE restart <-> re-INVITE ---------

def m_section(sdp, media):
    """The lines of an SDP's m-section for media (from its m= line)."""
    out, on = [], False
    for line in sdp.split("\r\n"):
        if line.startswith("m="):
            on = line.startswith("m=%s " % media)
        if on:
            out.append(line)
    return out


def test_content_modify_and_ice_restart_are_reinvites(gateway):
    """XEP-0166 content-modify (senders) -> a re-INVITE with the new
    direction; a transport-info with new ICE credentials (an ICE restart,
    XEP-0176) -> a re-INVITE with them and its candidates, the answer's new
    credentials -> a transport-info to the user; one with the same
    credentials stays a trickle INFO; a content-modify naming no content
    of the session -> bad-request, nothing to SIP."""
    async def go():
        peer = await SipPeer.start(UAS_PORT)
        alice = await jlogin("alice@localhost/phone", "alicepass")
        sid, party, d, gwtag = await answered("x2s", alice, peer, gateway)

        r = await alice.send_jingle(
            party, "content-modify", sid,
            "<content xmlns='urn:xmpp:jingle:1' creator='initiator' "
            "name='audio' senders='initiator'/>")
        assert r["type"] == "result"
        inv = await peer.next_request("INVITE")
        assert hdr(inv, "Call-ID") == d["callid"]
        assert tag_of(hdr(inv, "To")) == peer.tag
        n = cseq(inv)[0]
        assert "a=sendonly" in m_section(body(inv), "audio"), body(inv)
        peer.reply(inv, 200, "OK", sdp=PHONE_SDP.replace("sendrecv", "recvonly"))
        await peer.next_request("ACK")

        r = await alice.send_jingle(
            party, "content-modify", sid,
            "<content xmlns='urn:xmpp:jingle:1' creator='initiator' "
            "name='nosuch' senders='both'/>")
        assert r["type"] == "error"
        assert r["error"]["condition"] == "bad-request"

        restart = (
            "<content xmlns='urn:xmpp:jingle:1' creator='initiator' name='audio'>"
            "<transport xmlns='%s' ufrag='R3st' pwd='NewPasswordNewPassword12'>"
            "<candidate foundation='9' component='1' protocol='udp' "
            "priority='2122260223' ip='127.0.0.1' port='47000' type='host' "
            "generation='0' id='r1'/></transport></content>" % NS_ICE)
        r = await alice.send_jingle(party, "transport-info", sid, restart)
        assert r["type"] == "result"
        inv = await peer.next_request("INVITE")
        assert cseq(inv)[0] == n + 1
        audio = m_section(body(inv), "audio")
        assert "a=ice-ufrag:R3st" in audio and "a=ice-pwd:NewPasswordNewPassword12" in audio
        assert any(l.startswith("a=candidate:9 1 udp 2122260223 127.0.0.1 47000 typ host")
                   for l in audio), audio
        assert "a=sendonly" in audio  # what content-modify set stays
        answer = (PHONE_SDP.replace("sendrecv", "recvonly") +
                  "a=ice-ufrag:PhN2\r\na=ice-pwd:PhonePasswordPhonePass22\r\n"
                  "a=candidate:1 1 UDP 2130706431 127.0.0.1 30000 typ host\r\n")
        peer.reply(inv, 200, "OK", sdp=answer)
        await peer.next_request("ACK")
        _, j = await alice.next_jingle(action="transport-info")
        t = j.find(".//{%s}transport" % NS_ICE)
        assert t is not None and t.get("ufrag") == "PhN2", j
        assert t.find("{%s}candidate" % NS_ICE).get("port") == "30000"

        # the same credentials again: trickle, an INFO (RFC 8840)
        r = await alice.send_jingle(party, "transport-info", sid,
                                    restart.replace("47000", "47002"))
        assert r["type"] == "result"
        info = await peer.next_request("INFO")
        assert "47002" in body(info)
        peer.reply(info, 200, "OK")
        assert sessions(gateway)[0]["state"] == "active"
        await alice.send_jingle(party, "session-terminate", sid,
                                "<reason><success/></reason>")
        bye = await peer.next_request("BYE")
        peer.reply(bye, 200, "OK")
        await logout(alice)
        peer.close()
    run(go())


# ---- 3. decline with a chosen code ----------------------------------------

@pytest.mark.parametrize("code,phrase", [
    (486, "Busy Here"), (603, "Decline"), (480, "Temporarily Unavailable")])
def test_decline_with_a_chosen_code(gateway, code, phrase):
    async def go():
        peer = await SipPeer.start(UAS_PORT)
        alice = await jlogin("alice@localhost/phone", "alicepass")
        alice.online_to_gateway()
        await online(gateway, "alice@localhost/phone")
        d, j, _ = await call_in(alice, peer, answer=False)
        r = await alice.send_jingle(
            CAROL, "session-terminate", j.get("sid"),
            "<reason><decline/><sip-error code='%d'/></reason>" % code)
        assert r["type"] == "result"
        got, resp = await peer.next_response("INVITE", final=True)
        assert resp.split("\r\n", 1)[0] == "SIP/2.0 %d %s" % (code, phrase)
        peer.ack(d, tag_of(hdr(resp, "To")), branch=d["branch"])
        await until(lambda: sessions(gateway) == [], 5, "session removed")
        await logout(alice)
        peer.close()
    run(go())


# ---- 4. early media --------------------------------------------------------

def test_early_media_183_then_200_without_sdp(gateway):
    """183 with SDP: session-accept with it (media flows); the 200 without
    SDP is only ACKed, in the 183's dialog; BYE works."""
    async def go():
        peer = await SipPeer.start(UAS_PORT)
        alice = await jlogin("alice@localhost/phone", "alicepass")
        sid = "em" + uuid.uuid4().hex[:10]
        r = await alice.send_jingle(BOB, "session-initiate", sid, CONTENTS)
        assert r["type"] == "result"
        inv = await peer.next_request("INVITE")
        peer.reply(inv, 183, "Session Progress", sdp=PHONE_SDP)
        _, j = await alice.next_jingle(action="session-accept")
        assert j.get("sid") == sid
        cand = j.find(q("content")).find("{%s}transport/{%s}candidate" % (NS_ICE, NS_ICE))
        assert cand.get("port") == "30000"
        assert sessions(gateway)[0]["state"] == "ringing"
        peer.reply(inv, 200, "OK")  # no SDP
        ack = await peer.next_request("ACK")
        assert cseq(ack) == (1, "ACK") and tag_of(hdr(ack, "To")) == peer.tag
        assert ack.startswith("ACK sip:peer@127.0.0.1:%d" % UAS_PORT)
        await no_jingle(alice, "session-accept")
        await until(lambda: sessions(gateway)[0]["state"] == "active", 5, "active")
        r = await alice.send_jingle(BOB, "session-terminate", sid,
                                    "<reason><success/></reason>")
        assert r["type"] == "result"
        bye = await peer.next_request("BYE")
        assert cseq(bye) == (2, "BYE") and tag_of(hdr(bye, "To")) == peer.tag
        assert hdr(bye, "Call-ID") == hdr(inv, "Call-ID")
        peer.reply(bye, 200, "OK")
        await until(lambda: sessions(gateway) == [], 5, "session removed")
        await logout(alice)
        peer.close()
    run(go())


# ---- 5. blind transfer (REFER) ---------------------------------------------

async def refer(peer, d, gwtag, target="<%s>" % TARGET):
    """The SIP party transfers: 202, NOTIFY 100 (answered); returns the
    INVITE the gateway sends to the target."""
    n = dlg_req(peer, d, "REFER", gwtag,
                extra="Refer-To: %s\r\nReferred-By: <%s>\r\n" % (target, d["from"]))
    code, resp = await peer.next_response("REFER")
    assert code == 202 and cseq(resp) == (n, "REFER")
    got = await requests(peer, ["NOTIFY", "INVITE"])
    nt = got["NOTIFY"]
    assert hdr(nt, "Call-ID") == d["callid"]
    assert hdr(nt, "Event") == "refer;id=%d" % n
    assert hdr(nt, "Subscription-State") == "active;expires=60"
    assert hdr(nt, "Content-Type") == "message/sipfrag;version=2.0"
    assert body(nt) == "SIP/2.0 100 Trying\r\n"
    peer.reply(nt, 200, "OK")
    inv = got["INVITE"]
    assert inv.startswith("INVITE %s SIP/2.0" % TARGET)
    assert hdr(inv, "Referred-By") == "<%s>" % d["from"]  # RFC 3892
    assert hdr(inv, "Call-ID") != d["callid"]
    assert uri_in(hdr(inv, "From")) == d["to"]  # the same local URI
    assert tag_of(hdr(inv, "From")) not in (None, gwtag)
    assert hdr(inv, "To") == "<%s>" % TARGET and cseq(inv) == (1, "INVITE")
    sdp = body(inv)
    assert "m=audio" in sdp and "a=sendonly" not in sdp and "a=recvonly" not in sdp
    return inv


async def transferred(peer, alice, inv, old=None):
    """The target answers; the old dialog (if still there: dict old) gets
    NOTIFY 200 and BYE; the user a transport-info with the target's media.
    Returns the target's dialog as the peer sends in it, and its tag."""
    peer.reply(inv, 180, "Ringing", totag="carol1")
    peer.reply(inv, 200, "OK", sdp=TARGET_SDP, totag="carol1")
    # (the INVITE may have been retransmitted before our answer)
    got = await requests(peer, ["ACK", "NOTIFY", "BYE"] if old else ["ACK"],
                         skip=("INVITE",))
    ack = got["ACK"]
    assert hdr(ack, "Call-ID") == hdr(inv, "Call-ID") and cseq(ack) == (1, "ACK")
    assert tag_of(hdr(ack, "To")) == "carol1"
    if old:
        nt, bye = got["NOTIFY"], got["BYE"]
        assert hdr(nt, "Call-ID") == old["callid"] == hdr(bye, "Call-ID")
        assert hdr(nt, "Subscription-State").startswith("terminated")
        assert body(nt) == "SIP/2.0 200 OK\r\n"
        peer.reply(nt, 200, "OK")
        peer.reply(bye, 200, "OK")
    _, j = await alice.next_jingle(action="transport-info")
    cands = j.findall(".//{%s}candidate" % NS_ICE)
    assert "32000" in [c.get("port") for c in cands]  # (and RTCP: 32001)
    dc = {"callid": hdr(inv, "Call-ID"), "ftag": "carol1", "from": TARGET,
          "to": uri_in(hdr(inv, "From")), "ruri": hdr(inv, "Contact").strip("<>"),
          "target": hdr(inv, "Contact").strip("<>"), "cseq": 1}
    return dc, tag_of(hdr(inv, "From")), j


@pytest.mark.parametrize("direction", ["x2s", "s2x"])
def test_blind_transfer(gateway, direction):
    """REFER: 202, NOTIFY 100, INVITE to the target with the XMPP party's
    media; its 200: ACK, NOTIFY 200, BYE of the old dialog; the user's
    session (same sid) goes on with the target, whose BYE ends it."""
    async def go():
        peer = await SipPeer.start(UAS_PORT)
        alice = await jlogin("alice@localhost/phone", "alicepass")
        sid, party, d, gwtag = await answered(direction, alice, peer, gateway)
        inv = await refer(peer, d, gwtag)
        dc, ctag, j = await transferred(peer, alice, inv, old=d)
        assert j.get("sid") == sid
        s = sessions(gateway)
        assert len(s) == 1 and s[0]["state"] == "active"
        assert s[0]["call_id"] == dc["callid"] and s[0]["sid"] == sid
        # the old dialog is gone: its requests get 481
        dlg_req(peer, d, "INFO", gwtag, b="Signal=1\r\nDuration=100\r\n",
                ctype="application/dtmf-relay")
        code, _ = await peer.next_response("INFO")
        assert code == 481
        # in-call features work in the new dialog
        r = await alice.send_jingle(party, "session-info", sid,
                                    "<dtmf xmlns='urn:xmpp:jingle:dtmf:0' code='9'/>")
        assert r["type"] == "result"
        info = await peer.next_request("INFO")
        assert hdr(info, "Call-ID") == dc["callid"] and cseq(info) == (2, "INFO")
        assert tag_of(hdr(info, "To")) == "carol1"
        peer.reply(info, 200, "OK")
        # the target hangs up
        dlg_req(peer, dc, "BYE", ctag)
        code, _ = await peer.next_response("BYE")
        assert code == 200
        _, t = await alice.next_jingle(action="session-terminate")
        assert t.get("sid") == sid and reason_of(t)[0] == "success"
        await until(lambda: sessions(gateway) == [], 5, "session removed")
        await logout(alice)
        peer.close()
    run(go())


def test_after_a_transfer_our_491_wait_is_the_call_id_owners(gateway):
    """RFC 3261 14.1: a call from SIP, transferred: the call is now in the
    dialog of the gateway's INVITE to the target, whose Call-ID the
    gateway chose; alice's hold there meets 491: the retry waits 2.1-4 s
    (the Call-ID owner's wait), not the 0-2 s of the call's first
    dialog."""
    import json
    import re

    async def go():
        peer = await SipPeer.start(UAS_PORT)
        alice = await jlogin("alice@localhost/phone", "alicepass")
        sid, party, d, gwtag = await answered("s2x", alice, peer, gateway)
        inv = await refer(peer, d, gwtag)
        dc, ctag, _ = await transferred(peer, alice, inv, old=d)
        r = await alice.send_jingle(
            party, "session-info", sid,
            "<hold xmlns='urn:xmpp:jingle:apps:rtp:info:1'/>")
        assert r["type"] == "result"
        held = await peer.next_request("INVITE")
        assert hdr(held, "Call-ID") == dc["callid"]
        peer.reply(held, 491, "Request Pending", totag="carol1")
        await peer.next_request("ACK")
        sess = sessions(gateway)
        hist = await until(lambda: (lambda h: h if "again in" in h else None)(
            json.loads(gateway.ctl("show", str(sess[0]["id"]),
                                   "--json").stdout)["history"]),
            5, "the 491 seen")
        again = await peer.next_request("INVITE", timeout=8)
        peer.reply(again, 200, "OK", sdp=TARGET_SDP, totag="carol1")
        await peer.next_request("ACK")
        await alice.send_jingle(party, "session-terminate", sid,
                                "<reason><success/></reason>")
        bye = await peer.next_request("BYE")
        peer.reply(bye, 200, "OK")
        await until(lambda: sessions(gateway) == [], 5, "session removed")
        await logout(alice)
        peer.close()
        return hist, held, again

    hist, held, again = run(go())
    wait = int(re.search(r"again in (\d+) ms", hist).group(1))
    assert 2100 <= wait <= 4000, hist
    assert body(again) == body(held)


def test_transfer_refer_sub_false_no_notify(gateway):
    """RFC 4488: a REFER with Refer-Sub: false is answered 202 with
    Refer-Sub: false and gets no NOTIFY; without a Referred-By the INVITE
    to the target names the transferor (RFC 3892)."""
    async def go():
        peer = await SipPeer.start(UAS_PORT)
        alice = await jlogin("alice@localhost/phone", "alicepass")
        sid, party, d, gwtag = await answered("x2s", alice, peer, gateway)
        n = dlg_req(peer, d, "REFER", gwtag,
                    extra="Refer-To: <%s>\r\nRefer-Sub: false\r\n" % TARGET)
        code, resp = await peer.next_response("REFER")
        assert code == 202 and cseq(resp) == (n, "REFER")
        assert hdr(resp, "Refer-Sub") == "false"
        got = await requests(peer, ["INVITE"])
        inv = got["INVITE"]
        assert uri_in(hdr(inv, "Referred-By")) == d["from"]
        peer.reply(inv, 180, "Ringing", totag="carol1")
        peer.reply(inv, 200, "OK", sdp=TARGET_SDP, totag="carol1")
        # ACK and the old dialog's BYE; no NOTIFY at all
        got = await requests(peer, ["ACK", "BYE"], skip=("INVITE",))
        peer.reply(got["BYE"], 200, "OK")
        await alice.next_jingle(action="transport-info")
        assert peer.requests.empty()
        await alice.send_jingle(party, "session-terminate", sid,
                                "<reason><success/></reason>")
        bye = await peer.next_request("BYE")
        assert hdr(bye, "Call-ID") == hdr(inv, "Call-ID")
        peer.reply(bye, 200, "OK")
        await logout(alice)
        peer.close()
    run(go())


def test_transfer_target_busy_old_call_goes_on(gateway):
    async def go():
        peer = await SipPeer.start(UAS_PORT)
        alice = await jlogin("alice@localhost/phone", "alicepass")
        sid, party, d, gwtag = await answered("x2s", alice, peer, gateway)
        inv = await refer(peer, d, gwtag)
        peer.reply(inv, 486, "Busy Here", totag="carol1")
        got = await requests(peer, ["ACK", "NOTIFY"])  # ACK: the sip-front's
        nt = got["NOTIFY"]
        assert hdr(nt, "Call-ID") == d["callid"]
        assert hdr(nt, "Subscription-State") == "terminated;reason=noresource"
        assert body(nt) == "SIP/2.0 486 Busy Here\r\n"
        peer.reply(nt, 200, "OK")
        await no_jingle(alice, None)
        assert sessions(gateway)[0]["call_id"] == d["callid"]
        # the old call goes on, and ends as it would have
        r = await alice.send_jingle(party, "session-terminate", sid,
                                    "<reason><success/></reason>")
        assert r["type"] == "result"
        bye = await peer.next_request("BYE")
        assert hdr(bye, "Call-ID") == d["callid"]
        peer.reply(bye, 200, "OK")
        await until(lambda: sessions(gateway) == [], 5, "session removed")
        await logout(alice)
        peer.close()
    run(go())


def test_transfer_transferor_hangs_up_at_once(gateway):
    """RFC 5589 6.1: the transferor BYEs right after the 202; the transfer
    goes on and the user ends up with the target (no NOTIFY or BYE to a
    dialog that is over)."""
    async def go():
        peer = await SipPeer.start(UAS_PORT)
        alice = await jlogin("alice@localhost/phone", "alicepass")
        sid, party, d, gwtag = await answered("s2x", alice, peer, gateway)
        inv = await refer(peer, d, gwtag)
        dlg_req(peer, d, "BYE", gwtag)
        code, _ = await peer.next_response("BYE")
        assert code == 200
        await no_jingle(alice, "session-terminate")
        dc, ctag, j = await transferred(peer, alice, inv)
        with pytest.raises(asyncio.TimeoutError):  # no NOTIFY, no BYE
            await requests(peer, ["NOTIFY"], timeout=1, skip=("INVITE",))
        r = await alice.send_jingle(party, "session-terminate", sid,
                                    "<reason><success/></reason>")
        assert r["type"] == "result"
        bye = await peer.next_request("BYE")
        assert hdr(bye, "Call-ID") == dc["callid"]
        assert tag_of(hdr(bye, "To")) == "carol1" and tag_of(hdr(bye, "From")) == ctag
        peer.reply(bye, 200, "OK")
        await until(lambda: sessions(gateway) == [], 5, "session removed")
        await logout(alice)
        peer.close()
    run(go())


def test_transfer_refused(gateway):
    """A target the gateway does not call (F9), another scheme, an attended
    transfer (Replaces): refused, the call goes on."""
    async def go():
        peer = await SipPeer.start(UAS_PORT)
        alice = await jlogin("alice@localhost/phone", "alicepass")
        sid, party, d, gwtag = await answered("x2s", alice, peer, gateway)
        for target, want in (("<sip:carol@192.0.2.1:5060>", 403),
                             ("<tel:+15551234>", 416),
                             ("<%s?Replaces=a%%3Bto-tag%%3Db%%3Bfrom-tag%%3Dc>"
                              % TARGET, 501)):
            dlg_req(peer, d, "REFER", gwtag, extra="Refer-To: %s\r\n" % target)
            code, _ = await peer.next_response("REFER")
            assert code == want, target
        with pytest.raises(asyncio.TimeoutError):
            await peer.next_request(timeout=1)
        assert sessions(gateway)[0]["state"] == "active"
        await logout(alice)
        peer.close()
    run(go())


@pytest.mark.parametrize("worker", ["translator", "sip-front"])
def test_kill_during_transfer(gateway, worker):
    """§7: kill -9 between the REFER's 202 and the target's 200: the
    transfer completes (the new dialog and its key were stored with the
    202)."""
    async def go():
        peer = await SipPeer.start(UAS_PORT)
        alice = await jlogin("alice@localhost/phone", "alicepass")
        sid, party, d, gwtag = await answered("x2s", alice, peer, gateway)
        inv = await refer(peer, d, gwtag)
        s = await crash(gateway, worker)
        assert s["state"] == "active" and s["call_id"] == d["callid"]
        if worker == "sip-front":
            # the translator re-sends the INVITE: the same request
            again = await peer.next_request("INVITE", timeout=15)
            assert hdr(again, "Via") == hdr(inv, "Via")
            assert hdr(again, "Call-ID") == hdr(inv, "Call-ID")
        dc, ctag, j = await transferred(peer, alice, inv, old=d)
        assert j.get("sid") == sid
        await until(lambda: sessions(gateway)[0]["call_id"] == dc["callid"],
                    5, "the new dialog")
        r = await alice.send_jingle(party, "session-terminate", sid,
                                    "<reason><success/></reason>")
        assert r["type"] == "result"
        bye = await peer.next_request("BYE", timeout=15)
        assert hdr(bye, "Call-ID") == dc["callid"] and cseq(bye) == (2, "BYE")
        assert tag_of(hdr(bye, "To")) == "carol1"
        peer.reply(bye, 200, "OK")
        await until(lambda: sessions(gateway) == [], 5, "session removed")
        await logout(alice)
        peer.close()
    run(go())


# ---- 6. SDES-SRTP <-> <encryption/> (XEP-0167 7) -----------------------------

KEY80 = "inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz|2^20|1:32"
KEY32 = "inline:NzB4d1BINUAvLEw6UzF3WSJ+PSdFcGdUJShpX1Zj"


def srtp_offer(required):
    return """
<content xmlns='urn:xmpp:jingle:1' creator='initiator' name='audio' senders='both'>
 <description xmlns='urn:xmpp:jingle:apps:rtp:1' media='audio'>
  <payload-type id='0' name='PCMU' clockrate='8000'/>
  <encryption%s>
   <crypto tag='1' crypto-suite='AES_CM_128_HMAC_SHA1_80' key-params='%s'/>
   <crypto tag='2' crypto-suite='AES_CM_128_HMAC_SHA1_32' key-params='%s'
           session-params='UNENCRYPTED_SRTCP'/>
  </encryption>
 </description>
 <transport xmlns='urn:xmpp:jingle:transports:raw-udp:1'>
  <candidate id='r1' component='1' generation='0' ip='127.0.0.1' port='41000'/>
 </transport>
</content>""" % (" required='true'" if required else "", KEY80, KEY32)


SRTP_ANSWER = PHONE_SDP.replace("RTP/AVP", "RTP/SAVP") + \
    "a=crypto:1 AES_CM_128_HMAC_SHA1_80 %s\r\n" % KEY80


@pytest.mark.parametrize("required,proto", [(True, "RTP/SAVP"), (False, "RTP/AVP")])
def test_sdes_outgoing(gateway, required, proto):
    """<encryption> with its <crypto/>s -> a=crypto lines, on RTP/SAVP when
    required (else RTP/AVP: best effort); the answer's a=crypto -> the
    session-accept's <encryption required='1'>."""
    async def go():
        peer = await SipPeer.start(UAS_PORT)
        alice = await jlogin("alice@localhost/phone", "alicepass")
        sid = "sd" + uuid.uuid4().hex[:10]
        r = await alice.send_jingle(BOB, "session-initiate", sid, srtp_offer(required))
        assert r["type"] == "result"
        inv = await peer.next_request("INVITE")
        sdp = body(inv)
        assert "m=audio 41000 %s 0\r\n" % proto in sdp
        assert "a=crypto:1 AES_CM_128_HMAC_SHA1_80 %s\r\n" % KEY80 in sdp
        assert ("a=crypto:2 AES_CM_128_HMAC_SHA1_32 %s UNENCRYPTED_SRTCP\r\n"
                % KEY32) in sdp
        peer.reply(inv, 200, "OK", sdp=SRTP_ANSWER)
        _, j = await alice.next_jingle(action="session-accept")
        enc = j.find(".//{urn:xmpp:jingle:apps:rtp:1}encryption")
        assert enc is not None and enc.get("required") == "1"
        cr = enc.findall("{urn:xmpp:jingle:apps:rtp:1}crypto")
        assert [(c.get("tag"), c.get("crypto-suite"), c.get("key-params"))
                for c in cr] == [("1", "AES_CM_128_HMAC_SHA1_80", KEY80)]
        await peer.next_request("ACK")
        await alice.send_jingle(BOB, "session-terminate", sid,
                                "<reason><success/></reason>")
        bye = await peer.next_request("BYE")
        peer.reply(bye, 200, "OK")
        await logout(alice)
        peer.close()
    run(go())


def test_sdes_incoming(gateway):
    """An INVITE with RTP/SAVP and a=crypto -> session-initiate with
    <encryption required='1'>; the user's answer with its <crypto/> -> the
    200's a=crypto on the offer's profile."""
    async def go():
        peer = await SipPeer.start(UAS_PORT)
        alice = await jlogin("alice@localhost/phone", "alicepass")
        alice.online_to_gateway()
        await online(gateway, "alice@localhost/phone")
        d = peer.invite("sip:alice@localhost", "sip:carol@127.0.0.1:%d" % UAS_PORT,
                        "sip:alice@localhost", sdp=SRTP_ANSWER)
        iq, j = await alice.next_jingle(action="session-initiate")
        enc = j.find(".//{urn:xmpp:jingle:apps:rtp:1}encryption")
        assert enc is not None and enc.get("required") == "1"
        c = enc.find("{urn:xmpp:jingle:apps:rtp:1}crypto")
        assert (c.get("tag"), c.get("crypto-suite"), c.get("key-params")) == \
            ("1", "AES_CM_128_HMAC_SHA1_80", KEY80)
        name = j.find(q("content")).get("name")
        answer = ANSWER.replace("name='audio'", "name='%s'" % name).replace(
            "<payload-type id='0' name='PCMU' clockrate='8000'/>",
            "<payload-type id='0' name='PCMU' clockrate='8000'/>"
            "<encryption required='1'><crypto tag='1' "
            "crypto-suite='AES_CM_128_HMAC_SHA1_80' key-params='%s'/>"
            "</encryption>" % KEY32)
        r = await alice.send_jingle(iq["from"], "session-accept", j.get("sid"), answer)
        assert r["type"] == "result"
        code, ok = await peer.next_response("INVITE", final=True)
        assert code == 200
        sdp = body(ok)
        assert " RTP/SAVP 0" in sdp
        assert "a=crypto:1 AES_CM_128_HMAC_SHA1_80 %s\r\n" % KEY32 in sdp
        totag = tag_of(hdr(ok, "To"))
        peer.ack(d, totag)
        d["target"] = hdr(ok, "Contact").strip("<>")
        peer.in_dialog(d, "BYE", totag)
        await peer.next_response("BYE")
        await until(lambda: sessions(gateway) == [], 5, "session removed")
        await logout(alice)
        peer.close()
    run(go())
