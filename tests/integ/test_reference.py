"""The reference's 19 jingle_SUITE cases (reference §3.4), ported: real
Prosody, slixmpp users, the gateway, and the reference's looping proxy
(loopproxy.py, a scripted B2BUA on 127.0.0.1:12345).

Differences that come from the design, not from leniency:
- Users call the gateway's JIDs (a component), not each other's full JIDs:
  bob is `bob\\40localhost@sip.localhost` (sip:bob@localhost), which the
  proxy loops back to the gateway as a call to bob@localhost.
- The callee learns the caller as a gateway JID (alice\\40localhost@...).
- "on different nodes" (cases 2, 7, 10): there is one gateway, so the
  callee answers after the translator that set the call up was restarted
  (`xsgwctl restart translator`): the dialog lives on in the store.
"""
import uuid
import xml.etree.ElementTree as ET

import pytest

from conftest import run
from jingle import GW, error_condition, jlogin, q, reason_of
from loopproxy import LoopProxy
from test_call import online, sessions, until
from xmpp_user import logout

BOB = "bob\\40localhost@" + GW
PROXY_PORT = 12345

# reference §5.5: the contents its tests send (no candidates: the proxy's
# canned SDPs provide them)
AUDIO = """
<content xmlns='urn:xmpp:jingle:1' creator='initiator' name='audio_1' senders='both'>
 <description xmlns='urn:xmpp:jingle:apps:rtp:1' media='audio' ssrc='948015790'>
  <payload-type id='111' name='opus' clockrate='48000' channels='2'>
   <parameter name='minptime' value='10'/><parameter name='useinbandfec' value='1'/>
   <rtcp-fb xmlns='urn:xmpp:jingle:apps:rtp:rtcp-fb:0' type='transport-cc'/>
  </payload-type>
  <payload-type id='9' name='G722' clockrate='8000'/>
  <payload-type id='0' name='PCMU' clockrate='8000'/>
  <payload-type id='8' name='PCMA' clockrate='8000'/>
  <payload-type id='126' name='telephone-event' clockrate='8000'/>
  <rtp-hdrext xmlns='urn:xmpp:jingle:apps:rtp:rtp-hdrext:0' id='1' uri='urn:ietf:params:rtp-hdrext:ssrc-audio-level'/>
  <rtcp-mux/>
  <source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' ssrc='948015790'>
   <parameter name='cname' value='T5qvrIZj9hwBYBSO'/>
   <parameter name='msid' value='stream0 audio0'/>
  </source>
 </description>
 <transport xmlns='urn:xmpp:jingle:transports:ice-udp:1' ufrag='TIxp' pwd='MkQXObfhEelTbQdRV1e0ADGh'>
  <fingerprint xmlns='urn:xmpp:jingle:apps:dtls:0' hash='sha-256' setup='actpass'>79:6C:0F:1E:9B:2F:5A:4E:3D:2C:1B:0A:99:88:77:66:55:44:33:22:11:00:FF:EE:DD:CC:BB:AA:09:08:07:06</fingerprint>
 </transport>
</content>"""

VIDEO = """
<content xmlns='urn:xmpp:jingle:1' creator='initiator' name='video_1' senders='responder'>
 <description xmlns='urn:xmpp:jingle:apps:rtp:1' media='video'>
  <payload-type id='96' name='VP8' clockrate='90000'>
   <rtcp-fb xmlns='urn:xmpp:jingle:apps:rtp:rtcp-fb:0' type='ccm' subtype='fir'/>
   <rtcp-fb xmlns='urn:xmpp:jingle:apps:rtp:rtcp-fb:0' type='nack'/>
   <rtcp-fb xmlns='urn:xmpp:jingle:apps:rtp:rtcp-fb:0' type='nack' subtype='pli'/>
  </payload-type>
  <payload-type id='97' name='rtx' clockrate='90000'><parameter name='apt' value='96'/></payload-type>
  <rtcp-mux/>
 </description>
 <transport xmlns='urn:xmpp:jingle:transports:ice-udp:1' ufrag='TIxp' pwd='MkQXObfhEelTbQdRV1e0ADGh'>
  <fingerprint xmlns='urn:xmpp:jingle:apps:dtls:0' hash='sha-256' setup='actpass'>79:6C:0F:1E:9B:2F:5A:4E:3D:2C:1B:0A:99:88:77:66:55:44:33:22:11:00:FF:EE:DD:CC:BB:AA:09:08:07:06</fingerprint>
 </transport>
</content>"""

GROUP = """<group xmlns='urn:xmpp:jingle:apps:grouping:0' semantics='BUNDLE'>%s</group>"""


def group(*names):
    return GROUP % "".join("<content name='%s'/>" % n for n in names)


OFFER = AUDIO + VIDEO + group("audio_1", "video_1")


def answer_for(j):
    """The callee's session-accept (reference accept()): audio, and video
    disabled (senders none, VP8 only, fingerprint without setup), group of
    audio only. Content names follow the offer the callee received."""
    names = [c.get("name") for c in j.findall(q("content"))]
    media = {c.get("name"): c.find("{urn:xmpp:jingle:apps:rtp:1}description").get("media")
             for c in j.findall(q("content"))}
    audio = [n for n in names if media[n] == "audio"][0]
    video = [n for n in names if media[n] == "video"]
    body = AUDIO.replace("name='audio_1'", "name='%s'" % audio)
    if video:
        body += """
<content xmlns='urn:xmpp:jingle:1' creator='initiator' name='%s' senders='none'>
 <description xmlns='urn:xmpp:jingle:apps:rtp:1' media='video'>
  <payload-type id='96' name='VP8' clockrate='90000'/>
 </description>
 <transport xmlns='urn:xmpp:jingle:transports:ice-udp:1'>
  <fingerprint xmlns='urn:xmpp:jingle:apps:dtls:0' hash='sha-256'>79:6C:0F:1E:9B:2F:5A:4E:3D:2C:1B:0A:99:88:77:66:55:44:33:22:11:00:FF:EE:DD:CC:BB:AA:09:08:07:06</fingerprint>
 </transport>
</content>""" % video[0]
    return body + group(audio)


def assert_invite_request(j, not_sid):
    """reference assert_invite_request / session description checks"""
    assert j.get("action") in ("session-initiate", "session-accept")
    assert j.get("sid") != not_sid
    cs = j.findall(q("content"))
    assert cs
    for c in cs:
        t = [x for x in c if x.tag.endswith("}transport")]
        assert t and t[0].findall("{urn:xmpp:jingle:transports:ice-udp:1}candidate"), \
            ET.tostring(c)
    if len(cs) > 1:
        assert j.find("{urn:xmpp:jingle:apps:grouping:0}group") is not None


@pytest.fixture
def proxied(gateway_factory):
    return gateway_factory(sip={"proxy": "127.0.0.1:%d" % PROXY_PORT,
                                "domain": "127.0.0.1"})


async def users(gw, *names):
    out = []
    for n in names:
        jid = n if "/" in n else n + "@localhost/res1"
        u = await jlogin(jid, jid.split("@")[0] + "pass")
        u.online_to_gateway()
        await online(gw, jid)
        out.append(u)
    return out


async def initiate(alice, bob, to=BOB, extra_callees=()):
    """reference initiate(A, B): IQ result, ringing to A, session-initiate
    to B with another sid, candidates and group."""
    sid = str(uuid.uuid4())
    r = await alice.send_jingle(to, "session-initiate", sid, OFFER)
    assert r["type"] == "result"
    _, ring = await alice.next_jingle(action="session-info")
    assert ring.find("{urn:xmpp:jingle:apps:rtp:info:1}ringing") is not None
    assert ring.get("sid") == sid
    iq, j = await bob.next_jingle(action="session-initiate")
    assert_invite_request(j, sid)
    for other in extra_callees:
        _, j2 = await other.next_jingle(action="session-initiate")
        assert j2.get("sid") == j.get("sid")
    return sid, iq, j


async def accept(alice, bob, sid, iq, j):
    r = await bob.send_jingle(iq["from"], "session-accept", j.get("sid"),
                              answer_for(j))
    assert r["type"] == "result"
    _, acc = await alice.next_jingle(action="session-accept")
    assert acc.get("sid") == sid
    assert_invite_request(acc, None)


async def terminate(by, other, to, sid, reason, expect_reason=None):
    r = await by.send_jingle(to, "session-terminate", sid,
                             "<reason><%s/></reason>" % reason)
    assert r["type"] == "result"
    _, t = await other.next_jingle(action="session-terminate")
    assert reason_of(t)[0] == (expect_reason or reason)
    return t


def proxy_run(coro_fn, gw):
    async def go():
        proxy = await LoopProxy.start(PROXY_PORT)
        try:
            await coro_fn(proxy)
        finally:
            proxy.close()
    run(go())


def restart_translator(gw):
    gw.restart("translator")


@pytest.mark.parametrize("other_node", [False, True], ids=["1", "2-restart"])
def test_01_02_session_established_for_full_jids(proxied, other_node):
    async def go(proxy):
        alice, bob = await users(proxied, "alice", "bob")
        sid, iq, j = await initiate(alice, bob)
        if other_node:
            restart_translator(proxied)
        await accept(alice, bob, sid, iq, j)
        await until(lambda: [s["state"] for s in sessions(proxied)] == ["active"] * 2,
                    10, "both legs active")
        for u in (alice, bob):
            await logout(u)
    proxy_run(go, proxied)


def test_03_4xx_from_proxy_results_in_session_terminate(proxied):
    async def go(proxy):
        alice, = await users(proxied, "alice")
        sid = str(uuid.uuid4())
        r = await alice.send_jingle("error.480@" + GW, "session-initiate", sid, OFFER)
        assert r["type"] == "result"
        _, t = await alice.next_jingle()
        assert t.get("action") == "session-terminate" and t.get("sid") == sid
        assert reason_of(t) == ("general-error", "480")
        await until(lambda: sessions(proxied) == [], 5, "session removed")
        await logout(alice)
    proxy_run(go, proxied)


def test_04_session_established_when_calling_a_number(proxied):
    async def go(proxy):
        alice, = await users(proxied, "alice")
        sid = str(uuid.uuid4())
        r = await alice.send_jingle("+488790@" + GW, "session-initiate", sid, OFFER)
        assert r["type"] == "result"
        _, j = await alice.next_jingle()
        assert j.get("action") == "session-info" and j.get("sid") == sid
        assert j.find("{urn:xmpp:jingle:apps:rtp:info:1}ringing") is not None
        _, j = await alice.next_jingle()
        assert j.get("action") == "session-accept" and j.get("sid") == sid
        assert_invite_request(j, None)
        await logout(alice)
    proxy_run(go, proxied)


def test_05_established_and_terminated_by_initiator(proxied):
    async def go(proxy):
        alice, bob = await users(proxied, "alice", "bob")
        sid, iq, j = await initiate(alice, bob)
        await accept(alice, bob, sid, iq, j)
        await terminate(alice, bob, BOB, sid, "success")
        await until(lambda: sessions(proxied) == [], 5, "sessions removed")
        for u in (alice, bob):
            await logout(u)
    proxy_run(go, proxied)


@pytest.mark.parametrize("other_node", [False, True], ids=["6", "7-restart"])
def test_06_07_established_and_terminated_by_receiver(proxied, other_node):
    async def go(proxy):
        alice, bob = await users(proxied, "alice", "bob")
        sid, iq, j = await initiate(alice, bob)
        await accept(alice, bob, sid, iq, j)
        if other_node:
            restart_translator(proxied)
        await terminate(bob, alice, iq["from"], j.get("sid"), "success")
        await until(lambda: sessions(proxied) == [], 5, "sessions removed")
        for u in (alice, bob):
            await logout(u)
    proxy_run(go, proxied)


def test_08_initiated_and_cancelled_by_initiator(proxied):
    async def go(proxy):
        alice, bob = await users(proxied, "alice", "bob")
        sid, iq, j = await initiate(alice, bob)
        await terminate(alice, bob, BOB, sid, "decline")
        await until(lambda: sessions(proxied) == [], 5, "sessions removed")
        for u in (alice, bob):
            await logout(u)
    proxy_run(go, proxied)


@pytest.mark.parametrize("other_node", [False, True], ids=["9", "10-restart"])
def test_09_10_initiated_and_cancelled_by_receiver(proxied, other_node):
    async def go(proxy):
        alice, bob = await users(proxied, "alice", "bob")
        sid, iq, j = await initiate(alice, bob)
        if other_node:
            restart_translator(proxied)
        await terminate(bob, alice, iq["from"], j.get("sid"), "decline")
        await until(lambda: sessions(proxied) == [], 5, "sessions removed")
        for u in (alice, bob):
            await logout(u)
    proxy_run(go, proxied)


def test_11_session_with_a_conference_room(proxied):
    async def go(proxy):
        alice, = await users(proxied, "alice")
        sid = str(uuid.uuid4())
        r = await alice.send_jingle("*901@" + GW, "session-initiate", sid, OFFER)
        assert r["type"] == "result"
        _, j = await alice.next_jingle()
        assert j.get("action") == "session-info"
        _, j = await alice.next_jingle()
        assert j.get("action") == "session-accept" and j.get("sid") == sid
        _, j = await alice.next_jingle()
        assert j.get("action") == "transport-info" and j.get("sid") == sid
        # the re-INVITE got a real SDP answer (not a body-less 200); the
        # 200 and the transport-info leave in the same commit but through
        # two fronts: wait for the 200 to reach the proxy
        ok = await until(
            lambda: [m for m in proxy.log if m.is_resp and m.code == 200
                     and m.cseq[1] == "INVITE" and m.cseq[0] > 1],
            5, "the 200 to the re-INVITE at the proxy")
        assert "m=audio" in ok[0].body and "a=ice-ufrag" in ok[0].body
        await logout(alice)
    proxy_run(go, proxied)


def test_12_terminated_on_other_receivers_devices(proxied):
    async def go(proxy):
        alice, bob1, bob2 = await users(proxied, "alice", "bob@localhost/res1",
                                        "bob@localhost/res2")
        sid, iq, j = await initiate(alice, bob1, extra_callees=[bob2])
        await accept(alice, bob2, sid, iq, j)
        _, t = await bob1.next_jingle(action="session-terminate")
        assert reason_of(t)[0] == "cancel"
        for u in (alice, bob1, bob2):
            await logout(u)
    proxy_run(go, proxied)


def test_13_session_initiate_is_resent_on_demand(proxied):
    async def go(proxy):
        alice, bob1 = await users(proxied, "alice", "bob@localhost/res1")
        sid, iq, j = await initiate(alice, bob1)
        bob2 = await jlogin("bob@localhost/res2", "bobpass")
        assert bob2.jingle.empty()  # was not online for the gateway
        r = await bob2.send_jingle(GW, "existing-session-initiate", j.get("sid"),
                                   typ="get")
        assert r["type"] == "result"
        iq2, j2 = await bob2.next_jingle(action="session-initiate")
        assert j2.get("sid") == j.get("sid")
        assert_invite_request(j2, sid)
        assert str(iq2["from"]) == "alice\\40localhost@" + GW  # bare JID
        for u in (alice, bob1, bob2):
            await logout(u)
    proxy_run(go, proxied)


def test_14_replies_480_when_invitee_is_offline(proxied):
    async def go(proxy):
        from jingle import SipPeer
        peer = await SipPeer.start(5071)
        bob = await jlogin("bob@localhost/res1", "bobpass")
        bob.send_presence(pto=GW, ptype="unavailable")
        await until(lambda: "bob@localhost/res1" not in str(
            proxied.ctl("presence").stdout), 5, "bob offline")
        peer.invite("sip:bob@localhost", "sip:alice@localhost", "sip:bob@localhost",
                    sdp="")
        code, _ = await peer.next_response("INVITE", final=True, timeout=5)
        assert code == 480
        await logout(bob)
    proxy_run(go, proxied)


@pytest.mark.parametrize("action", ["session-accept", "session-terminate"],
                         ids=["15-accept", "16-cancel"])
def test_15_16_not_authorized_user_gets_404(proxied, action):
    async def go(proxy):
        alice, bob, kate = await users(proxied, "alice", "bob", "kate")
        sid, iq, j = await initiate(alice, bob)
        use_sid = sid if action == "session-accept" else j.get("sid")
        body = answer_for(j) if action == "session-accept" else \
            "<reason><decline/></reason>"
        r = await kate.send_jingle(BOB, action, use_sid, body)
        assert error_condition(r) == ("cancel", "item-not-found")
        for u in (alice, bob, kate):
            await logout(u)
    proxy_run(go, proxied)


FF_AUDIO = """
<content xmlns='urn:xmpp:jingle:1' creator='initiator' name='sdparta_0' senders='both'>
 <description xmlns='urn:xmpp:jingle:apps:rtp:1' media='audio'>
  <payload-type id='109' name='opus' clockrate='48000' channels='2'>
   <parameter xmlns='urn:xmpp:jingle:apps:rtp:1' name='maxplaybackrate' value='48000'/>
   <parameter xmlns='urn:xmpp:jingle:apps:rtp:1' name='stereo' value='1'/>
   <parameter xmlns='urn:xmpp:jingle:apps:rtp:1' name='useinbandfec' value='1'/>
  </payload-type>
  <payload-type id='0' name='PCMU' clockrate='8000'/>
  <payload-type id='101' name='telephone-event' clockrate='8000'>
   <parameter xmlns='urn:xmpp:jingle:apps:rtp:1' value='0-15'/>
  </payload-type>
  <rtcp-mux/>
  <source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' ssrc='1922778502'>
   <parameter name='cname' value='{a8e5e9e0-4c5b-4a43-8c4b-2d1a5c3e7f10}'/>
   <parameter name='msid' value='{0b1c} {2d3e}'/>
  </source>
 </description>
 <transport xmlns='urn:xmpp:jingle:transports:ice-udp:1' ufrag='85c05eb0' pwd='d1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6'>
  <fingerprint xmlns='urn:xmpp:jingle:apps:dtls:0' hash='sha-256' setup='actpass'>79:6C:0F:1E:9B:2F:5A:4E:3D:2C:1B:0A:99:88:77:66:55:44:33:22:11:00:FF:EE:DD:CC:BB:AA:09:08:07:06</fingerprint>
 </transport>
</content>
<content xmlns='urn:xmpp:jingle:1' creator='initiator' name='sdparta_1' senders='responder'>
 <description xmlns='urn:xmpp:jingle:apps:rtp:1' media='video'>
  <payload-type id='120' name='VP8' clockrate='90000'>
   <rtcp-fb xmlns='urn:xmpp:jingle:apps:rtp:rtcp-fb:0' type='nack'/>
   <rtcp-fb xmlns='urn:xmpp:jingle:apps:rtp:rtcp-fb:0' type='nack' subtype='pli'/>
  </payload-type>
  <rtcp-mux/>
  <source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' ssrc='1329556979'>
   <parameter name='cname' value='{a8e5e9e0-4c5b-4a43-8c4b-2d1a5c3e7f10}'/>
  </source>
 </description>
 <transport xmlns='urn:xmpp:jingle:transports:ice-udp:1' ufrag='85c05eb0' pwd='d1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6'>
  <fingerprint xmlns='urn:xmpp:jingle:apps:dtls:0' hash='sha-256' setup='actpass'>79:6C:0F:1E:9B:2F:5A:4E:3D:2C:1B:0A:99:88:77:66:55:44:33:22:11:00:FF:EE:DD:CC:BB:AA:09:08:07:06</fingerprint>
 </transport>
</content>""" + group("sdparta_0", "sdparta_1")


@pytest.mark.parametrize("action", ["source-remove", "source-add", "source-update"],
                         ids=["17", "18", "19"])
def test_17_18_19_reinvite_on_source_action(proxied, action):
    async def go(proxy):
        alice, bob = await users(proxied, "alice", "bob")
        sid, iq, j = await initiate(alice, bob)
        await accept(alice, bob, sid, iq, j)
        r = await alice.send_jingle(BOB, action, sid, FF_AUDIO)
        assert r["type"] == "result"
        _, s = await bob.next_jingle(action=action)
        assert s.get("sid") == j.get("sid")
        for u in (alice, bob):
            await logout(u)
    proxy_run(go, proxied)
