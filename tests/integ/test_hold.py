"""The XMPP user's hold (XEP-0167 session-info <hold/>) as the SIP side
sees it beyond the user's own re-INVITE (RFC 3264 8.4): her hold or
resume stands though the peer refused its re-INVITE, a transfer of a held
call offers the target sendonly. Real Prosody, a slixmpp user, a scripted
SIP peer."""
import contextlib
import json

import pytest

from conftest import UAS_PORT, run
from jingle import PHONE_SDP, SipPeer, body, hdr, jlogin
from test_call import sessions, until
from test_call_features import TARGET, answered, dlg_req, requests
from xmpp_user import logout

HOLD = "<hold xmlns='urn:xmpp:jingle:apps:rtp:info:1'/>"


@contextlib.asynccontextmanager
async def phone_and_alice():
    """A scripted phone on UAS_PORT and alice's Jingle client."""
    peer = await SipPeer.start(UAS_PORT)
    alice = await jlogin("alice@localhost/phone", "alicepass")
    try:
        yield peer, alice
    finally:
        await logout(alice)
        peer.close()


async def hang_up(alice, party, sid, peer):
    """alice ends the answered call: its BYE at the phone, answered."""
    await alice.send_jingle(party, "session-terminate", sid,
                            "<reason><success/></reason>")
    bye = await peer.next_request("BYE")
    peer.reply(bye, 200, "OK")
    return bye


def shown(gw):
    s = sessions(gw)
    return json.loads(gw.ctl("show", str(s[0]["id"]), "--json").stdout)


async def hold(direction, alice, peer, gw):
    """An answered call (answered()), which alice holds: returns its sid,
    the SIP party's JID, the peer's dialog, the gateway's tag, the IQ's
    answer and the hold's re-INVITE (not yet answered)."""
    sid, party, d, gwtag = await answered(direction, alice, peer, gw)
    r = await alice.send_jingle(party, "session-info", sid, HOLD)
    held = await peer.next_request("INVITE")
    return sid, party, d, gwtag, r, held


@pytest.mark.parametrize("refused", ["hold", "resume"])
def test_a_refused_re_invite_leaves_the_users_choice_standing(gateway,
                                                              refused):
    """alice called and holds (or held and resumes); the phone refuses
    that re-INVITE (488): the session stays as it was, but alice was told
    ok, so her choice stands — the phone's next offer (sendrecv) is
    answered sendonly after a refused hold, sendrecv after a refused
    resume."""
    active = "<active xmlns='urn:xmpp:jingle:apps:rtp:info:1'/>"

    async def go():
        async with phone_and_alice() as (peer, alice):
            sid, party, d, gwtag, r, held = await hold("x2s", alice, peer,
                                                       gateway)
            if refused == "resume":
                peer.reply(held, 200, "OK", sdp=PHONE_SDP.replace(
                    "a=sendrecv", "a=recvonly"))
                await peer.next_request("ACK")
                r = await alice.send_jingle(party, "session-info", sid,
                                            active)
                held = await peer.next_request("INVITE")
            peer.reply(held, 488, "Not Acceptable Here")
            await peer.next_request("ACK")
            after = await until(lambda: (lambda s: s if "failed (488)" in
                                         s["history"] else None)(
                shown(gateway)), 5, "the re-INVITE refused")
            dlg_req(peer, d, "INVITE", gwtag, b=PHONE_SDP,
                    ctype="application/sdp")
            code, ok = await peer.next_response("INVITE", final=True)
            peer.in_dialog(d, "ACK", gwtag)
            await hang_up(alice, party, sid, peer)
            return r, held, after, code, ok

    r, held, after, code, ok = run(go())
    assert r["type"] == "result"
    assert code == 200 and "m=audio" in body(ok)
    if refused == "hold":
        assert "a=sendonly" in body(held)
        assert after["held_by_user"] is True
        assert "a=sendonly" in body(ok), body(ok)
    else:
        assert "a=sendonly" not in body(held)
        assert after["held_by_user"] is False
        assert "a=sendonly" not in body(ok) and "a=inactive" not in body(ok)


def test_transfer_of_a_held_call_offers_the_target_sendonly(gateway):
    """carol's phone called alice, who holds; the phone transfers the call
    (REFER): the INVITE to the target offers alice's media sendonly — she
    still holds it — and the call, in the target's dialog, is still held
    by her."""
    async def go():
        async with phone_and_alice() as (peer, alice):
            sid, party, d, gwtag, r, held = await hold("s2x", alice, peer,
                                                       gateway)
            peer.reply(held, 200, "OK", sdp=PHONE_SDP.replace(
                "a=sendrecv", "a=recvonly"))
            await peer.next_request("ACK")
            n = dlg_req(peer, d, "REFER", gwtag,
                        extra="Refer-To: <%s>\r\n" % TARGET)
            code, _ = await peer.next_response("REFER")
            assert code == 202
            got = await requests(peer, ["NOTIFY", "INVITE"])
            peer.reply(got["NOTIFY"], 200, "OK")
            inv = got["INVITE"]
            peer.reply(inv, 200, "OK", sdp=PHONE_SDP.replace(
                "a=sendrecv", "a=recvonly"), totag="carol1")
            got = await requests(peer, ["ACK", "NOTIFY", "BYE"],
                                 skip=("INVITE",))
            peer.reply(got["NOTIFY"], 200, "OK")
            peer.reply(got["BYE"], 200, "OK")
            await alice.next_jingle(action="transport-info")
            after = shown(gateway)
            bye = await hang_up(alice, party, sid, peer)
            await until(lambda: sessions(gateway) == [], 5,
                        "session removed")
            return r, held, n, inv, after, bye

    r, held, n, inv, after, bye = run(go())
    assert r["type"] == "result" and "a=sendonly" in body(held)
    assert inv.startswith("INVITE %s " % TARGET)
    assert "a=sendonly" in body(inv), body(inv)
    assert after["held_by_user"] is True
    assert after["call_id"] == hdr(inv, "Call-ID") == hdr(bye, "Call-ID")


RESTART = ("<content xmlns='urn:xmpp:jingle:1' creator='initiator' "
           "name='audio'><transport "
           "xmlns='urn:xmpp:jingle:transports:ice-udp:1' ufrag='NeWu' "
           "pwd='NewPasswordNewPassword12'/></content>")


def test_the_peers_hold_is_never_taken_for_the_users(gateway):
    """The phone holds alice (a=inactive, answered inactive); her ICE
    restart (a re-INVITE) is refused: she still holds nothing, so the
    phone's resume (sendrecv) is answered sendrecv — not sendonly, which
    would leave her unheard."""
    async def go():
        async with phone_and_alice() as (peer, alice):
            sid, party, d, gwtag = await answered("x2s", alice, peer,
                                                  gateway)
            dlg_req(peer, d, "INVITE", gwtag,
                    b=PHONE_SDP.replace("a=sendrecv", "a=inactive"),
                    ctype="application/sdp")
            code, ans = await peer.next_response("INVITE", final=True)
            peer.in_dialog(d, "ACK", gwtag)
            r = await alice.send_jingle(party, "transport-info", sid,
                                        RESTART)
            inv = await peer.next_request("INVITE")
            peer.reply(inv, 488, "Not Acceptable Here")
            await peer.next_request("ACK")
            after = await until(lambda: (lambda s: s if "failed (488)" in
                                         s["history"] else None)(
                shown(gateway)), 5, "the restart refused")
            dlg_req(peer, d, "INVITE", gwtag, b=PHONE_SDP,
                    ctype="application/sdp")
            code2, ok = await peer.next_response("INVITE", final=True)
            peer.in_dialog(d, "ACK", gwtag)
            await hang_up(alice, party, sid, peer)
            return code, ans, r, after, code2, ok

    code, ans, r, after, code2, ok = run(go())
    assert code == 200 and "a=inactive" in body(ans)
    assert r["type"] == "result"
    assert after["held_by_user"] is False and after["held_by_peer"] is True
    assert code2 == 200 and "m=audio" in body(ok)
    assert "a=sendonly" not in body(ok) and "a=inactive" not in body(ok)
