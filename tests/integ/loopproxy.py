"""The reference suite's SIP proxy mock, as a scripted B2BUA (reference
§3.2): it decides what each test sees by the To user of the gateway's
INVITE.

  error.NNN   final response NNN
  +...        183, then 200 with the phone SDP
  *...        as +, then a re-INVITE without a=jingle-action
  other       a loop back: a B-leg INVITE to the gateway with a new
              Call-ID and the browser offer; B-leg answers are relayed to
              the A-leg (200 with the "inactive video" answer), CANCEL
              and in-dialog requests are relayed leg to leg.

UDP and TCP on 127.0.0.1:PORT; responses go back the way the request came.
"""
import asyncio
import os
import re
import uuid

from sipstream import read_messages

HERE = os.path.dirname(os.path.abspath(__file__))
SDP_DIR = os.path.join(HERE, "..", "data", "sdp")
GW = ("127.0.0.1", 5600)


def sdp(name):
    with open(os.path.join(SDP_DIR, name), newline="") as f:
        return f.read()


class Msg:
    def __init__(self, text):
        self.text = text
        head, _, self.body = text.partition("\r\n\r\n")
        lines = head.split("\r\n")
        self.first = lines[0]
        self.hdrs = []
        for line in lines[1:]:
            k, _, v = line.partition(":")
            self.hdrs.append((k.strip(), v.strip()))
        parts = self.first.split(" ", 2)
        self.is_resp = parts[0] == "SIP/2.0"
        self.code = int(parts[1]) if self.is_resp else 0
        self.method = None if self.is_resp else parts[0]
        self.ruri = None if self.is_resp else parts[1]

    def get(self, name):
        for k, v in self.hdrs:
            if k.lower() == name.lower():
                return v
        return None

    def all(self, name):
        return [v for k, v in self.hdrs if k.lower() == name.lower()]

    @property
    def callid(self):
        return self.get("Call-ID")

    @property
    def cseq(self):
        n, m = self.get("CSeq").split()
        return int(n), m


def tag_of(v):
    m = re.search(r";tag=([^;>\s]+)", v or "")
    return m.group(1) if m else None


def uri_of(v):
    m = re.search(r"<([^>]+)>", v or "")
    return m.group(1) if m else (v or "").split(";")[0]


def user_of(v):
    m = re.match(r"sips?:([^@;>]+)@", uri_of(v))
    return m.group(1) if m else ""


class Leg:
    """One dialog of the proxy with the gateway."""

    def __init__(self, callid):
        self.callid = callid
        self.invite = None    # the INVITE (Msg) of this leg
        self.reply_to = None  # how to answer the A-leg INVITE
        self.mytag = uuid.uuid4().hex[:8]
        self.their_tag = None
        self.their_contact = None
        self.cseq = 100
        self.other = None
        self.uac = False      # True: we sent the INVITE of this leg
        self.branch = None


class LoopProxy(asyncio.DatagramProtocol):
    def __init__(self, port):
        self.port = port
        self.legs = {}
        self.transport = None
        self.server = None
        self.log = []

    @classmethod
    async def start(cls, port=12345):
        p = cls(port)
        loop = asyncio.get_event_loop()
        await loop.create_datagram_endpoint(lambda: p, local_addr=("127.0.0.1", port))
        p.server = await asyncio.start_server(p._tcp, "127.0.0.1", port)
        return p

    def close(self):
        if self.transport:
            self.transport.close()
        if self.server:
            self.server.close()

    # ---- transport ---------------------------------------------------
    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        self._got(Msg(data.decode("utf-8", "replace")), ("udp", addr))

    async def _tcp(self, reader, writer):
        await read_messages(reader, writer,
                            lambda text: self._got(Msg(text), ("tcp", writer)))

    def _send(self, text, how=("udp", GW)):
        data = text.encode()
        if how[0] == "tcp" and not how[1].is_closing():
            how[1].write(data)
        else:
            self.transport.sendto(data, how[1] if how[0] == "udp" else GW)

    # ---- building messages -------------------------------------------
    def respond(self, req, how, code, reason, leg=None, body=""):
        out = []
        for k, v in req.hdrs:
            kl = k.lower()
            if kl in ("via", "from", "call-id", "cseq", "record-route"):
                out.append("%s: %s" % (k, v))
            elif kl == "to":
                if code > 100 and tag_of(v) is None and leg is not None:
                    v += ";tag=" + leg.mytag
                out.append("To: " + v)
        out.append("Contact: <sip:proxy@127.0.0.1:%d>" % self.port)
        if body:
            out.append("Content-Type: application/sdp")
        self._send("SIP/2.0 %d %s\r\n%s\r\nContent-Length: %d\r\n\r\n%s"
                   % (code, reason, "\r\n".join(out), len(body.encode()), body), how)

    def request(self, leg, method, body="", cseq=None, branch=None, ruri=None,
                extra=""):
        """A request from us on leg (to the gateway, over UDP)."""
        if cseq is None:
            leg.cseq += 1
            cseq = leg.cseq
        branch = branch or ("z9hG4bK" + uuid.uuid4().hex[:12])
        inv = leg.invite
        if leg.uac:
            frm = inv.get("From")
            to = inv.get("To") + (";tag=" + leg.their_tag if leg.their_tag
                                  and method != "CANCEL" else "")
            ruri = ruri or (leg.their_contact if method not in ("CANCEL",)
                            and leg.their_contact else inv.ruri)
        else:
            frm = inv.get("To") + ";tag=" + leg.mytag
            to = inv.get("From")
            ruri = ruri or uri_of(inv.get("Contact"))
        text = ("%s %s SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=%s;rport\r\n"
                "Max-Forwards: 70\r\nFrom: %s\r\nTo: %s\r\nCall-ID: %s\r\n"
                "CSeq: %d %s\r\nContact: <sip:proxy@127.0.0.1:%d>\r\n%s"
                "%sContent-Length: %d\r\n\r\n%s"
                % (method, ruri, self.port, branch, frm, to, leg.callid, cseq,
                   method, self.port, extra,
                   "Content-Type: application/sdp\r\n" if body else "",
                   len(body.encode()), body))
        self._send(text)
        return branch

    # ---- behaviour -----------------------------------------------------
    def _got(self, m, how):
        self.log.append(m)
        if m.is_resp:
            self._response(m)
        elif m.method == "INVITE" and tag_of(m.get("To")) is None:
            self._invite(m, how)
        elif m.method == "CANCEL":
            self._cancel(m, how)
        elif m.method == "ACK":
            pass
        else:
            self._in_dialog(m, how)

    def _invite(self, m, how):
        if m.callid in self.legs:
            return  # a retransmission
        a = Leg(m.callid)
        a.invite = m
        a.reply_to = how
        self.legs[m.callid] = a
        self.respond(m, how, 100, "Trying")
        user = user_of(m.get("To"))
        loop = asyncio.get_event_loop()
        if user.startswith("error."):
            code = int(user.split(".", 1)[1])
            self.respond(m, how, code, "Scripted Error", a)
            return
        if user[:1] in ("+", "*"):
            self.respond(m, how, 183, "Session Progress", a)

            def answer():
                self.respond(m, how, 200, "OK", a, sdp("ref_phone.sdp"))
                if user[:1] == "*":
                    loop.call_later(0.2, lambda: self.request(
                        a, "INVITE", sdp("ref_phone.sdp")))
            loop.call_later(0.2, answer)
            return
        # the loop back: a B-leg with a new Call-ID
        loop.call_later(0.01, lambda: self.respond(m, how, 180, "Ringing", a))
        b = Leg(uuid.uuid4().hex)
        b.uac = True
        b.other, a.other = a, b
        self.legs[b.callid] = b
        b.invite = Msg(
            "INVITE %s SIP/2.0\r\nFrom: %s\r\nTo: %s\r\n\r\n"
            % (uri_of(m.get("To")), m.get("From"), m.get("To")))

        def leg_b():
            b.branch = self.request(b, "INVITE", sdp("ref_browser_offer.sdp"),
                                    cseq=1, ruri=uri_of(m.get("To")))
        loop.call_later(0.1, leg_b)

    def _cancel(self, m, how):
        a = self.legs.get(m.callid)
        self.respond(m, how, 200, "OK", a)
        if not a or a.invite is None:
            return
        self.respond(a.invite, a.reply_to, 487, "Request Terminated", a)
        b = a.other
        if b and b.branch:
            self.request(b, "CANCEL", cseq=1, branch=b.branch,
                         ruri=b.invite.ruri)

    def _in_dialog(self, m, how):
        leg = self.legs.get(m.callid)
        self.respond(m, how, 200 if leg else 481, "OK" if leg else "No Dialog", leg)
        if not leg or not leg.other:
            return
        o = leg.other
        # re-sent on the other leg as is (a=jingle-action included)
        self.request(o, m.method, m.body or "")
        if m.method == "BYE":
            self.legs.pop(leg.callid, None)
            self.legs.pop(o.callid, None)

    def _response(self, m):
        leg = self.legs.get(m.callid)
        if not leg:
            return
        n, method = m.cseq
        if method != "INVITE":
            return
        if m.code >= 200:
            # ACK: for 2xx a new transaction; for others hop-by-hop (same
            # branch) — both go to the gateway the same way here
            if tag_of(m.get("To")):
                leg.their_tag = tag_of(m.get("To"))
            if m.get("Contact"):
                leg.their_contact = uri_of(m.get("Contact"))
            branch = None if m.code < 300 else re.search(
                r"branch=([^;\s]+)", m.get("Via")).group(1)
            self.request(leg, "ACK", cseq=n, branch=branch)
        elif m.code > 100 and tag_of(m.get("To")):
            leg.their_tag = tag_of(m.get("To"))
            if m.get("Contact"):
                leg.their_contact = uri_of(m.get("Contact"))
        if not leg.uac or n != 1 or not leg.other:
            return
        a = leg.other
        if 200 <= m.code < 300:
            self.respond(a.invite, a.reply_to, 200, "OK", a,
                         sdp("ref_inactive_video_answer.sdp"))
        elif m.code >= 300 and m.code != 487:
            self.respond(a.invite, a.reply_to, m.code, m.first.split(" ", 2)[2], a)
