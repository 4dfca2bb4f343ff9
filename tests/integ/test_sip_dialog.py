"""In-dialog requests from SIP peers as PBXs and phones send them (RFC 3261
12, RFC 3311, RFC 4028), and requests a proxy routed by rewriting the
Request-URI's host: with a real Prosody, a slixmpp user and a scripted SIP
user agent."""
import asyncio
import json
import time
import uuid

from conftest import GW_SIP, UAS_PORT, run
from jingle import SipPeer, body, hdr, jlogin, tag_of
from test_call import call_in, online, sessions, until
from xmpp_user import logout

GW_HOSTPORT = GW_SIP  # "127.0.0.1:5600"


def test_request_uri_naming_the_gateway_reaches_the_user_in_to(gateway):
    """Kamailio's rewritehostport or an Asterisk trunk send the INVITE to
    sip:alice@<the gateway's address>, the user's address left in To:
    alice's device rings (it was 404 Not Found)."""
    async def go():
        peer = await SipPeer.start(UAS_PORT)
        alice = await jlogin("alice@localhost/phone", "alicepass")
        alice.online_to_gateway()
        await online(gateway, "alice@localhost/phone")
        try:
            peer.invite("sip:alice@%s" % GW_HOSTPORT,
                        "sip:carol@127.0.0.1:%d" % UAS_PORT,
                        "sip:alice@localhost")
            iq, j = await alice.next_jingle(action="session-initiate")
            code, ring = await peer.next_response("INVITE")
            while code == 100:
                code, ring = await peer.next_response("INVITE")
            return code, iq
        finally:
            await logout(alice)
            peer.close()

    code, iq = run(go())
    assert code == 180
    assert str(iq["to"]) == "alice@localhost/phone"


def reinvite(peer, d, totag, sdp, contact_port):
    """A re-INVITE in d whose Contact is on contact_port (a target
    refresh when it is not the peer's own port)."""
    d["cseq"] += 1
    req = peer._req("INVITE", d, "z9hG4bK" + uuid.uuid4().hex[:12],
                    d["cseq"], totag, sdp, "application/sdp",
                    ruri=d.get("target"))
    req = req.replace("Contact: <sip:peer@127.0.0.1:%d>" % peer.port,
                      "Contact: <sip:peer@127.0.0.1:%d>" % contact_port)
    peer.send(req, d.get("dst", ("127.0.0.1", 5600)))
    return d["cseq"]


def test_session_and_target_refresh(gateway):
    """In an active call from SIP: an UPDATE without an offer (an RFC 4028
    session refresh) gets a 200 without SDP and the XMPP user hears
    nothing of it; a re-INVITE from a new Contact gets an SDP answer (and,
    as every re-INVITE without a=jingle-action, a transport-info: SPEC
    6.1); alice's hang-up then goes to the new Contact."""
    async def go():
        peer = await SipPeer.start(UAS_PORT)
        moved = await SipPeer.start(UAS_PORT + 3)
        alice = await jlogin("alice@localhost/phone", "alicepass")
        alice.online_to_gateway()
        await online(gateway, "alice@localhost/phone")
        try:
            d, j, ok = await call_in(alice, peer)
            sid = j.get("sid")
            totag = tag_of(hdr(ok, "To"))
            peer.ack(d, totag)
            await until(lambda: [x for x in sessions(gateway)
                                 if x["state"] == "active"], 5, "active")
            d["target"] = hdr(ok, "Contact").strip("<>")
            peer.in_dialog(d, "UPDATE", totag)
            code, upd = await peer.next_response("UPDATE", final=True)
            n = reinvite(peer, d, totag, d["sdp"], UAS_PORT + 3)
            code2, re_ok = await peer.next_response("INVITE", final=True)
            peer.ack(d, totag, n)
            r = await alice.send_jingle("carol\\40127.0.0.1@sip.localhost",
                                        "session-terminate", sid,
                                        "<reason><success/></reason>")
            bye = await moved.next_request("BYE")
            moved.reply(bye, 200, "OK")
            heard = []
            while not alice.jingle.empty():
                heard.append(alice.jingle.get_nowait())
            await until(lambda: sessions(gateway) == [], 5,
                        "session removed")
            return code, upd, code2, re_ok, ok, r, heard
        finally:
            await logout(alice)
            peer.close()
            moved.close()

    code, upd, code2, re_ok, ok, r, heard = run(go())
    assert code == 200, upd
    assert body(upd) == "" and hdr(upd, "Content-Type") is None, upd
    assert hdr(upd, "Contact"), upd
    assert code2 == 200, re_ok
    assert "m=audio" in body(re_ok), re_ok
    assert r["type"] == "result"
    actions = [x.xml.find("{urn:xmpp:jingle:1}jingle").get("action")
               for x in heard]
    assert actions == ["transport-info"], [str(x) for x in heard]


def test_one_reinvite_at_a_time(gateway):
    """RFC 3261 14.1/14.2 in an active call from SIP: alice's hold is a
    re-INVITE; while it waits for its answer the phone's own re-INVITE gets
    491 and alice's resume unexpected-request; the phone's 491 to the
    hold leaves the call as it was, and the hold goes again by itself
    after a random 0-2 s (the phone chose the Call-ID) with the same
    offer and a new CSeq."""
    async def go():
        peer = await SipPeer.start(UAS_PORT)
        alice = await jlogin("alice@localhost/phone", "alicepass")
        alice.online_to_gateway()
        await online(gateway, "alice@localhost/phone")
        hold = "<hold xmlns='urn:xmpp:jingle:apps:rtp:info:1'/>"
        active = "<active xmlns='urn:xmpp:jingle:apps:rtp:info:1'/>"
        try:
            d, j, ok = await call_in(alice, peer)
            sid, gw = j.get("sid"), j.get("initiator")
            totag = tag_of(hdr(ok, "To"))
            peer.ack(d, totag)
            await until(lambda: [x for x in sessions(gateway)
                                 if x["state"] == "active"], 5, "active")
            d["target"] = hdr(ok, "Contact").strip("<>")
            r1 = await alice.send_jingle(gw, "session-info", sid, hold)
            ours = await peer.next_request("INVITE")
            peer.in_dialog(d, "INVITE", totag, d["sdp"], "application/sdp")
            code, _ = await peer.next_response("INVITE", final=True)
            r2 = await alice.send_jingle(gw, "session-info", sid, active)
            peer.reply(ours, 491, "Request Pending")
            again = await peer.next_request("INVITE", timeout=6)
            peer.reply(again, 200, "OK", sdp=d["sdp"])
            ack = await peer.next_request("ACK")
            await alice.send_jingle(gw, "session-terminate", sid,
                                    "<reason><success/></reason>")
            bye = await peer.next_request("BYE")
            peer.reply(bye, 200, "OK")
            return r1, ours, code, r2, again, ack
        finally:
            await logout(alice)
            peer.close()

    r1, ours, code, r2, again, ack = run(go())
    assert r1["type"] == "result"
    assert "a=sendonly" in body(ours)
    assert code == 491
    assert r2["type"] == "error"
    assert r2["error"]["condition"] == "unexpected-request"
    assert body(again) == body(ours)
    assert int(hdr(again, "CSeq").split()[0]) > \
        int(hdr(ours, "CSeq").split()[0])
    assert hdr(ack, "CSeq").split()[0] == hdr(again, "CSeq").split()[0]


async def call_out_hold_491(alice, peer, sid):
    """alice calls the peer (it answers), then holds: the peer answers the
    hold's re-INVITE 491. @return that re-INVITE"""
    from jingle import CONTENTS, PHONE_SDP
    from test_call import BOB

    await alice.send_jingle(BOB, "session-initiate", sid, CONTENTS)
    inv = await peer.next_request("INVITE")
    peer.reply(inv, 200, "OK", sdp=PHONE_SDP)
    await alice.next_jingle(action="session-accept")
    await peer.next_request("ACK")
    await alice.send_jingle(BOB, "session-info", sid,
                            "<hold xmlns='urn:xmpp:jingle:apps:rtp:info:1'/>")
    held = await peer.next_request("INVITE")
    peer.reply(held, 491, "Request Pending")
    return held


def test_after_491_the_users_next_action_supersedes_the_retry(gateway):
    """alice called (the gateway chose the Call-ID: the retry would wait
    2.1-4 s): her hold meets 491; her resume before the retry goes at
    once, and the retry is forgotten (the call's deadline is the idle one
    again; her hang-up's BYE is the next request)."""
    from jingle import CONTENTS, PHONE_SDP
    from test_call import BOB

    async def go():
        peer = await SipPeer.start(UAS_PORT)
        alice = await jlogin("alice@localhost/phone", "alicepass")
        sid = "r" + uuid.uuid4().hex[:12]
        active = "<active xmlns='urn:xmpp:jingle:apps:rtp:info:1'/>"
        try:
            held = await call_out_hold_491(alice, peer, sid)
            sess = await until(lambda: [
                x for x in sessions(gateway) if "491" in json.loads(
                    gateway.ctl("show", str(x["id"]), "--json").stdout)
                ["history"]], 5, "the 491 seen")
            r2 = await alice.send_jingle(BOB, "session-info", sid, active)
            resumed = await peer.next_request("INVITE")
            peer.reply(resumed, 200, "OK", sdp=PHONE_SDP)
            await peer.next_request("ACK")
            shown = await until(lambda: (lambda s: s if "resume" in
                                         s["history"] else None)(json.loads(
                gateway.ctl("show", str(sess[0]["id"]), "--json").stdout)),
                5, "the resume answered")
            now_ms = time.time() * 1000
            await alice.send_jingle(BOB, "session-terminate", sid,
                                    "<reason><success/></reason>")
            nxt = await peer.next_request()
            peer.reply(nxt, 200, "OK")
            return held, r2, resumed, shown, now_ms, nxt
        finally:
            await logout(alice)
            peer.close()

    held, r2, resumed, shown, now_ms, nxt = run(go())
    assert r2["type"] == "result"
    assert "a=sendonly" in body(held)
    assert "a=sendrecv" in body(resumed) or "a=send" not in body(resumed)
    assert "again in" in shown["history"]
    # the idle deadline (hours), not the retry's (seconds)
    assert shown["deadline_ms"] > now_ms + 600 * 1000, shown["deadline_ms"]
    assert shown["reinvite_retry_ms"] == 0
    assert nxt.startswith("BYE "), nxt


def test_a_second_fork_answering_is_acked_and_ended(gateway):
    """A proxy forked alice's call and two phones answered (RFC 3261
    13.2.2.4): the first 200 is the call; the second phone's 200 is ACKed in
    its own dialog (its To-tag, to its Contact) and that dialog ended with
    a BYE; alice's call goes on with the first."""
    from jingle import CONTENTS, PHONE_SDP, cseq
    from test_call import BOB

    async def go():
        peer = await SipPeer.start(UAS_PORT)
        fork2 = await SipPeer.start(UAS_PORT + 3)
        alice = await jlogin("alice@localhost/phone", "alicepass")
        alice.online_to_gateway()
        sid = "f" + uuid.uuid4().hex[:12]
        try:
            r = await alice.send_jingle(BOB, "session-initiate", sid,
                                        CONTENTS)
            inv = await peer.next_request("INVITE")
            peer.reply(inv, 200, "OK", sdp=PHONE_SDP, totag="aaaa")
            _, j = await alice.next_jingle(action="session-accept")
            ack1 = await peer.next_request("ACK")
            fork2.reply(inv, 200, "OK", sdp=PHONE_SDP, totag="bbbb")
            ack2 = await fork2.next_request("ACK")
            bye2 = await fork2.next_request("BYE")
            fork2.reply(bye2, 200, "OK")
            active = await until(lambda: [
                x for x in sessions(gateway) if x["state"] == "active"], 5,
                "the call active")
            await alice.send_jingle(BOB, "session-terminate", sid,
                                    "<reason><success/></reason>")
            bye1 = await peer.next_request("BYE")
            peer.reply(bye1, 200, "OK")
            return r, ack1, ack2, bye2, bye1, active
        finally:
            await logout(alice)
            peer.close()
            fork2.close()

    r, ack1, ack2, bye2, bye1, active = run(go())
    assert r["type"] == "result"
    assert tag_of(hdr(ack1, "To")) == "aaaa"
    assert tag_of(hdr(ack2, "To")) == "bbbb"
    assert ack2.split(" ", 2)[1] == "sip:peer@127.0.0.1:%d" % (UAS_PORT + 3)
    assert tag_of(hdr(bye2, "To")) == "bbbb"
    assert cseq(bye2) == (2, "BYE")
    assert active
    assert tag_of(hdr(bye1, "To")) == "aaaa"


def test_retry_after_491_survives_a_translator_kill(gateway):
    """The retry waiting after a 491 is in the call's record: a translator
    killed (-9) while it waits still sends it, once, with the same offer."""
    from jingle import CONTENTS, PHONE_SDP
    from test_call import BOB

    async def go():
        peer = await SipPeer.start(UAS_PORT)
        alice = await jlogin("alice@localhost/phone", "alicepass")
        sid = "k" + uuid.uuid4().hex[:12]
        try:
            held = await call_out_hold_491(alice, peer, sid)
            await until(lambda: [
                x for x in sessions(gateway) if json.loads(
                    gateway.ctl("show", str(x["id"]), "--json").stdout)
                ["reinvite_retry_ms"]], 5, "the retry waiting")
            gateway.kill9("translator")  # within the 2.1 s at least
            again = await peer.next_request("INVITE", timeout=10)
            peer.reply(again, 200, "OK", sdp=PHONE_SDP)
            await peer.next_request("ACK")
            await alice.send_jingle(BOB, "session-terminate", sid,
                                    "<reason><success/></reason>")
            nxt = await peer.next_request()
            peer.reply(nxt, 200, "OK")
            return held, again, nxt
        finally:
            await logout(alice)
            peer.close()

    held, again, nxt = run(go())
    assert body(again) == body(held)
    assert hdr(again, "Call-ID") == hdr(held, "Call-ID")
    assert int(hdr(again, "CSeq").split()[0]) > \
        int(hdr(held, "CSeq").split()[0])
    assert nxt.startswith("BYE "), nxt


def test_a_peer_answering_491_every_time_gets_three_retries(gateway):
    """A phone that answers every re-INVITE 491: alice's hold goes again
    three times, then is given up (the call goes on; her hang-up's BYE is
    the next request)."""
    async def go():
        peer = await SipPeer.start(UAS_PORT)
        alice = await jlogin("alice@localhost/phone", "alicepass")
        alice.online_to_gateway()
        await online(gateway, "alice@localhost/phone")
        hold = "<hold xmlns='urn:xmpp:jingle:apps:rtp:info:1'/>"
        try:
            d, j, ok = await call_in(alice, peer)
            sid, gw = j.get("sid"), j.get("initiator")
            totag = tag_of(hdr(ok, "To"))
            peer.ack(d, totag)
            sess = await until(lambda: [x for x in sessions(gateway)
                                        if x["state"] == "active"], 5,
                               "active")
            await alice.send_jingle(gw, "session-info", sid, hold)
            invites = []
            for _ in range(4):
                inv = await peer.next_request("INVITE", timeout=6)
                invites.append(inv)
                peer.reply(inv, 491, "Request Pending")
            shown = await until(lambda: (lambda s: s if "given up" in
                                         s["history"] else None)(json.loads(
                gateway.ctl("show", str(sess[0]["id"]), "--json").stdout)),
                10, "the hold given up")
            await alice.send_jingle(gw, "session-terminate", sid,
                                    "<reason><success/></reason>")
            between = []  # the 491s' hop-by-hop ACKs, then the BYE
            while not between or not between[-1].startswith("BYE "):
                between.append(await peer.next_request())
            peer.reply(between[-1], 200, "OK")
            return invites, shown, between
        finally:
            await logout(alice)
            peer.close()

    invites, shown, between = run(go())
    assert len({body(i) for i in invites}) == 1
    assert len({hdr(i, "CSeq") for i in invites}) == 4
    assert shown["state"] == "active" and shown["reinvite_retry_ms"] == 0
    assert [r.split()[0] for r in between[:-1]] == ["ACK"] * (
        len(between) - 1), between


def test_the_users_hold_is_kept_in_answers_to_the_peers_offers(gateway):
    """RFC 3264 8.4: alice called and holds; the phone answers the hold's
    re-INVITE 491 (its own offer crossed it) and sends that offer,
    sendrecv: the gateway's answer is sendonly — alice's hold stands, so
    the retry is not needed and is forgotten. Held, any later offer of the
    phone (a refresh) is answered sendonly too; once alice resumes, the
    phone's offers are answered sendrecv again."""
    from jingle import PHONE_SDP
    from test_call import BOB, callee_dialog

    async def go():
        peer = await SipPeer.start(UAS_PORT)
        alice = await jlogin("alice@localhost/phone", "alicepass")
        sid = "h" + uuid.uuid4().hex[:12]
        active = "<active xmlns='urn:xmpp:jingle:apps:rtp:info:1'/>"
        try:
            held = await call_out_hold_491(alice, peer, sid)
            d, gwtag = callee_dialog(peer, held)
            answers = []
            for _ in range(2):  # crossing the retry, then a refresh
                n = peer.in_dialog(d, "INVITE", gwtag, PHONE_SDP,
                                   "application/sdp")
                code, ok = await peer.next_response("INVITE", final=True)
                assert code == 200 and cseq_of(ok) == n, ok
                peer.in_dialog(d, "ACK", gwtag)
                answers.append(ok)
            sess = await until(lambda: sessions(gateway), 5, "the call")
            shown = json.loads(gateway.ctl("show", str(sess[0]["id"]),
                                           "--json").stdout)
            r = await alice.send_jingle(BOB, "session-info", sid, active)
            resumed = await peer.next_request("INVITE")
            peer.reply(resumed, 200, "OK", sdp=PHONE_SDP)
            await peer.next_request("ACK")
            await until(lambda: "resume" in json.loads(gateway.ctl(
                "show", str(sess[0]["id"]), "--json").stdout)["history"],
                5, "the resume answered")
            n = peer.in_dialog(d, "INVITE", gwtag, PHONE_SDP,
                               "application/sdp")
            code, after = await peer.next_response("INVITE", final=True)
            assert code == 200 and cseq_of(after) == n, after
            peer.in_dialog(d, "ACK", gwtag)
            await alice.send_jingle(BOB, "session-terminate", sid,
                                    "<reason><success/></reason>")
            nxt = await peer.next_request()
            peer.reply(nxt, 200, "OK")
            return held, answers, shown, r, resumed, after, nxt
        finally:
            await logout(alice)
            peer.close()

    held, answers, shown, r, resumed, after, nxt = run(go())
    assert "a=sendonly" in body(held)
    for ok in answers:
        assert "a=sendonly" in body(ok), body(ok)
        assert "a=sendrecv" not in body(ok)
    assert shown["reinvite_retry_ms"] == 0
    assert shown["held_by_user"] is True and shown["held_by_peer"] is False
    assert r["type"] == "result"
    assert "a=sendonly" not in body(resumed)
    assert "a=sendonly" not in body(after), body(after)
    assert "a=inactive" not in body(after) and "m=audio" in body(after)
    assert nxt.startswith("BYE "), nxt


def cseq_of(msg):
    return int(hdr(msg, "CSeq").split()[0])
