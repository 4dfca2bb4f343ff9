"""Jingle for the tests: an XMPP user that calls and answers (slixmpp), and
a scripted SIP user agent over UDP with exact control of every message."""
import asyncio
import re
import uuid
import xml.etree.ElementTree as ET

from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

from sipstream import read_messages
from xmpp_user import User

NS = "urn:xmpp:jingle:1"
NS_RTP = "urn:xmpp:jingle:apps:rtp:1"
NS_INFO = "urn:xmpp:jingle:apps:rtp:info:1"
GW = "sip.localhost"

# An audio+video offer as the reference suite's clients sent it: ICE-UDP with
# a candidate, DTLS fingerprint, rtcp-mux, BUNDLE.
CONTENTS = """
<content xmlns='urn:xmpp:jingle:1' creator='initiator' name='audio' senders='both'>
 <description xmlns='urn:xmpp:jingle:apps:rtp:1' media='audio'>
  <payload-type id='111' name='opus' clockrate='48000' channels='2'>
   <parameter name='minptime' value='10'/><parameter name='useinbandfec' value='1'/>
   <rtcp-fb xmlns='urn:xmpp:jingle:apps:rtp:rtcp-fb:0' type='transport-cc'/>
  </payload-type>
  <payload-type id='0' name='PCMU' clockrate='8000'/>
  <payload-type id='101' name='telephone-event' clockrate='8000'/>
  <rtcp-mux/>
 </description>
 <transport xmlns='urn:xmpp:jingle:transports:ice-udp:1' ufrag='7Gpn' pwd='MUOzzatqL2qP7n1uRC7msD+c'>
  <fingerprint xmlns='urn:xmpp:jingle:apps:dtls:0' hash='sha-256' setup='actpass'>AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99</fingerprint>
  <candidate foundation='1293499931' component='1' protocol='udp' priority='2122260223' ip='127.0.0.1' port='46515' type='host' generation='0' network='1' id='c1'/>
 </transport>
</content>
<content xmlns='urn:xmpp:jingle:1' creator='initiator' name='video' senders='both'>
 <description xmlns='urn:xmpp:jingle:apps:rtp:1' media='video'>
  <payload-type id='96' name='VP8' clockrate='90000'>
   <rtcp-fb xmlns='urn:xmpp:jingle:apps:rtp:rtcp-fb:0' type='nack'/>
   <rtcp-fb xmlns='urn:xmpp:jingle:apps:rtp:rtcp-fb:0' type='nack' subtype='pli'/>
  </payload-type>
  <rtcp-mux/>
 </description>
 <transport xmlns='urn:xmpp:jingle:transports:ice-udp:1' ufrag='7Gpn' pwd='MUOzzatqL2qP7n1uRC7msD+c'>
  <fingerprint xmlns='urn:xmpp:jingle:apps:dtls:0' hash='sha-256' setup='actpass'>AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99</fingerprint>
  <candidate foundation='1293499931' component='1' protocol='udp' priority='2122260223' ip='127.0.0.1' port='46515' type='host' generation='0' network='1' id='c2'/>
 </transport>
</content>
<group xmlns='urn:xmpp:jingle:apps:grouping:0' semantics='BUNDLE'>
 <content name='audio'/><content name='video'/>
</group>
"""

# An answer with audio only (video refused), as a callee's client writes it.
ANSWER = """
<content xmlns='urn:xmpp:jingle:1' creator='initiator' name='audio' senders='both'>
 <description xmlns='urn:xmpp:jingle:apps:rtp:1' media='audio'>
  <payload-type id='0' name='PCMU' clockrate='8000'/>
 </description>
 <transport xmlns='urn:xmpp:jingle:transports:ice-udp:1' ufrag='bbbb' pwd='bbbbbbbbbbbbbbbbbbbbbbbb'>
  <candidate foundation='1' component='1' protocol='udp' priority='2130706431' ip='127.0.0.1' port='40000' type='host' generation='0' id='a1'/>
 </transport>
</content>
"""

PHONE_SDP = ("v=0\r\no=phone 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
             "t=0 0\r\nm=audio 30000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n"
             "a=fmtp:101 0-16\r\na=sendrecv\r\n")


def q(tag, ns=NS):
    return "{%s}%s" % (ns, tag)


class JingleUser(User):
    """Receives Jingle IQs into self.jingle (answered 'result' unless
    self.refuse); sends Jingle requests and returns the IQ reply."""

    def __init__(self, jid, password):
        super().__init__(jid, password)
        self.jingle = asyncio.Queue()
        self.refuse = False
        self.on_jingle = None  # called with each Jingle request, if set
        self.register_handler(Callback(
            "jingle", MatchXPath("{jabber:client}iq/{%s}jingle" % NS), self._jingle))

    def _jingle(self, iq):
        if iq["type"] not in ("set", "get"):
            return
        self.jingle.put_nowait(iq)
        r = iq.reply(clear=True)
        if self.refuse:
            r["type"] = "error"
            r["error"]["condition"] = "service-unavailable"
        r.send()
        if self.on_jingle:
            self.on_jingle(iq)

    async def next_jingle(self, timeout=10, action=None):
        loop = asyncio.get_event_loop()
        end = loop.time() + timeout
        while True:
            left = end - loop.time()
            if left <= 0:
                raise asyncio.TimeoutError("no jingle %s within %ss" % (action, timeout))
            iq = await asyncio.wait_for(self.jingle.get(), left)
            j = iq.xml.find(q("jingle"))
            if action is None or j.get("action") == action:
                return iq, j

    async def send_jingle(self, to, action, sid, body="", typ="set", timeout=10):
        """Send <jingle/>; returns the reply IQ (result or error)."""
        iq = self.make_iq(id=self.new_id(), ito=to, itype=typ)
        j = ET.fromstring("<jingle xmlns='%s' action='%s' sid='%s'>%s</jingle>"
                          % (NS, action, sid, body))
        iq.append(j)
        try:
            return await iq.send(timeout=timeout)
        except Exception as e:  # slixmpp raises IqError for type=error
            if hasattr(e, "iq"):
                return e.iq
            raise

    def online_to_gateway(self):
        """Directed presence: how the gateway learns this resource (§6.0)."""
        self.send_presence(pto=GW)


async def jlogin(jid, password, port=5222, timeout=10):
    u = JingleUser(jid, password)
    u.connect(("127.0.0.1", port), use_ssl=False, force_starttls=False,
              disable_starttls=True)
    await asyncio.wait_for(u.started, timeout)
    return u


def error_condition(iq):
    e = iq.xml.find("{jabber:client}error")
    if e is None:
        return None
    for c in e:
        if c.tag.startswith("{urn:ietf:params:xml:ns:xmpp-stanzas}") and not c.tag.endswith("}text"):
            return e.get("type"), c.tag.split("}")[1]
    return e.get("type"), None


def reason_of(j):
    r = j.find(q("reason"))
    if r is None:
        return None, None
    names = [c.tag.split("}")[1] for c in r]
    se = r.find(q("sip-error"))
    return names[0] if names else None, (se.get("code") if se is not None else None)


# ---- SIP ----------------------------------------------------------------

def hdr(msg, name):
    for line in msg.split("\r\n\r\n", 1)[0].split("\r\n")[1:]:
        k, _, v = line.partition(":")
        if k.strip().lower() == name.lower():
            return v.strip()
    return None


def hdrs(msg, name):
    out = []
    for line in msg.split("\r\n\r\n", 1)[0].split("\r\n")[1:]:
        k, _, v = line.partition(":")
        if k.strip().lower() == name.lower():
            out.append(v.strip())
    return out


def body(msg):
    return msg.split("\r\n\r\n", 1)[1] if "\r\n\r\n" in msg else ""


def tag_of(v):
    m = re.search(r";tag=([^;>\s]+)", v or "")
    return m.group(1) if m else None


def cseq(msg):
    n, m = hdr(msg, "CSeq").split()
    return int(n), m


class SipPeer(asyncio.DatagramProtocol):
    """A SIP user agent on 127.0.0.1:port (UDP and TCP), scripted by the
    test. Responses to a request that came over TCP go back on its
    connection (RFC 3261 18.2.2); what we send goes over UDP."""

    def __init__(self, port):
        self.port = port
        self.requests = asyncio.Queue()
        self.responses = asyncio.Queue()
        self.transport = None
        self.server = None
        self.conns = {}  # Call-ID -> TCP writer of its latest request
        self.src = {}    # request text -> UDP source (replies go back there)
        self.tag = uuid.uuid4().hex[:8]
        # the Contact we send (a test may name another host or port)
        self.contact = "sip:peer@127.0.0.1:%d" % port

    running = []

    @classmethod
    async def start(cls, port):
        p = cls(port)
        cls.running.append(p)
        loop = asyncio.get_event_loop()
        await loop.create_datagram_endpoint(lambda: p, local_addr=("127.0.0.1", port))
        p.server = await asyncio.start_server(p._tcp, "127.0.0.1", port)
        return p

    def close(self):
        if self.transport:
            self.transport.close()
        if self.server:
            self.server.close()
        for w in self.conns.values():
            w.close()

    async def _tcp(self, reader, writer):
        def got(msg):
            if not msg.startswith("SIP/2.0 "):
                self.conns[hdr(msg, "Call-ID")] = writer
            self._got(msg, None)
        await read_messages(reader, writer, got)

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        self._got(data.decode("utf-8", "replace"), addr)

    def _got(self, msg, addr):
        if msg.startswith("SIP/2.0 "):
            self.responses.put_nowait(msg)
        else:
            if addr:
                self.src[msg] = addr
            self.requests.put_nowait((msg, addr))

    def send(self, data, addr=("127.0.0.1", 5600), via=None):
        data = data.encode() if isinstance(data, str) else data
        if not via:
            self.transport.sendto(data, addr)
            return
        w = self.conns.get(via)
        if w is not None and not w.is_closing():
            w.write(data)
        else:
            # RFC 3261 18.2.2: the connection is gone; open one to the
            # Via's sent-by (the gateway's listen address)
            asyncio.ensure_future(self._tcp_send(data, addr, via))

    async def _tcp_send(self, data, addr, via):
        reader, writer = await asyncio.open_connection(*addr)
        self.conns[via] = writer
        writer.write(data)
        asyncio.ensure_future(self._tcp(reader, writer))

    async def next_request(self, method=None, timeout=10):
        loop = asyncio.get_event_loop()
        end = loop.time() + timeout
        while True:
            left = end - loop.time()
            if left <= 0:
                raise asyncio.TimeoutError("no %s request within %ss" % (method, timeout))
            msg, addr = await asyncio.wait_for(self.requests.get(), left)
            if not msg.strip():
                continue  # the gateway's empty reachability datagram
            if method is None or msg.split(" ", 1)[0] == method:
                return msg

    async def next_response(self, method=None, final=False, timeout=10):
        loop = asyncio.get_event_loop()
        end = loop.time() + timeout
        while True:
            left = end - loop.time()
            if left <= 0:
                raise asyncio.TimeoutError("no response within %ss" % timeout)
            msg = await asyncio.wait_for(self.responses.get(), left)
            code = int(msg.split(" ", 2)[1])
            if method and cseq(msg)[1] != method:
                continue
            if final and code < 200:
                continue
            return code, msg

    def reply(self, req, code, reason, sdp="", totag=None, extra=""):
        """Answer a request; a To-tag (ours) is added when the To has none."""
        head = req.split("\r\n\r\n", 1)[0].split("\r\n")
        out = []
        for h in head[1:]:
            k = h.split(":", 1)[0].strip().lower()
            if k in ("via", "from", "call-id", "cseq", "record-route"):
                out.append(h)
            elif k == "to":
                if code > 100 and tag_of(h) is None:
                    h += ";tag=" + (totag or self.tag)
                out.append(h)
        out.append("Contact: <%s>" % self.contact)
        if sdp:
            out.append("Content-Type: application/sdp")
        tcp = "SIP/2.0/TCP" in (hdr(req, "Via") or "")
        self.send("SIP/2.0 %d %s\r\n%s\r\n%sContent-Length: %d\r\n\r\n%s"
                  % (code, reason, "\r\n".join(out), extra, len(sdp), sdp),
                  addr=self.src.get(req, ("127.0.0.1", 5600)),
                  via=hdr(req, "Call-ID") if tcp else None)

    def invite(self, ruri, frm, to, sdp=PHONE_SDP, callid=None,
               dst=("127.0.0.1", 5600)):
        """Send an INVITE to the gateway (or through a proxy at dst);
        returns the dialog as a dict."""
        d = {"callid": callid or uuid.uuid4().hex, "ftag": uuid.uuid4().hex[:8],
             "branch": "z9hG4bK" + uuid.uuid4().hex[:12], "cseq": 1,
             "ruri": ruri, "from": frm, "to": to, "sdp": sdp, "dst": dst}
        self.send(self._req("INVITE", d, d["branch"], 1, None, sdp,
                            "application/sdp"), dst)
        return d

    def _req(self, method, d, branch, n, totag, b="", ctype=None, ruri=None):
        return ("%s %s SIP/2.0\r\n"
                "Via: SIP/2.0/UDP 127.0.0.1:%d;branch=%s;rport\r\n"
                "Max-Forwards: 70\r\nFrom: <%s>;tag=%s\r\nTo: <%s>%s\r\n"
                "Call-ID: %s\r\nCSeq: %d %s\r\nContact: <%s>\r\n"
                "%sContent-Length: %d\r\n\r\n%s"
                % (method, ruri or d["ruri"], self.port, branch, d["from"], d["ftag"],
                   d["to"], ";tag=" + totag if totag else "", d["callid"], n, method,
                   self.contact, "Content-Type: %s\r\n" % ctype if b else "", len(b), b))

    def cancel(self, d):
        self.send(self._req("CANCEL", d, d["branch"], 1, None),
                  d.get("dst", ("127.0.0.1", 5600)))

    def ack(self, d, totag, n=1, branch=None):
        self.send(self._req("ACK", d, branch or ("z9hG4bK" + uuid.uuid4().hex[:12]),
                            n, totag), d.get("dst", ("127.0.0.1", 5600)))

    def in_dialog(self, d, method, totag, b="", ctype=None):
        """A request inside dialog d (we are its UAC side): next CSeq."""
        d["cseq"] += 1
        self.send(self._req(method, d, "z9hG4bK" + uuid.uuid4().hex[:12], d["cseq"],
                            totag, b, ctype, ruri=d.get("target")),
                  d.get("dst", ("127.0.0.1", 5600)))
        return d["cseq"]
