"""What a client such as Conversations needs to offer a call to a SIP
contact, with a real Prosody, slixmpp users and scripted SIP peers:

  - XEP-0115: the available presence of a SIP user's gateway JID (here
    from a scripted presence server's NOTIFY, open PIDF) carries
    <c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node ver/>;
  - XEP-0030 per entity: disco#info to that JID (bare and full, and with
    node='node#ver') answers identity client/phone and the Jingle RTP
    features; the ver recomputed here from that answer (XEP-0115 5.1)
    equals the presence's; the component keeps its own answer
    (gateway/sip, jabber:iq:register); an unknown node is item-not-found;
  - XEP-0353: an INVITE offering audio and video to a user with no known
    device is proposed with one <description/> per medium (audio, video),
    the same media as the session-initiate that follows the proceed.

Every wait has a timeout."""
import asyncio
import base64
import hashlib
import os
import pwd
import subprocess
import uuid
import xml.etree.ElementTree as ET

import pytest
from slixmpp.exceptions import IqError
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

import xmpp_user
from conftest import UAS_PORT, run
from jingle import GW, SipPeer, hdr, jlogin, q, tag_of

USER, PASS = "capsy", "capsypass"
PRES_PORT = 5186          # the scripted presence server
NS_CAPS = "http://jabber.org/protocol/caps"
NS_DISCO = "http://jabber.org/protocol/disco#info"
NS_RTP = "urn:xmpp:jingle:apps:rtp:1"
NS_JMI = "urn:xmpp:jingle-message:0"
NODE = "https://github.com/xsgw"
PIDF_OPEN = ('<?xml version="1.0" encoding="UTF-8"?>\n'
             '<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:%s@127.0.0.1">'
             '<tuple id="t1"><status><basic>open</basic></status></tuple></presence>')
AV_SDP = ("v=0\r\no=phone 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
          "t=0 0\r\nm=audio 30000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
          "m=video 30002 RTP/AVP 96\r\na=rtpmap:96 VP8/90000\r\n")


@pytest.fixture(scope="module")
def caps_user(prosody):
    """capsy: an XMPP user no other test uses (its roster is ours)."""
    cfg = os.path.join(prosody, "prosody.cfg.lua")
    owner = pwd.getpwuid(os.stat(os.path.join(prosody, "data")).st_uid).pw_name
    pre = ["runuser", "-u", owner, "--"] if os.getuid() == 0 and owner != "root" else []
    r = subprocess.run(pre + ["prosodyctl", "--config", cfg, "register", USER,
                              "localhost", PASS],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr + r.stdout


def presence_cfg():
    return '{server: "127.0.0.1:%d", subscribe_expires_s: 3600}' % PRES_PORT


class OpenPresenceServer:
    """Answers a SUBSCRIBE for user with 200 and a NOTIFY active whose PIDF
    says open (RFC 3856)."""

    def __init__(self, peer, user):
        self.peer, self.user = peer, user
        self.task = asyncio.ensure_future(self._serve())

    async def _serve(self):
        seen = set()
        while True:
            req = await self.peer.next_request(timeout=3600)
            if req.split(" ", 1)[0] != "SUBSCRIBE":
                continue
            key = (hdr(req, "Call-ID"), hdr(req, "CSeq"))
            if key in seen:
                continue  # a retransmission
            seen.add(key)
            self.peer.reply(req, 200, "OK", extra="Expires: 3600\r\n")
            if hdr(req, "Expires") == "0":
                continue
            body = PIDF_OPEN % self.user
            self.peer.send(
                "NOTIFY sip:xsgw@127.0.0.1:5600 SIP/2.0\r\n"
                "Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK%s;rport\r\n"
                "Max-Forwards: 70\r\nFrom: %s;tag=%s\r\nTo: %s\r\n"
                "Call-ID: %s\r\nCSeq: 1 NOTIFY\r\n"
                "Contact: <sip:peer@127.0.0.1:%d>\r\nEvent: presence\r\n"
                "Subscription-State: active;expires=3600\r\n"
                "Content-Type: application/pidf+xml\r\nContent-Length: %d\r\n\r\n%s"
                % (PRES_PORT, uuid.uuid4().hex[:12], hdr(req, "To").split(";")[0],
                   self.peer.tag, hdr(req, "From"), hdr(req, "Call-ID"),
                   PRES_PORT, len(body.encode()), body))

    def close(self):
        self.task.cancel()


def caps_ver(query):
    """XEP-0115 5.1 from a disco#info <query/> (no data forms here)."""
    ids = sorted("%s/%s/%s/%s" % (i.get("category", ""), i.get("type", ""),
                                  i.get("{http://www.w3.org/XML/1998/namespace}lang", ""),
                                  i.get("name", ""))
                 for i in query.findall("{%s}identity" % NS_DISCO))
    feats = sorted(f.get("var") for f in query.findall("{%s}feature" % NS_DISCO))
    s = "".join(x + "<" for x in ids + feats)
    return base64.b64encode(hashlib.sha1(s.encode()).digest()).decode()


async def disco(u, jid, node=None):
    """disco#info to jid: (type, <query/> or None, error condition)."""
    iq = u.make_iq_get(queryxmlns=NS_DISCO, ito=jid)
    if node:
        iq.xml.find("{%s}query" % NS_DISCO).set("node", node)
    try:
        r = await iq.send(timeout=10)
    except IqError as e:
        return "error", None, e.iq["error"]["condition"]
    return r["type"], r.xml.find("{%s}query" % NS_DISCO), None


def identities(query):
    return [(i.get("category"), i.get("type"))
            for i in query.findall("{%s}identity" % NS_DISCO)]


def features(query):
    return {f.get("var") for f in query.findall("{%s}feature" % NS_DISCO)}


def test_caps_in_presence_and_disco_per_entity(gateway_factory, caps_user):
    """A SIP contact's available presence carries <c/>; disco#info to its
    bare and full JID, with and without node#ver, is client/phone with the
    call features, and its XEP-0115 hash is the presence's ver."""
    gateway_factory(presence=presence_cfg())
    sipuser = "xc" + uuid.uuid4().hex[:10]
    gwjid = "%s@%s" % (sipuser, GW)

    async def go():
        u = await xmpp_user.login("%s@localhost/pc" % USER, PASS)
        await u.get_roster(timeout=10)
        seen = asyncio.Queue()
        u.add_event_handler("presence", lambda p: seen.put_nowait(p)
                            if p["from"].bare == gwjid else None)
        peer = await SipPeer.start(PRES_PORT)
        srv = OpenPresenceServer(peer, sipuser)
        try:
            u.send_presence(pto=gwjid, ptype="subscribe")
            loop = asyncio.get_event_loop()
            end = loop.time() + 20
            avail = None
            while avail is None:
                p = await asyncio.wait_for(seen.get(), max(0.1, end - loop.time()))
                if p["type"] in ("available", "chat", "away", "xa", "dnd"):
                    avail = p
            c = avail.xml.find("{%s}c" % NS_CAPS)
            assert c is not None, avail
            assert c.get("hash") == "sha-1" and c.get("node") == NODE, avail
            ver = c.get("ver")
            assert ver

            for jid in (gwjid, gwjid + "/phone"):
                for node in (None, "%s#%s" % (NODE, ver)):
                    t, qy, cond = await disco(u, jid, node)
                    assert t == "result", (jid, node, cond)
                    assert qy.get("node") == node
                    assert identities(qy) == [("client", "phone")]
                    f = features(qy)
                    for want in (NS_DISCO, "urn:xmpp:jingle:1", NS_RTP,
                                 "urn:xmpp:jingle:apps:rtp:audio",
                                 "urn:xmpp:jingle:apps:rtp:video",
                                 "urn:xmpp:jingle:transports:ice-udp:1",
                                 "urn:xmpp:jingle:apps:dtls:0", NS_JMI,
                                 "urn:xmpp:receipts"):
                        assert want in f, (want, f)
                    assert "jabber:iq:register" not in f
                    assert caps_ver(qy) == ver

        finally:
            srv.close()
            peer.close()
            try:
                await u.del_roster_item(gwjid, timeout=5)
            except Exception:
                pass
            await xmpp_user.logout(u)
    run(go(), timeout=90)


def test_disco_unknown_node_and_component(gateway, caps_user):
    """Without any presence: a user JID answers client/phone; the component
    keeps gateway/sip with jabber:iq:register; any other node (to a user
    JID or to the component) is item-not-found."""
    gwjid = "xd%s@%s" % (uuid.uuid4().hex[:10], GW)

    async def go():
        u = await xmpp_user.login("%s@localhost/pc" % USER, PASS)
        try:
            t, qy, _ = await disco(u, gwjid)
            assert t == "result" and identities(qy) == [("client", "phone")]
            t, qy, _ = await disco(u, GW)
            assert t == "result" and identities(qy) == [("gateway", "sip")]
            assert "jabber:iq:register" in features(qy)
            assert (await disco(u, gwjid, NODE + "#stale"))[2] == "item-not-found"
            assert (await disco(u, gwjid, "http://example.org/other"))[2] \
                == "item-not-found"
            assert (await disco(u, GW, "x"))[2] == "item-not-found"
        finally:
            await xmpp_user.logout(u)
    run(go(), timeout=60)


def test_propose_carries_audio_and_video(gateway):
    """XEP-0353: an audio+video INVITE to alice (no device known) is
    proposed with both media, as the session-initiate after proceed."""
    async def go():
        peer = await SipPeer.start(UAS_PORT)
        alice = await jlogin("alice@localhost/phone", "alicepass")
        props = asyncio.Queue()
        alice.register_handler(Callback("capsjmi", MatchXPath(
            "{jabber:client}message/{%s}propose" % NS_JMI),
            lambda m: props.put_nowait(m)))
        try:
            d = peer.invite("sip:alice@localhost", "sip:carol@127.0.0.1:%d" % UAS_PORT,
                            "sip:alice@localhost", sdp=AV_SDP)
            m = await asyncio.wait_for(props.get(), 10)
            p = m.xml.find("{%s}propose" % NS_JMI)
            media = [x.get("media") for x in p.findall("{%s}description" % NS_RTP)]
            assert media == ["audio", "video"], ET.tostring(p)

            # proceed: the session-initiate carries the same media
            r = alice.make_message(mto=m["from"], mtype="chat")
            r.append(ET.fromstring("<proceed xmlns='%s' id='%s'/>"
                                   % (NS_JMI, p.get("id"))))
            r.send()
            iq, j = await alice.next_jingle(action="session-initiate")
            assert j.get("sid") == p.get("id")
            assert [c.find("{%s}description" % NS_RTP).get("media")
                    for c in j.findall(q("content"))] == media
            t = await alice.send_jingle(iq["from"], "session-terminate", p.get("id"),
                                        "<reason><decline/></reason>")
            assert t["type"] == "result"
            code, resp = await peer.next_response("INVITE", final=True)
            assert code >= 400
            peer.ack(d, tag_of(hdr(resp, "To")), branch=d["branch"])
        finally:
            peer.close()
            await xmpp_user.logout(alice)
    run(go())
