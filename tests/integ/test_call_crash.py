"""§7 for calls: SIGKILL each worker in each call state; the call must go on
and end correctly from either side, and `xsgwctl sessions` shows it
throughout."""
import os
import signal
import uuid

import pytest

from conftest import UAS_PORT, run
from jingle import (ANSWER, PHONE_SDP, SipPeer, cseq, hdr, jlogin,
                    reason_of, tag_of)
from test_call import BOB, CAROL, call_in, call_out, online, sessions, uas_bye, until
from xmpp_user import logout

# the xmpp-front also by xsgwctl restart and by SIGSTOP until the
# supervisor's heartbeat kills it: its stream stays open throughout
WORKERS = ["translator", "sip-front", "xmpp-front", "xmpp-front/restart",
           "xmpp-front/sigstop"]


async def crash(gw, worker):
    """kill -9 worker (or restart, or stop it); wait for its successor (and,
    for the xmpp-front, for it to continue the component stream)."""
    worker, _, how = worker.partition("/")
    ups = gw.read_log().count("xmpp link up")
    conts = gw.read_log().count("continuing the stream")
    old = gw.pid(worker)
    if how == "restart":
        assert "restarting" in gw.ctl("restart", worker).stdout
    else:
        os.kill(old, signal.SIGSTOP if how == "sigstop" else signal.SIGKILL)
    # poll without blocking the event loop: the peers keep running
    await until(lambda: (gw.status() or {}).get(worker, {}).get("pid") not in
                (None, 0, old) and gw.status()[worker]["state"] == "ready",
                15, worker + " restarted")
    if worker == "xmpp-front":
        await until(lambda: gw.read_log().count("xmpp link up") > ups, 15,
                    "component stream back")
        log = gw.read_log()
        assert log.count("continuing the stream") == conts + 1
        assert log.count("xmpp: connected") == 1  # the same stream
    s = sessions(gw)
    assert len(s) == 1, s  # the call is still there
    return s[0]


@pytest.mark.parametrize("worker", WORKERS)
def test_kill_outgoing_ringing(gateway, worker):
    """Caller rings; a worker dies; the answer still reaches the caller;
    the caller hangs up with a correct BYE."""
    async def go():
        peer = await SipPeer.start(UAS_PORT)
        alice = await jlogin("alice@localhost/phone", "alicepass")
        sid = "kr" + uuid.uuid4().hex[:10]
        inv = await call_out(alice, peer, sid, answer=False)
        s = await crash(gateway, worker)
        assert s["state"] == "ringing" and s["sid"] == sid
        if worker == "sip-front":
            # the translator re-sends the pending INVITE: a retransmission
            inv2 = await peer.next_request("INVITE")
            assert hdr(inv2, "Via") == hdr(inv, "Via")
            assert hdr(inv2, "Call-ID") == hdr(inv, "Call-ID")
            assert cseq(inv2) == (1, "INVITE")
        peer.reply(inv, 200, "OK", sdp=PHONE_SDP)
        _, j = await alice.next_jingle(action="session-accept", timeout=15)
        assert j.get("sid") == sid
        ack = await peer.next_request("ACK", timeout=15)
        assert cseq(ack) == (1, "ACK")
        await until(lambda: sessions(gateway)[0]["state"] == "active", 5, "active")
        r = await alice.send_jingle(BOB, "session-terminate", sid,
                                    "<reason><success/></reason>")
        assert r["type"] == "result"
        bye = await peer.next_request("BYE")
        assert hdr(bye, "Call-ID") == hdr(inv, "Call-ID")
        assert tag_of(hdr(bye, "From")) == tag_of(hdr(inv, "From"))
        assert tag_of(hdr(bye, "To")) == peer.tag and cseq(bye) == (2, "BYE")
        peer.reply(bye, 200, "OK")
        await until(lambda: sessions(gateway) == [], 5, "session removed")
        await logout(alice)
        peer.close()
    run(go())


@pytest.mark.parametrize("worker", WORKERS)
@pytest.mark.parametrize("ender", ["xmpp", "sip"])
def test_kill_outgoing_answered(gateway, worker, ender):
    async def go():
        peer = await SipPeer.start(UAS_PORT)
        alice = await jlogin("alice@localhost/phone", "alicepass")
        sid = "ka" + uuid.uuid4().hex[:10]
        inv = await call_out(alice, peer, sid)
        s = await crash(gateway, worker)
        assert s["state"] == "active"
        if ender == "xmpp":
            r = await alice.send_jingle(BOB, "session-terminate", sid,
                                        "<reason><success/></reason>")
            assert r["type"] == "result"
            bye = await peer.next_request("BYE", timeout=15)
            assert hdr(bye, "Call-ID") == sid and cseq(bye) == (2, "BYE")
            assert tag_of(hdr(bye, "To")) == peer.tag
            peer.reply(bye, 200, "OK")
        else:
            uas_bye(peer, inv, peer.tag)
            code, _ = await peer.next_response("BYE", timeout=15)
            assert code == 200
            _, j = await alice.next_jingle(action="session-terminate", timeout=15)
            assert j.get("sid") == sid and reason_of(j)[0] == "success"
        await until(lambda: sessions(gateway) == [], 5, "session removed")
        await logout(alice)
        peer.close()
    run(go())


@pytest.mark.parametrize("worker", WORKERS)
def test_kill_incoming_ringing(gateway, worker):
    """A SIP caller rings an XMPP user; a worker dies; the user's answer is
    still delivered as a 200 to the pending INVITE; the caller hangs up."""
    async def go():
        peer = await SipPeer.start(UAS_PORT)
        alice = await jlogin("alice@localhost/phone", "alicepass")
        alice.online_to_gateway()
        await online(gateway, "alice@localhost/phone")
        d, j, _ = await call_in(alice, peer, answer=False)
        sid = j.get("sid")
        s = await crash(gateway, worker)
        assert s["state"] == "ringing" and s["call_id"] == d["callid"]
        r = await alice.send_jingle(CAROL, "session-accept", sid, ANSWER)
        assert r["type"] == "result"
        code, ok = await peer.next_response("INVITE", final=True, timeout=15)
        assert code == 200 and "m=audio" in ok
        totag = tag_of(hdr(ok, "To"))
        peer.ack(d, totag)
        d["target"] = hdr(ok, "Contact").strip("<>")
        await until(lambda: sessions(gateway)[0]["state"] == "active", 5, "active")
        n = peer.in_dialog(d, "BYE", totag)
        code, resp = await peer.next_response("BYE")
        assert code == 200 and cseq(resp) == (n, "BYE")
        _, j = await alice.next_jingle(action="session-terminate")
        assert j.get("sid") == sid and reason_of(j)[0] == "success"
        await until(lambda: sessions(gateway) == [], 5, "session removed")
        await logout(alice)
        peer.close()
    run(go())


@pytest.mark.parametrize("worker", WORKERS)
def test_kill_after_reinvite(gateway, worker):
    """An answered call is re-INVITEd (hold) by the SIP side and then by the
    XMPP side (active); a worker dies; the BYE carries the next CSeq."""
    from jingle import body
    from test_call import HOLD_SDP, callee_dialog

    async def go():
        peer = await SipPeer.start(UAS_PORT)
        alice = await jlogin("alice@localhost/phone", "alicepass")
        sid = "ki" + uuid.uuid4().hex[:10]
        inv = await call_out(alice, peer, sid)
        d, gwtag = callee_dialog(peer, inv)
        peer.in_dialog(d, "INVITE", gwtag, HOLD_SDP, "application/sdp")
        code, ok = await peer.next_response("INVITE", final=True)
        assert code == 200 and "a=recvonly" in body(ok)
        peer.ack(d, gwtag, n=d["cseq"])
        await alice.next_jingle(action="session-info")
        r = await alice.send_jingle(BOB, "session-info", sid,
                                    "<active xmlns='urn:xmpp:jingle:apps:rtp:info:1'/>")
        assert r["type"] == "result"
        re_inv = await peer.next_request("INVITE")
        assert cseq(re_inv) == (2, "INVITE")
        peer.reply(re_inv, 200, "OK", sdp=PHONE_SDP)
        await peer.next_request("ACK")
        s = await crash(gateway, worker)
        assert s["state"] == "active"
        r = await alice.send_jingle(BOB, "session-terminate", sid,
                                    "<reason><success/></reason>")
        assert r["type"] == "result"
        bye = await peer.next_request("BYE", timeout=15)
        assert cseq(bye) == (3, "BYE") and tag_of(hdr(bye, "To")) == peer.tag
        assert tag_of(hdr(bye, "From")) == gwtag and hdr(bye, "Call-ID") == sid
        peer.reply(bye, 200, "OK")
        await until(lambda: sessions(gateway) == [], 5, "session removed")
        await logout(alice)
    run(go())
