"""XMPP payloads the gateway must tell apart, end to end (real Prosody,
slixmpp users, a scripted SIP peer):

- Jingle session-info in an answered call (XEP-0166 7.2, XEP-0167 7): a
  payload matched by name AND namespace; an unknown one (or a known name
  in a wrong namespace) is refused with <feature-not-implemented/> +
  <unsupported-info/>; <mute/> is acknowledged; an empty one is a ping.
- A chat with several <body/> in different xml:lang (RFC 6121 5.2.3): the
  SIP MESSAGE carries the body in the stanza's language.
- An end-to-end encrypted chat (OMEMO with a fallback body and a receipt
  request): not-acceptable back to the sender, no MESSAGE, no receipt.
"""
import asyncio
import uuid
import xml.etree.ElementTree as ET

from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

from conftest import UAS_PORT, run
from jingle import (CONTENTS, GW, PHONE_SDP, SipPeer, body, cseq,
                    error_condition, jlogin)
from xmpp_user import login, logout

BOB = "bob@" + GW  # sip:bob@127.0.0.1:5070, the scripted peer
NS_INFO = "urn:xmpp:jingle:apps:rtp:info:1"
NS_JINGLE_ERR = "urn:xmpp:jingle:errors:1"
NS_RECEIPTS = "urn:xmpp:receipts"


async def call_out(alice, peer, sid):
    """alice calls bob@gw; the peer rings (180) and answers (200)."""
    r = await alice.send_jingle(BOB, "session-initiate", sid, CONTENTS)
    assert r["type"] == "result"
    inv = await peer.next_request("INVITE")
    peer.reply(inv, 180, "Ringing")
    await alice.next_jingle(action="session-info")
    peer.reply(inv, 200, "OK", sdp=PHONE_SDP)
    await alice.next_jingle(action="session-accept")
    await peer.next_request("ACK")
    return inv


def unsupported_info(r):
    assert r["type"] == "error", r
    assert error_condition(r) == ("modify", "feature-not-implemented"), r
    e = r.xml.find("{jabber:client}error")
    assert e.find("{%s}unsupported-info" % NS_JINGLE_ERR) is not None, r


def test_session_info_payloads(gateway):
    async def go():
        peer = await SipPeer.start(UAS_PORT)
        alice = await jlogin("alice@localhost/phone", "alicepass")
        sid = "p" + uuid.uuid4().hex[:12]
        await call_out(alice, peer, sid)
        # an unknown payload
        unsupported_info(await alice.send_jingle(
            BOB, "session-info", sid, "<foo xmlns='urn:example:unknown'/>"))
        # XEP-0167 informational: acknowledged, nothing to SIP
        r = await alice.send_jingle(
            BOB, "session-info", sid,
            "<mute xmlns='%s' creator='initiator' name='audio'/>" % NS_INFO)
        assert r["type"] == "result", r
        # no payload: a ping (XEP-0166 7.2)
        r = await alice.send_jingle(BOB, "session-info", sid, "")
        assert r["type"] == "result", r
        # a known name in a wrong namespace: unknown, no re-INVITE
        unsupported_info(await alice.send_jingle(
            BOB, "session-info", sid,
            "<hold xmlns='urn:xmpp:jingle:apps:rtp:info:0'/>"))
        # the first request the peer sees since the ACK is this DTMF INFO
        r = await alice.send_jingle(
            BOB, "session-info", sid,
            "<dtmf xmlns='urn:xmpp:jingle:dtmf:0' code='4'/>")
        assert r["type"] == "result", r
        info = await peer.next_request(timeout=10)
        assert info.startswith("INFO "), info
        assert "Signal=4" in body(info)
        peer.reply(info, 200, "OK")
        r = await alice.send_jingle(BOB, "session-terminate", sid,
                                    "<reason xmlns='urn:xmpp:jingle:1'>"
                                    "<success/></reason>")
        assert r["type"] == "result"
        bye = await peer.next_request("BYE")
        peer.reply(bye, 200, "OK")
        await logout(alice)
    run(go())


def test_chat_body_in_stanza_language(gateway):
    async def go():
        peer = await SipPeer.start(UAS_PORT)
        u = await login("alice@localhost/pc", "alicepass")
        u.send_raw("<message to='%s' type='chat' id='lang1' xml:lang='en'>"
                   "<body xml:lang='de'>Hallo Bob</body>"
                   "<body xml:lang='en'>Hello Bob</body></message>" % BOB)
        msg = await peer.next_request("MESSAGE", timeout=10)
        peer.reply(msg, 200, "OK")
        await logout(u)
        return msg

    msg = run(go())
    assert body(msg) == "Hello Bob", msg
    assert cseq(msg)[1] == "MESSAGE"


OMEMO = ("<encrypted xmlns='eu.siacs.conversations.axolotl'>"
         "<header sid='27183'><key rid='31415'>AAAA</key><iv>BBBB</iv>"
         "</header><payload>CCCC</payload></encrypted>"
         "<encryption xmlns='urn:xmpp:eme:0' name='OMEMO' "
         "namespace='eu.siacs.conversations.axolotl'/>"
         "<store xmlns='urn:xmpp:hints'/>")


def test_omemo_chat_refused(gateway):
    async def go():
        peer = await SipPeer.start(UAS_PORT)
        u = await login("alice@localhost/pc", "alicepass")
        receipts = asyncio.Queue()
        u.register_handler(Callback(
            "receipts", MatchXPath(
                "{jabber:client}message/{%s}received" % NS_RECEIPTS),
            receipts.put_nowait))
        u.send_raw("<message to='%s' type='chat' id='enc1'>%s"
                   "<body>I sent you an OMEMO encrypted message but your "
                   "client doesn't seem to support that.</body>"
                   "<request xmlns='%s'/></message>"
                   % (BOB, OMEMO, NS_RECEIPTS))
        err = await u.next_message(
            10, lambda m: m["type"] == "error" and m["id"] == "enc1")
        # a plain chat afterwards is the first MESSAGE the peer sees
        m = u.make_message(mto=BOB, mbody="plain after", mtype="chat")
        m["id"] = "plain1"
        m.xml.append(ET.Element("{%s}request" % NS_RECEIPTS))
        m.send()
        msg = await peer.next_request(timeout=10)
        peer.reply(msg, 200, "OK")
        rc = await asyncio.wait_for(receipts.get(), 10)
        late = []
        while not receipts.empty():
            late.append(receipts.get_nowait())
        await logout(u)
        return err, msg, rc, late

    err, msg, rc, late = run(go())
    assert str(err["from"]) == BOB
    e = err.xml.find("{jabber:client}error")
    assert e.get("type") == "modify"
    assert e.find("{urn:ietf:params:xml:ns:xmpp-stanzas}not-acceptable") \
        is not None, err
    assert e.findtext("{urn:ietf:params:xml:ns:xmpp-stanzas}text") == \
        "end-to-end encrypted messages cannot reach SIP users"
    assert msg.startswith("MESSAGE "), msg
    assert body(msg) == "plain after", msg
    ids = [r.xml.find("{%s}received" % NS_RECEIPTS).get("id")
           for r in [rc] + late]
    assert ids == ["plain1"], ids
