"""The sip-front at the edges (issue 9): what a SIP peer sees for requests
that are malformed, oversized or need a transport fallback, with a real
Prosody, the gateway under its supervisor, SIPp and scripted peers."""
import asyncio
import os
import re
import socket
import time
import uuid

import pytest

from conftest import (GW_SIP, HERE, UAS_PORT, Gateway, run, uas_args,
                      wait_for)
from jingle import GW, SipPeer, jlogin, reason_of
from sipraw import request
from xmpp_user import login, logout

CORPUS = os.path.join(HERE, "..", "data", "corpus", "rfc4475")
GW_ADDR = ("127.0.0.1", int(GW_SIP.split(":")[1]))


def invalid_messages():
    with open(os.path.join(CORPUS, "INDEX.tsv")) as f:
        rows = [ln.rstrip("\n").split("\t") for ln in f][1:]
    return [os.path.basename(r[0]) for r in rows if r[4] == "invalid"]


@pytest.fixture(scope="module")
def edge_gw(prosody, tmp_path_factory):
    # debug: test_debug_log_has_sip_headers_not_bodies reads its log
    g = Gateway(str(tmp_path_factory.mktemp("edge")),
                log_level="debug").start()
    yield g
    assert g.stop() == 0, g.read_log()[-4000:]
    reps = g.sanitizer_reports()
    assert not reps, "sanitizer reports:\n" + "\n".join(reps)[:8000]


def to_me(data, port):
    """The message with its top Via's sent-by replaced by 127.0.0.1:port
    (the answer comes back here: RFC 3261 18.2.2), nothing else changed."""
    m = re.search(rb"(?im)^(?:via|v)[ \t]*:[ \t]*SIP[ \t]*/[ \t]*[0-9.]+"
                  rb"[ \t]*/[ \t]*[A-Za-z]+[ \t]+([^;,\s]+)", data)
    assert m, "no Via"
    return data[:m.start(1)] + b"127.0.0.1:%d" % port + data[m.end(1):]


def answers(sock, timeout):
    """Every SIP response read within timeout: [(code, text)]."""
    out = []
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        sock.settimeout(max(0.01, end - time.monotonic()))
        try:
            data = sock.recv(65535).decode("utf-8", "replace")
        except socket.timeout:
            break
        if data.startswith("SIP/2.0 "):
            out.append((int(data.split(" ", 2)[1]), data))
            if out[-1][0] >= 200:
                break
    return out


@pytest.mark.parametrize("name", invalid_messages())
def test_rfc4475_invalid_never_2xx(edge_gw, name):
    """RFC 4475 3.1.2: a syntactically invalid request is answered 4xx (505
    for an unknown version), never accepted; an invalid response is
    dropped. The gateway keeps running."""
    with open(os.path.join(CORPUS, name), "rb") as f:
        data = f.read()
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    try:
        is_request = not data.startswith(b"SIP/")
        s.sendto(to_me(data, s.getsockname()[1]) if is_request else data,
                 GW_ADDR)
        got = answers(s, 5 if is_request else 1)
    finally:
        s.close()
    finals = [c for c, _ in got if c >= 200]
    if not is_request:
        assert got == []
    elif name == "badvers.dat":
        assert finals in ([505], [400]), got
    else:
        assert len(finals) == 1 and 400 <= finals[0] < 500, got
    assert all(w["restarts"] == 0 for w in edge_gw.status().values())


def udp_message(size, tag):
    """A MESSAGE to alice of exactly size bytes from 127.0.0.1:5072."""
    req = request("MESSAGE", "sip:alice@localhost", "sip:bob@127.0.0.1",
                  "sip:alice@localhost", 5072, body=b"x", ctype="text/plain")
    pad = size - len(req)
    body = (tag + "y" * (pad + 1 - len(tag))).encode()
    req = request("MESSAGE", "sip:alice@localhost", "sip:bob@127.0.0.1",
                  "sip:alice@localhost", 5072, body=body, ctype="text/plain")
    # Content-Length has as many digits as before or one more
    if len(req) != size:
        body = body[:len(body) - (len(req) - size)]
        req = request("MESSAGE", "sip:alice@localhost", "sip:bob@127.0.0.1",
                      "sip:alice@localhost", 5072, body=body,
                      ctype="text/plain")
    assert len(req) == size
    return req


def test_udp_requests_up_to_64k(edge_gw):
    """RFC 3261 18.1.1: a 20 KB MESSAGE over UDP is read whole and
    delivered (libre's default 8 KiB read made it "400 Content-Length
    Mismatch"); the largest datagram, too large for a frame, gets 413."""
    tag = uuid.uuid4().hex

    async def go():
        u = await login("alice@localhost/pc", "alicepass")
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 5072))
        try:
            s.sendto(udp_message(20000, tag), GW_ADDR)
            got = answers(s, 10)
            msg = await u.next_message(10, lambda m: tag in m["body"])
            s.sendto(udp_message(65507, "big"), GW_ADDR)
            big = answers(s, 10)
        finally:
            s.close()
        await logout(u)
        return got, msg, big

    got, msg, big = run(go())
    assert [c for c, _ in got if c >= 200] == [202], got
    assert len(msg["body"]) > 19000
    assert [c for c, _ in big if c >= 200] == [413], big


class SipTcp:
    """A SIP peer on one TCP connection to the gateway: requests out,
    responses in, framed by Content-Length."""

    def __init__(self):
        self.s = socket.create_connection(GW_ADDR, timeout=10)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.eof = False

    def send(self, data, piece=0):
        """All of data; in pieces of piece bytes, each its own segment."""
        for i in range(0, len(data), piece or len(data) or 1):
            self.s.sendall(data[i:i + (piece or len(data))])

    def _fill(self, deadline):
        self.s.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = self.s.recv(65536)
        except socket.timeout:
            return False
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            self.eof = True
            return False
        self.buf += chunk
        return True

    def pong(self, timeout=5):
        """A CRLF keep-alive answer (RFC 5626 4.4.1)."""
        deadline = time.monotonic() + timeout
        while len(self.buf) < 2 and self._fill(deadline):
            pass
        got, self.buf = self.buf[:2], self.buf[2:]
        return got

    def response(self, timeout=10):
        """The next response as (code, head text), or None: none within
        timeout or the connection closed."""
        deadline = time.monotonic() + timeout
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end >= 0:
                head = self.buf[:end].decode("utf-8", "replace")
                m = re.search(r"(?im)^(?:content-length|l)[ \t]*:[ \t]*(\d+)",
                              head)
                total = end + 4 + (int(m.group(1)) if m else 0)
                if len(self.buf) >= total:
                    self.buf = self.buf[total:]
                    return int(head.split(" ", 2)[1]), head
            if self.eof or not self._fill(deadline):
                return None

    def final(self, timeout=10):
        while True:
            r = self.response(timeout)
            if r is None or r[0] >= 200:
                return r

    def close(self):
        self.s.close()


def tcp_request(method="MESSAGE", body=b"", extra=""):
    req = request(method, "sip:alice@localhost", "sip:bob@127.0.0.1",
                  "sip:alice@localhost", 5072, body=body, extra=extra,
                  ctype="text/plain")
    return req.replace(b"SIP/2.0/UDP", b"SIP/2.0/TCP")


def hdr(text, name):
    m = re.search(r"(?im)^%s[ \t]*:[ \t]*(.*?)\r?$" % name, text)
    return m.group(1) if m else None


@pytest.mark.parametrize("name", invalid_messages())
def test_rfc4475_invalid_over_tcp(edge_gw, name):
    """RFC 4475 3.1.2 over TCP: the same answers as over UDP, on the
    connection the request came on (libre alone closed the connection
    unanswered for what it cannot decode); clerr.dat's body never comes
    (the stream waits, RFC 4475 3.1.2.2), a response gets no answer."""
    with open(os.path.join(CORPUS, name), "rb") as f:
        data = f.read()
    if b"\r\n\r\n" not in data:  # baddn.dat as archived: a datagram ends
        data += b"\r\n"           # there, a stream needs its blank line
    c = SipTcp()
    try:
        if not data.startswith(b"SIP/"):
            # our own sent-by, as over UDP: the corpus shares branches
            # (baddate's INVITE and mismatch01 are one transaction else)
            data = to_me(data, c.s.getsockname()[1])
        c.send(data)
        got = c.final(2 if name == "clerr.dat" or data.startswith(b"SIP/")
                      else 10)
    finally:
        c.close()
    if data.startswith(b"SIP/") or name == "clerr.dat":
        assert got is None, got
    elif name == "badvers.dat":
        assert got and got[0] in (505, 400), got
    else:
        assert got and 400 <= got[0] < 500, got
    assert all(w["restarts"] == 0 for w in edge_gw.status().values())


def test_tcp_oversize_request_gets_413_and_the_connection_goes_on(edge_gw):
    """RFC 3261 21.4.11 over TCP: a 1 MiB MESSAGE is answered 413 on its
    connection (the same transaction: Via, Call-ID, CSeq; a To tag), its
    body is skipped, and the next MESSAGE on the connection — sent in small
    pieces, after a CRLF keep-alive — is delivered: nothing of the big one
    reaches the user. (libre alone closed the connection unanswered.)"""
    tag = uuid.uuid4().hex
    big = tcp_request(body=b"z" * (1 << 20))
    small = tcp_request(body=("after the big one " + tag).encode())

    async def go():
        u = await login("alice@localhost/pc", "alicepass")
        c = SipTcp()
        try:
            c.send(big)
            first = c.final()
            c.send(b"\r\n\r\n")
            pong = c.pong()
            c.send(small, piece=97)
            second = c.final()
            msg = await u.next_message(10, lambda m: tag in m["body"])
            others = await u.drain(1, 1, lambda m: "zzz" in m["body"])
        finally:
            c.close()
        await logout(u)
        return first, pong, second, msg, others

    first, pong, second, msg, others = run(go())
    head = big.split(b"\r\n\r\n")[0].decode()
    assert first and first[0] == 413, first
    assert hdr(first[1], "Call-ID") == hdr(head, "Call-ID")
    assert hdr(first[1], "CSeq") == "1 MESSAGE"
    assert hdr(first[1], "Via") == hdr(head, "Via")
    assert ";tag=" in hdr(first[1], "To")
    assert pong == b"\r\n"
    assert second and second[0] == 202, second
    assert msg["body"] == "after the big one " + tag
    assert others == []


def test_tcp_requests_back_to_back_in_pieces(edge_gw):
    """Three MESSAGEs sent as one stream in 13-byte pieces and one MESSAGE
    of 25 KB are each answered 202 and delivered in
    order, whole."""
    tag = uuid.uuid4().hex
    reqs = [tcp_request(body=("%s %d" % (tag, i)).encode())
            for i in range(3)]
    mid = tcp_request(body=("%s big " % tag).encode() + b"m" * 25000)

    async def go():
        u = await login("alice@localhost/pc", "alicepass")
        c = SipTcp()
        try:
            c.send(b"".join(reqs), piece=13)
            codes = [c.final() for _ in reqs]
            c.send(mid)
            codes.append(c.final())
            msgs = await u.drain(4, 15, lambda m: tag in m["body"])
        finally:
            c.close()
        await logout(u)
        return codes, msgs

    codes, msgs = run(go())
    assert [r and r[0] for r in codes] == [202] * 4, codes
    assert [m["body"] for m in msgs[:3]] == ["%s %d" % (tag, i)
                                             for i in range(3)]
    assert len(msgs[3]["body"]) == len(tag) + 5 + 25000


@pytest.mark.parametrize("kind", ["no-length", "undecodable", "huge-head"])
def test_tcp_unframeable_request_answered_then_ignored(edge_gw, kind):
    """What cannot be framed past gets its answer on the connection: no
    Content-Length (RFC 3261 18.3) → 400, an undecodable header section →
    400, a header section over the limit → 413. The stream cannot be read
    past it: what follows gets no answer (the connection stays open for
    answers owed to earlier requests, until the peer closes it); the
    gateway keeps running."""
    req = tcp_request(body=b"hello")
    if kind == "no-length":
        req = re.sub(rb"Content-Length: \d+\r\n", b"", req)
    elif kind == "undecodable":
        req = req.replace(b"Max-Forwards: 70\r\n", b": no name\r\n")
    else:
        req = req.replace(b"Max-Forwards: 70\r\n",
                          b"Max-Forwards: 70\r\nX-Pad: " + b"p" * 70000 +
                          b"\r\n")
    c = SipTcp()
    try:
        c.send(req)
        got = c.final()
        c.send(tcp_request("OPTIONS"))
        after = c.final(2)  # a window: nothing may come
    finally:
        c.close()
    assert got and got[0] == (413 if kind == "huge-head" else 400), got
    assert after is None, after
    assert all(w["restarts"] == 0 for w in edge_gw.status().values())


def big_offer(ncand):
    """A WebRTC-sized Jingle offer: audio and video, ncand candidates each
    (the INVITE's SDP is over 3 KB)."""
    def cands(comp):
        return "".join(
            "<candidate foundation='%d' component='1' protocol='udp' "
            "priority='%d' ip='127.0.0.%d' port='%d' type='host' "
            "generation='0' network='1' id='%s%d'/>"
            % (i, 2122260223 - i, i + 1, 40000 + i, comp, i)
            for i in range(ncand))
    body = ""
    for media, pts in (("audio", "<payload-type id='0' name='PCMU' "
                        "clockrate='8000'/>"),
                       ("video", "<payload-type id='96' name='VP8' "
                        "clockrate='90000'/>")):
        body += (
            "<content xmlns='urn:xmpp:jingle:1' creator='initiator' "
            "name='%s' senders='both'><description "
            "xmlns='urn:xmpp:jingle:apps:rtp:1' media='%s'>%s<rtcp-mux/>"
            "</description><transport "
            "xmlns='urn:xmpp:jingle:transports:ice-udp:1' ufrag='7Gpn' "
            "pwd='MUOzzatqL2qP7n1uRC7msD+c'><fingerprint "
            "xmlns='urn:xmpp:jingle:apps:dtls:0' hash='sha-256' "
            "setup='actpass'>%s</fingerprint>%s</transport></content>"
            % (media, media, pts, ":".join(["AB"] * 32), cands(media[0])))
    return body


def test_big_offer_rings_a_udp_only_phone(edge_gw, sipp):
    """RFC 3261 18.1.1: the INVITE of a WebRTC-sized offer goes over TCP for
    its size; SIPp listens on UDP only (-t u1), the connection is refused,
    the INVITE is retried over UDP: the phone rings and answers, the call
    ends with the caller's BYE."""
    uas = sipp("uas_call.xml",
               uas_args() + ["-t", "u1", "-m", "1", "-trace_msg"], "uas")

    async def go():
        alice = await jlogin("alice@localhost/phone", "alicepass")
        sid = "big" + uuid.uuid4().hex[:10]
        r = await alice.send_jingle("bob@" + GW, "session-initiate", sid,
                                    big_offer(14))
        assert r["type"] == "result"
        _, j = await alice.next_jingle(action="session-info", timeout=10)
        _, j = await alice.next_jingle(action="session-accept", timeout=10)
        assert j.get("sid") == sid
        r = await alice.send_jingle("bob@" + GW, "session-terminate", sid,
                                    "<reason><success/></reason>")
        assert r["type"] == "result"
        await logout(alice)

    run(go(), 60)
    assert uas.wait(20) == 0
    invites = []
    for fn in os.listdir(uas.dir):
        if fn.endswith("_messages.log"):
            with open(os.path.join(uas.dir, fn), "rb") as f:
                log = f.read().decode("utf-8", "replace")
            invites += re.findall(r"(?s)received.*?\n\n(INVITE .*?)\n\n-", log)
    assert invites, "no INVITE in SIPp's trace"
    inv = invites[0]
    assert re.search(r"(?m)^Via: SIP/2.0/UDP ", inv), inv[:400]
    clen = int(re.search(r"(?mi)^Content-Length: *(\d+)", inv).group(1))
    assert clen > 3000 and inv.count("a=candidate") >= 28, clen


def test_big_offer_nobody_listening_ends_at_once(edge_gw):
    """RFC 3261 8.1.3.1: nothing listens at the callee's address (TCP
    refused, then ICMP port unreachable for the UDP retry): the caller gets
    session-terminate within seconds, not at Timer B (32 s)."""
    async def go():
        alice = await jlogin("alice@localhost/phone", "alicepass")
        sid = "none" + uuid.uuid4().hex[:10]
        t0 = time.monotonic()
        r = await alice.send_jingle("bob@" + GW, "session-initiate", sid,
                                    big_offer(14))
        assert r["type"] == "result"
        _, j = await alice.next_jingle(action="session-terminate",
                                       timeout=20)
        took = time.monotonic() - t0
        await logout(alice)
        return j, took

    j, took = run(go(), 60)
    assert j.get("sid").startswith("none")
    assert reason_of(j) == ("general-error", "503"), reason_of(j)
    assert took < 5, took


def test_debug_log_has_sip_headers_not_bodies(edge_gw):
    """F12: at log.level debug the sip-front logs what it sends by its
    headers only; a chat's text (the MESSAGE body) is not in its lines."""
    gw = edge_gw
    text = "secret-" + uuid.uuid4().hex

    async def go():
        peer = await SipPeer.start(UAS_PORT)
        u = await login("alice@localhost/pc", "alicepass")
        u.send_message(mto="bob@" + GW, mbody=text, mtype="chat")
        req = await peer.next_request("MESSAGE")
        peer.reply(req, 200, "OK")
        await logout(u)
        peer.close()
        return req

    req = run(go())
    assert text in req
    # the 200 is applied (everything about the chat has been logged)
    wait_for(lambda: re.search(r"messages\.pending +0\n",
                               gw.ctl("stats").stdout), 10,
             "the MESSAGE done after its 200")
    # a record: a line with a timestamp and its continuation lines
    recs = re.split(r"\n(?=\d{4}-\d\d-\d\dT)", gw.read_log())
    sf = [r for r in recs if re.match(r"\S+ sip-front\[", r)]
    sent = [r for r in sf if "MESSAGE sip:bob@" in r]
    assert sent and "Call-ID: " in sent[0], "\n".join(sf[-10:])
    assert not [r for r in sf if text in r]
    # nor any other worker's (the xmpp-front's stanza lines)
    assert text not in gw.read_log()

