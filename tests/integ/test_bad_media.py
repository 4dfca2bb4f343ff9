"""Media the gateway cannot carry, either way (issue 9: hardening).

An INVITE whose SDP has no media the gateway can carry, or values XML
cannot carry, gets 488 at once and rings nobody; a session-initiate with
malformed Jingle (or values that would add SDP lines, audit F13) gets
<bad-request/> and sends no INVITE. Each refusal is followed by a good call
whose signalling must be the next the other side sees: nothing was sent for
the bad one (the translator handles its input in order). The SDP the
gateway builds carries sip.sdp_origin, not sip.local_host.
"""
import asyncio
import uuid

from conftest import UAS_PORT, run
from jingle import (CONTENTS, GW, PHONE_SDP, SipPeer, body, error_condition,
                    hdr, jlogin, reason_of)
from test_call import (HOLD_SDP, TRICKLE_OFFER, call_out, callee_dialog,
                       online, sessions, until)
from xmpp_user import logout

BOB = "bob@" + GW
CAROL = "sip:carol@127.0.0.1:%d" % UAS_PORT
ALICE = "sip:alice@localhost"
NS_ICE = "urn:xmpp:jingle:transports:ice-udp:1"

HEAD = b"v=0\r\no=phone 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
AUDIO = (b"m=audio 30000 RTP/AVP 0 96\r\nc=IN IP4 127.0.0.1\r\n"
         b"a=rtpmap:96 opus/48000/2\r\n")

# issue point 2a: nothing the gateway can carry
NO_MEDIA = {
    "no m-line": HEAD + b"c=IN IP4 127.0.0.1\r\n",
    "only m=application": HEAD + b"c=IN IP4 127.0.0.1\r\n"
    b"m=application 5000 UDP/DTLS/SCTP webrtc-datachannel\r\n",
    "every stream refused": HEAD + b"c=IN IP4 127.0.0.1\r\n"
    b"m=audio 0 RTP/AVP 0\r\nm=video 0 RTP/AVP 96\r\n"
    b"a=rtpmap:96 VP8/90000\r\n",
    "only T.38": HEAD + b"c=IN IP4 127.0.0.1\r\nm=image 5000 udptl t38\r\n",
}

# issue point 2b: values the Jingle would carry that XML cannot
NOT_XML = {
    "codec name not UTF-8": AUDIO.replace(b"opus", b"op\xffus"),
    "control byte in codec name": AUDIO.replace(b"opus", b"op\x01us"),
    "fmtp value not UTF-8": AUDIO + b"a=fmtp:96 useinbandfec=\xc3\x28\r\n",
    "escape in ice-ufrag": AUDIO + b"a=ice-ufrag:ab\x1b[2Jcd\r\n"
    b"a=ice-pwd:aaaaaaaaaaaaaaaaaaaaaaaa\r\n",
    "CR inside ice-pwd": AUDIO + b"a=ice-ufrag:abcd\r\n"
    b"a=ice-pwd:aaaaaaaaaaaa\raaaaaaaaaaaa\r\n",
    "NUL in a candidate": AUDIO + b"a=ice-ufrag:abcd\r\n"
    b"a=ice-pwd:aaaaaaaaaaaaaaaaaaaaaaaa\r\n"
    b"a=candidate:1 1 udp 2130706431 127.0.0.1 30000 typ ho\x00st\r\n",
    "fingerprint not UTF-8": AUDIO + b"a=fingerprint:sha-256 AA:\xc0\xafBB\r\n",
    "ssrc cname not UTF-8": AUDIO + b"a=ssrc:1 cname:\xed\xa0\x80\r\n",
}


def invite_bytes(peer, sdp, port=None):
    """An INVITE from carol to alice with an SDP of raw bytes; its dialog."""
    d = {"callid": uuid.uuid4().hex, "ftag": uuid.uuid4().hex[:8],
         "branch": "z9hG4bK" + uuid.uuid4().hex[:12]}
    head = ("INVITE %s SIP/2.0\r\n"
            "Via: SIP/2.0/UDP 127.0.0.1:%d;branch=%s;rport\r\n"
            "Max-Forwards: 70\r\nFrom: <%s>;tag=%s\r\nTo: <%s>\r\n"
            "Call-ID: %s\r\nCSeq: 1 INVITE\r\n"
            "Contact: <sip:peer@127.0.0.1:%d>\r\n"
            "Content-Type: application/sdp\r\nContent-Length: %d\r\n\r\n"
            % (ALICE, UAS_PORT, d["branch"], CAROL, d["ftag"], ALICE,
               d["callid"], UAS_PORT, len(sdp)))
    peer.send(head.encode() + sdp)
    return d


async def response_of(peer, d, timeout=5):
    """The next response to dialog d's INVITE (others are skipped)."""
    loop = asyncio.get_event_loop()
    end = loop.time() + timeout
    while True:
        code, msg = await peer.next_response("INVITE", timeout=max(0.01, end - loop.time()))
        if hdr(msg, "Call-ID") == d["callid"]:
            return code, msg


def ack_failure(peer, d, resp):
    """The hop-by-hop ACK of a non-2xx final response (RFC 3261 17.1.1.3)."""
    peer.send(("ACK %s SIP/2.0\r\n"
               "Via: SIP/2.0/UDP 127.0.0.1:%d;branch=%s;rport\r\n"
               "Max-Forwards: 70\r\nFrom: <%s>;tag=%s\r\nTo: %s\r\n"
               "Call-ID: %s\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n"
               % (ALICE, UAS_PORT, d["branch"], CAROL, d["ftag"],
                  hdr(resp, "To"), d["callid"])).encode())


async def refused_at_once(peer, d, case):
    """The first response to the INVITE is its 488 (no 100, no ringing)."""
    code, resp = await response_of(peer, d)
    status = resp.split("\r\n", 1)[0]
    assert code == 488, "%s: %s" % (case, status)
    ack_failure(peer, d, resp)
    return status


async def good_call_rings_first(gw, alice, peer):
    """A good INVITE: the first Jingle alice sees since is its
    session-initiate (so no refused INVITE rang her). Cancelled after."""
    sdp = PHONE_SDP.replace("30000", "30222").encode()
    d = invite_bytes(peer, sdp)
    iq, j = await alice.next_jingle(timeout=10)
    assert j.get("action") == "session-initiate"
    cand = j.find(".//{%s}candidate" % NS_ICE)
    assert cand is not None and cand.get("port") == "30222"
    code, _ = await response_of(peer, d)
    assert code == 100
    code, _ = await response_of(peer, d)
    assert code == 180
    peer.send(("CANCEL %s SIP/2.0\r\n"
               "Via: SIP/2.0/UDP 127.0.0.1:%d;branch=%s;rport\r\n"
               "Max-Forwards: 70\r\nFrom: <%s>;tag=%s\r\nTo: <%s>\r\n"
               "Call-ID: %s\r\nCSeq: 1 CANCEL\r\nContent-Length: 0\r\n\r\n"
               % (ALICE, UAS_PORT, d["branch"], CAROL, d["ftag"], ALICE,
                  d["callid"])).encode())
    code, resp = await response_of(peer, d)
    assert code == 487
    ack_failure(peer, d, resp)
    _, t = await alice.next_jingle(action="session-terminate")
    assert t.get("sid") == j.get("sid")
    await until(lambda: sessions(gw) == [], 5, "sessions removed")


def test_invite_without_media_to_carry_gets_488_and_rings_nobody(gateway):
    async def go():
        peer = await SipPeer.start(UAS_PORT)
        alice = await jlogin("alice@localhost/phone", "alicepass")
        alice.online_to_gateway()
        await online(gateway, "alice@localhost/phone")
        for case, sdp in NO_MEDIA.items():
            d = invite_bytes(peer, sdp)
            status = await refused_at_once(peer, d, case)
            assert "no media the gateway can carry" in status, status
        assert alice.jingle.empty()
        assert sessions(gateway) == []
        await good_call_rings_first(gateway, alice, peer)
        await logout(alice)
        peer.close()
    run(go())


def test_invite_with_values_xml_cannot_carry_gets_488(gateway):
    async def go():
        peer = await SipPeer.start(UAS_PORT)
        alice = await jlogin("alice@localhost/phone", "alicepass")
        alice.online_to_gateway()
        await online(gateway, "alice@localhost/phone")
        for case, media in NOT_XML.items():
            d = invite_bytes(peer, HEAD + media)
            status = await refused_at_once(peer, d, case)
            why = "NUL byte in SDP" if b"\x00" in media else "SDP m-line 1:"
            assert why in status, "%s: %s" % (case, status)
        assert alice.jingle.empty()
        assert sessions(gateway) == []
        # the XMPP stream is intact: the next call rings alice
        await good_call_rings_first(gateway, alice, peer)
        assert gateway.status()["translator"]["restarts"] == 0
        assert gateway.status()["xmpp-front"]["restarts"] == 0
        await logout(alice)
        peer.close()
    run(go())


def test_answer_without_media_ends_the_call(gateway):
    """A 200 whose SDP refuses every stream: ACK and BYE (Reason 488) to the
    callee, session-terminate <failed-application/> to the caller, never a
    session-accept without content."""
    async def go():
        peer = await SipPeer.start(UAS_PORT)
        alice = await jlogin("alice@localhost/phone", "alicepass")
        sid = "a" + uuid.uuid4().hex[:12]
        r = await alice.send_jingle(BOB, "session-initiate", sid, CONTENTS)
        assert r["type"] == "result"
        inv = await peer.next_request("INVITE")
        peer.reply(inv, 200, "OK", sdp=(HEAD + b"c=IN IP4 127.0.0.1\r\n"
                                         b"m=audio 0 RTP/AVP 0\r\n"
                                         b"m=video 0 RTP/AVP 96\r\n").decode())
        await peer.next_request("ACK")
        bye = await peer.next_request("BYE")
        assert "cause=488" in (hdr(bye, "Reason") or ""), hdr(bye, "Reason")
        peer.reply(bye, 200, "OK")
        _, j = await alice.next_jingle(timeout=10)
        assert j.get("action") == "session-terminate" and j.get("sid") == sid
        assert reason_of(j)[0] == "failed-application"
        await until(lambda: sessions(gateway) == [], 5, "session removed")
        await logout(alice)
        peer.close()
    run(go())


def test_reinvite_with_values_xml_cannot_carry_gets_488(gateway):
    """A re-INVITE whose offer has a control byte in a value the Jingle
    would carry: 488, the call goes on, the caller hears nothing of it."""
    async def go():
        peer = await SipPeer.start(UAS_PORT)
        alice = await jlogin("alice@localhost/phone", "alicepass")
        sid = "ri" + uuid.uuid4().hex[:10]
        inv = await call_out(alice, peer, sid)
        d, gwtag = callee_dialog(peer, inv)
        bad = PHONE_SDP + "a=ice-ufrag:ab\x01cd\r\na=ice-pwd:aaaaaaaaaaaaaaaaaaaaaaaa\r\n"
        peer.in_dialog(d, "INVITE", gwtag, bad, "application/sdp")
        code, resp = await peer.next_response("INVITE", final=True)
        assert code == 488 and "SDP m-line 1: ice-ufrag:" in resp.split("\r\n", 1)[0]
        peer.ack(d, gwtag, n=d["cseq"])
        peer.in_dialog(d, "INVITE", gwtag, HOLD_SDP, "application/sdp")
        code, _ = await peer.next_response("INVITE", final=True)
        assert code == 200
        peer.ack(d, gwtag, n=d["cseq"])
        _, j = await alice.next_jingle(timeout=10)
        assert j.get("action") == "session-info"
        assert j.find("{urn:xmpp:jingle:apps:rtp:info:1}hold") is not None
        r = await alice.send_jingle(BOB, "session-terminate", sid,
                                    "<reason><success/></reason>")
        assert r["type"] == "result"
        bye = await peer.next_request("BYE")
        peer.reply(bye, 200, "OK")
        await until(lambda: sessions(gateway) == [], 5, "session removed")
        await logout(alice)
        peer.close()
    run(go())


C = "<content xmlns='urn:xmpp:jingle:1' creator='initiator' name='audio'"
RTP = ("<description xmlns='urn:xmpp:jingle:apps:rtp:1' media='audio'>"
       "<payload-type id='0' name='PCMU' clockrate='8000'/></description>")
ICE = ("<transport xmlns='urn:xmpp:jingle:transports:ice-udp:1' "
       "ufrag='%s' pwd='%s'>%s</transport>")
CAND = ("<candidate foundation='1' component='1' protocol='%s' "
        "priority='2130706431' ip='%s' port='%s' type='%s' generation='0' "
        "id='c1'/>")


def content(ufrag="abcd", pwd="aaaaaaaaaaaaaaaaaaaaaaaa", proto="udp",
            ip="127.0.0.1", port="40000", typ="host", head=C, desc=RTP):
    return "%s>%s%s</content>" % (head, desc, ICE % (
        ufrag, pwd, CAND % (proto, ip, port, typ)))


# issue points 2 (F13) and 2c
BAD_JINGLE = {
    "ufrag with CR LF (F13)": content(ufrag="ab&#13;&#10;a=injected:line"),
    "ip with CR LF (F13)": content(ip="127.0.0.1&#13;&#10;c=IN IP4 6.6.6.6"),
    "pwd with a tab": content(pwd="aaaaaaaaaaaa&#9;aaaaaaaaaaa"),
    "space in the content name": content(head=C.replace("'audio'", "'au dio'")),
    "content without description and transport": content() +
    "<content xmlns='urn:xmpp:jingle:1' creator='initiator' name='x'/>",
    "content without description": content() +
    "<content xmlns='urn:xmpp:jingle:1' creator='initiator' name='v'>" +
    ICE % ("abcd", "aaaaaaaaaaaaaaaaaaaaaaaa", "") + "</content>",
    "content without creator": content(head=C.replace("creator='initiator' ", "")),
    "content without name": content(head=C.replace("name='audio'", "")),
    "dynamic payload type without clockrate": content(desc=RTP.replace(
        "<payload-type id='0' name='PCMU' clockrate='8000'/>",
        "<payload-type id='111' name='opus'/>")),
    "port not a number": content(port="4000O"),
    "port out of range": content(port="70000"),
    "unknown candidate type": content(typ="local"),
    "unknown candidate protocol": content(proto="sctp"),
    "group names no content": content() +
    "<group xmlns='urn:xmpp:jingle:apps:grouping:0' semantics='BUNDLE'>"
    "<content name='audio'/><content name='video'/></group>",
}


def test_malformed_jingle_gets_bad_request_and_no_invite(gateway):
    async def go():
        peer = await SipPeer.start(UAS_PORT)
        alice = await jlogin("alice@localhost/phone", "alicepass")
        for case, body_xml in BAD_JINGLE.items():
            sid = "m" + uuid.uuid4().hex[:12]
            r = await alice.send_jingle(BOB, "session-initiate", sid, body_xml)
            assert error_condition(r) == ("modify", "bad-request"), case
            text = r.xml.find("{jabber:client}error/"
                              "{urn:ietf:params:xml:ns:xmpp-stanzas}text")
            assert text is not None and text.text, case
        assert peer.requests.empty()
        assert sessions(gateway) == []
        # the next INVITE the SIP side sees is the good call's
        sid = "g" + uuid.uuid4().hex[:12]
        r = await alice.send_jingle(BOB, "session-initiate", sid, CONTENTS)
        assert r["type"] == "result"
        inv = await peer.next_request()
        assert inv.startswith("INVITE ") and hdr(inv, "Call-ID") == sid
        assert "a=injected" not in inv and "6.6.6.6" not in inv
        peer.reply(inv, 486, "Busy Here")
        _, j = await alice.next_jingle(action="session-terminate")
        assert j.get("sid") == sid and reason_of(j)[0] == "decline"
        await peer.next_request("ACK")
        await until(lambda: sessions(gateway) == [], 5, "session removed")
        await logout(alice)
        peer.close()
    run(go())


TRICKLE = """
<content xmlns='urn:xmpp:jingle:1' creator='initiator' name='%s'>
 <transport xmlns='urn:xmpp:jingle:transports:ice-udp:1' ufrag='tR1c' pwd='tricklepwdtricklepwd1234'>
  <candidate foundation='1' component='1' protocol='udp' priority='2122260223' ip='%s' port='%d' type='host' generation='0' id='k%d'/>
 </transport></content>"""


def test_trickled_candidates_with_line_breaks_are_refused(gateway):
    """F13 through transport-info: while the INVITE waits for trickled
    candidates, and in the dialog (INFO): <bad-request/>, nothing of the
    value reaches SIP, the good candidates still do."""
    async def go():
        peer = await SipPeer.start(UAS_PORT)
        alice = await jlogin("alice@localhost/phone", "alicepass")
        sid = "tb" + uuid.uuid4().hex[:10]
        r = await alice.send_jingle(BOB, "session-initiate", sid, TRICKLE_OFFER)
        assert r["type"] == "result"
        bad_ip = "127.0.0.1&#13;&#10;c=IN IP4 6.6.6.6"
        r = await alice.send_jingle(BOB, "transport-info", sid,
                                    TRICKLE % ("0", bad_ip, 47100, 1))
        assert error_condition(r) == ("modify", "bad-request")
        r = await alice.send_jingle(BOB, "transport-info", sid,
                                    TRICKLE % ("0", "127.0.0.1", 47102, 2))
        assert r["type"] == "result"
        inv = await peer.next_request("INVITE")
        assert hdr(inv, "Call-ID") == sid
        sdp = body(inv)
        assert " 47102 typ host" in sdp
        assert "6.6.6.6" not in sdp and " 47100 " not in sdp
        peer.reply(inv, 486, "Busy Here")
        await alice.next_jingle(action="session-terminate")
        await peer.next_request("ACK")
        # in the dialog: a transport-info (the session's ICE credentials:
        # not a restart) becomes an INFO, a bad one nothing
        sid = "td" + uuid.uuid4().hex[:10]
        await call_out(alice, peer, sid)
        same = TRICKLE.replace("tR1c", "7Gpn").replace(
            "tricklepwdtricklepwd1234", "MUOzzatqL2qP7n1uRC7msD+c")
        r = await alice.send_jingle(BOB, "transport-info", sid,
                                    same % ("audio", bad_ip, 47104, 3))
        assert error_condition(r) == ("modify", "bad-request")
        r = await alice.send_jingle(BOB, "transport-info", sid,
                                    same % ("audio", "127.0.0.1", 47106, 4))
        assert r["type"] == "result"
        info = await peer.next_request()
        assert info.startswith("INFO ") and " 47106 typ host" in body(info)
        assert "6.6.6.6" not in info and " 47104 " not in info
        peer.reply(info, 200, "OK")
        r = await alice.send_jingle(BOB, "session-terminate", sid,
                                    "<reason><success/></reason>")
        bye = await peer.next_request("BYE")
        peer.reply(bye, 200, "OK")
        await until(lambda: sessions(gateway) == [], 5, "sessions removed")
        await logout(alice)
        peer.close()
    run(go())


# issue point 4 (SPEC §4 sip.sdp_origin): the o= line, and c= of a stream
# whose Jingle gives no address; local_host stays in Via and Contact
NO_TRANSPORT = ("<content xmlns='urn:xmpp:jingle:1' creator='initiator' "
                "name='audio' senders='both'>" + RTP + "</content>")


async def invite_sdp(alice, peer, contents):
    sid = "o" + uuid.uuid4().hex[:12]
    r = await alice.send_jingle(BOB, "session-initiate", sid, contents)
    assert r["type"] == "result"
    inv = await peer.next_request("INVITE")
    assert hdr(inv, "Call-ID") == sid
    peer.reply(inv, 486, "Busy Here")
    await alice.next_jingle(action="session-terminate")
    await peer.next_request("ACK")
    return inv, body(inv).split("\r\n")


def test_invite_sdp_carries_sdp_origin(gateway_factory):
    gw = gateway_factory(sip={"local_host": "127.0.0.1",
                              "sdp_origin": "192.0.2.10"})

    async def go():
        peer = await SipPeer.start(UAS_PORT)
        alice = await jlogin("alice@localhost/phone", "alicepass")
        inv, lines = await invite_sdp(alice, peer, NO_TRANSPORT)
        o = [x for x in lines if x.startswith("o=")]
        assert len(o) == 1 and o[0].endswith(" IN IP4 192.0.2.10"), o
        assert "c=IN IP4 192.0.2.10" in lines, lines
        assert "127.0.0.1:5600" in hdr(inv, "Contact")
        assert "SIP/2.0/UDP 127.0.0.1:5600" in hdr(inv, "Via")
        # a candidate's address is the c= address, o= stays sdp_origin
        inv, lines = await invite_sdp(alice, peer, CONTENTS)
        assert [x for x in lines if x.startswith("o=")][0].endswith(
            " IN IP4 192.0.2.10")
        assert "c=IN IP4 127.0.0.1" in lines and "c=IN IP4 192.0.2.10" not in lines
        await until(lambda: sessions(gw) == [], 5, "sessions removed")
        await logout(alice)
        peer.close()
    run(go())


def test_sdp_origin_defaults_to_local_host(gateway_factory):
    gw = gateway_factory(sip={"local_host": "127.0.0.1"})

    async def go():
        peer = await SipPeer.start(UAS_PORT)
        alice = await jlogin("alice@localhost/phone", "alicepass")
        _, lines = await invite_sdp(alice, peer, NO_TRANSPORT)
        assert [x for x in lines if x.startswith("o=")][0].endswith(" IN IP4 127.0.0.1")
        assert "c=IN IP4 127.0.0.1" in lines
        await until(lambda: sessions(gw) == [], 5, "sessions removed")
        await logout(alice)
        peer.close()
    run(go())
