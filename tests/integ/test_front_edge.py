"""The xmpp-front at its edges (issue 9): what it refuses to hand over or to
write, and what it never logs. Real Prosody, the gateway under its
supervisor, slixmpp users, SIPp peers."""
import asyncio
import os
import re
import socket
import struct
import subprocess
import uuid

import pytest

from conftest import (BIN, GW_SIP, ROOT, UAS_PORT, Gateway, run, uas_args,
                      wait_for)
from sipraw import final, reply_to, request
from xmpp_user import login, logout


def error_of(msg):
    """(condition, text) of an XMPP error stanza."""
    err = msg.xml.find("{jabber:client}error")
    assert err is not None, str(msg)
    cond = text = None
    for c in err:
        tag = c.tag.split("}")[1]
        if tag == "text":
            text = c.text
        else:
            cond = tag
    return cond, text


def udp_port_taken(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind(("127.0.0.1", port))
        return False
    except OSError:
        return True
    finally:
        s.close()


# 70 000: over a frame; 200 000 and 250 000: over the component socket's
# receive buffer too (128 KiB at first), and the front only consumes what is
# committed — a refused stanza is dropped as it is parsed instead, so the
# stream never wedges (Prosody refuses c2s stanzas over 256 KiB itself)
@pytest.mark.parametrize("size", [70000, 200000, 250000])
def test_chat_too_large_for_a_frame_is_bounced_by_the_front(gateway, sipp,
                                                            size):
    uas = sipp("uas_message.xml", uas_args(), "uas")
    wait_for(lambda: udp_port_taken(UAS_PORT), 10, "the SIP peer listening")
    big = "x" * size

    async def go():
        u = await login("alice@localhost/big", "alicepass")
        loop = asyncio.get_event_loop()
        u.send_message(mto="bob@sip.localhost", mbody=big, mtype="chat")
        err = await u.next_message(10, lambda m: m["type"] == "error")
        # the link is intact: the next chat reaches the SIP peer
        u.send_message(mto="bob@sip.localhost", mbody="small one",
                       mtype="chat")
        got = await loop.run_in_executor(
            None, wait_for, lambda: uas.logged(), 10,
            "MESSAGE at the SIP peer")
        await logout(u)
        return err, got

    err, got = run(go())
    assert str(err["from"]) == "bob@sip.localhost"
    cond, text = error_of(err)
    assert cond == "policy-violation"
    assert text == "stanza too large for the gateway"
    assert got == ["small one"]
    log = gateway.read_log()
    assert log.count("xmpp: connected") == 1  # on the same stream
    assert "xmpp: disconnected" not in log


def test_stanza_nested_too_deep_is_refused_by_the_front(gateway):
    """libstrophe's serializer recurses once per level: the front refuses
    a stanza deeper than 64 levels before serializing it, and says so."""
    import xml.etree.ElementTree as ET

    async def go():
        u = await login("alice@localhost/deep", "alicepass")
        msg = u.make_message(mto="bob@sip.localhost", mbody="deep",
                             mtype="chat")
        node = ET.SubElement(msg.xml, "{urn:example:deep}x")
        for _ in range(70):
            node = ET.SubElement(node, "{urn:example:deep}x")
        msg.send()
        err = await u.next_message(10, lambda m: m["type"] == "error")
        # the component still answers
        await u["xep_0199"].ping(jid="sip.localhost", timeout=10)
        await logout(u)
        return err

    cond, text = error_of(run(go()))
    assert cond == "policy-violation"
    assert text == "stanza nested too deep for the gateway"
    assert "refused: stanza nested too deep" in gateway.read_log()


def sip_send(req):
    """Send one request over UDP from a fresh port; return the final code."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(5)
    host, p = GW_SIP.split(":")
    try:
        s.sendto(req(s.getsockname()[1]), (host, int(p)))
        return final(s)[0]
    finally:
        s.close()


def test_stanza_not_xml_is_not_written_and_the_stream_survives(gateway):
    """End to end: a SIP peer answers alice's chat with control bytes in its
    reason phrase: whatever the translator builds from it, nothing makes
    Prosody close the component stream; the next chat is delivered on the
    same stream."""
    tag = uuid.uuid4().hex[:8]
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    peer.bind(("127.0.0.1", UAS_PORT))
    peer.settimeout(10)
    host, p = GW_SIP.split(":")

    def good(port):
        return request("MESSAGE", "sip:alice@localhost",
                       "sip:bob@127.0.0.1:%d" % port, "sip:alice@localhost",
                       port, body=("after " + tag).encode())

    def answer_badly():
        req = peer.recv(65535).decode("utf-8", "replace")
        assert req.startswith("MESSAGE "), req
        peer.sendto(reply_to(req, 404, "No\x01Such\x1b[2J User"),
                    (host, int(p)))

    async def go():
        u = await login("alice@localhost/pc", "alicepass")
        loop = asyncio.get_event_loop()
        u.send_message(mto="bob@sip.localhost", mbody="one", mtype="chat")
        await loop.run_in_executor(None, answer_badly)
        code = await loop.run_in_executor(None, sip_send, good)
        msg = await u.next_message(10, lambda m: tag in (m["body"] or ""))
        await logout(u)
        return code, msg

    try:
        code, msg = run(go())
    finally:
        peer.close()
    assert code == 202
    assert msg["body"].startswith("after " + tag)
    log = gateway.read_log()
    assert "xmpp: disconnected" not in log, log[-3000:]
    assert log.count("xmpp: connected") == 1


# ---- the xmpp-front alone, with a scripted translator -------------------

MSG_HELLO, MSG_ACK, MSG_OUT_DONE = 0x0001, 0x0007, 0x0009
MSG_XMPP_LINK, MSG_XMPP_IN, MSG_XMPP_OUT = 0x0101, 0x0102, 0x0103
PROC_TRANSLATOR = 1


def frame_version():
    with open(os.path.join(ROOT, "shared", "frame.h")) as f:
        return int(re.search(r"#define FRAME_VERSION (\d+)", f.read()).group(1))


def frame(ftype, *fields):
    """A frame (shared/frame.h): fields are ('u32'|'u64'|'str', value)."""
    body = b""
    for kind, v in fields:
        if kind == "u32":
            body += b"\x01" + struct.pack(">I", v)
        elif kind == "u64":
            body += b"\x02" + struct.pack(">Q", v)
        else:
            body += b"\x03" + struct.pack(">I", len(v)) + v
    return struct.pack(">HHIQ", frame_version(), ftype, len(body), 0) + body


def fields(payload):
    out, i = [], 0
    while i < len(payload):
        tag = payload[i]
        if tag == 1:
            out.append(struct.unpack(">I", payload[i + 1:i + 5])[0])
            i += 5
        elif tag == 2:
            out.append(struct.unpack(">Q", payload[i + 1:i + 9])[0])
            i += 9
        else:
            n = struct.unpack(">I", payload[i + 1:i + 5])[0]
            out.append(payload[i + 5:i + 5 + n])
            i += 5 + n
    return out


class FakeTranslator:
    """Listens on runtime.dir/translator.sock, answers the front's HELLO,
    writes what the test asks, records every frame the front sends. It
    acknowledges each reliable frame at once, unless told to hold them."""

    def __init__(self, path):
        self.path = path
        self.frames = asyncio.Queue()
        self.writer = None
        self.connected = asyncio.Event()
        self.holding = False
        self.held = 0

    async def start(self):
        self.server = await asyncio.start_unix_server(self._conn, self.path)

    async def _conn(self, reader, writer):
        self.writer = writer
        try:
            while True:
                hdr = await reader.readexactly(16)
                _ver, ftype, ln, seq = struct.unpack(">HHIQ", hdr)
                payload = await reader.readexactly(ln)
                if ftype == MSG_HELLO:
                    writer.write(frame(MSG_HELLO, ("u32", PROC_TRANSLATOR),
                                       ("u32", os.getpid()), ("u64", 7),
                                       ("u64", 0)))
                    self.connected.set()
                    continue
                if seq and self.holding:
                    self.held = max(self.held, seq)
                elif seq:
                    writer.write(frame(MSG_ACK, ("u64", seq)))
                await self.frames.put((ftype, fields(payload)))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass

    async def next(self, ftype, timeout=10):
        loop = asyncio.get_event_loop()
        end = loop.time() + timeout
        while True:
            t, f = await asyncio.wait_for(self.frames.get(),
                                          end - loop.time())
            if t == ftype:
                return f

    def send_stanza(self, out, xml):
        self.writer.write(frame(MSG_XMPP_OUT, ("u64", out), ("str", xml)))

    def release(self):
        """Acknowledge what was held (acks are cumulative) and go on."""
        self.holding = False
        if self.held:
            self.writer.write(frame(MSG_ACK, ("u64", self.held)))

    async def close(self):
        self.server.close()
        if self.writer:
            self.writer.close()


def with_fake_translator(tmp_path, body):
    """Run the xmpp-front alone (no supervisor) against Prosody, its
    translator a FakeTranslator; once the stream is open, return
    run(body(tr, front_log_text)) — front_log_text() reads the log so far."""
    d = str(tmp_path)
    cfg = Gateway(d).cfg
    os.makedirs(os.path.join(d, "run"), mode=0o700)
    path = os.path.join(d, "front.log")
    log = open(path, "wb")
    front = None

    def text():
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    async def go():
        nonlocal front
        tr = FakeTranslator(os.path.join(d, "run", "translator.sock"))
        await tr.start()
        front = subprocess.Popen([os.path.join(BIN, "xsgw-xmpp-front"), "-c",
                                  cfg], stdout=log, stderr=subprocess.STDOUT)
        try:
            await asyncio.wait_for(tr.connected.wait(), 10)
            # the stream opens: "down" first when our link came up
            # before the component's handshake (either order happens)
            while (await tr.next(MSG_XMPP_LINK))[0] != 1:
                pass
            return await body(tr, text)
        finally:
            await tr.close()

    try:
        return run(go())
    finally:
        if front:
            front.terminate()
            front.wait(10)
        log.close()


def test_front_refuses_a_stanza_not_xml_and_the_next_is_delivered(
        prosody, tmp_path):
    """The translator hands the front a stanza with a control byte and a
    good one in the same burst: the front writes only the good one, reports
    the bad one failed (5xx) and the good one sent (200); Prosody keeps the
    component stream, and alice gets the good chat."""
    tag = uuid.uuid4().hex[:8]

    async def go(tr, front_log):
        u = await login("alice@localhost/pc", "alicepass")
        bad = ("<message to=\"alice@localhost/pc\" from=\"bob@sip."
               "localhost\" type=\"chat\"><body>no\x01pe</body>"
               "</message>").encode()
        good = ("<message to=\"alice@localhost/pc\" from=\"bob@sip."
                "localhost\" type=\"chat\"><body>after %s</body>"
                "</message>" % tag).encode()
        tr.send_stanza(101, bad)
        tr.send_stanza(102, good)
        done = [await tr.next(MSG_OUT_DONE),
                await tr.next(MSG_OUT_DONE)]
        msg = await u.next_message(10,
                                   lambda m: tag in (m["body"] or ""))
        # still the same stream: a third one arrives too
        tr.send_stanza(103, good.replace(b"after", b"third"))
        third = await u.next_message(
            10, lambda m: (m["body"] or "").startswith("third"))
        await logout(u)
        return done, msg, third, front_log()

    done, msg, third, text = with_fake_translator(tmp_path, go)
    assert sorted((o, c) for o, c, _ in done) == [(101, 500), (102, 200)]
    assert msg["body"] == "after " + tag
    assert third["body"] == "third " + tag
    assert "out 101: not written" in text, text
    assert "xmpp: disconnected" not in text, text
    assert text.count("xmpp: connected") == 1, text


def xj_ring():
    with open(os.path.join(ROOT, "xmpp-front", "xjournal.h")) as f:
        return int(re.search(r"XJ_RING = (\d+)", f.read()).group(1))


def test_refusals_wait_while_an_unacknowledged_stanza_would_leave_the_journal(
        prosody, tmp_path):
    """The journal names the last XJ_RING - 1 stanzas written, for a
    successor to tell the translator which of its stanzas are already on
    the stream. The translator has not acknowledged the report of stanza
    101 (it is stuck) when a client floods the front with stanzas it
    refuses itself (nested too deep): the front writes refusals only while
    101 stays named — XJ_RING - 2 of them — and the rest once the report
    is acknowledged; each refusal exactly once, the stream kept."""
    keep = xj_ring() - 2
    n = keep + 50
    deep = "<x>" * 66 + "</x>" * 66

    async def go(tr, front_log):
        u = await login("alice@localhost/flood", "alicepass")
        tr.holding = True
        tr.send_stanza(101, b"<message to='alice@localhost/flood' "
                       b"from='bob@sip.localhost' type='chat'>"
                       b"<body>pinned</body></message>")
        await u.next_message(10, lambda m: m["body"] == "pinned")
        report = await tr.next(MSG_OUT_DONE)
        for i in range(n):
            u.send_raw("<message to='bob@sip.localhost' type='chat' "
                       "id='d%d'>%s</message>" % (i, deep))
        got = await u.drain(keep, 120, lambda m: m["type"] == "error")
        held = front_log()
        # nothing more while 101's report waits: a ping to the
        # component's server side marks the end of what alice was sent
        await u["xep_0199"].ping(jid="localhost", timeout=10)
        while not u.inbox.empty():
            got.append(u.inbox.get_nowait())
        at_hold = len(got)
        tr.release()
        got += await u.drain(n - at_hold, 60,
                             lambda m: m["type"] == "error")
        await logout(u)
        return report, at_hold, got, held, front_log()

    report, at_hold, got, held, text = with_fake_translator(tmp_path, go)
    assert report[:2] == [101, 200]
    assert at_hold == keep
    assert "writing waits for the translator to acknowledge" in held, held
    ids = [m["id"] for m in got]
    assert sorted(ids) == sorted("d%d" % i for i in range(n))
    assert all(error_of(m) == ("policy-violation",
                               "stanza nested too deep for the gateway")
               for m in got[:3])
    assert "xmpp: writing goes on" in text, text
    assert "xmpp: disconnected" not in text, text
    # a flood of refusals is not a flood of log lines (10 a second)
    assert text.count("refused: stanza nested too deep") < n // 10


def test_debug_log_has_no_handshake_nor_stream_id(gateway_factory):
    """log.level debug: the stream's traffic is logged, but neither the
    stream id nor the handshake digest SHA1(id + secret) — the two together
    let anyone who reads the log test guesses of xmpp.secret offline."""
    import hashlib
    gw = gateway_factory(log_level="debug")

    async def go():
        u = await login("alice@localhost/dbg", "alicepass")
        await u["xep_0199"].ping(jid="sip.localhost", timeout=10)
        await logout(u)

    run(go())
    log = gw.read_log()
    front = "\n".join(line for line in log.splitlines()
                      if "xmpp-front[" in line)
    assert "xmpp in: <iq" in front  # debug output is there
    assert "<handshake" not in front and "handshake>" not in front
    assert "s3cret" not in log
    assert "<stream:stream" not in front or " id=" not in front
    # no token of the log is an id whose digest is in the log too
    digests = set(re.findall(r"\b[0-9a-f]{40}\b", log))
    tokens = set(re.findall(r"[A-Za-z0-9_.:+/=-]{6,}", log))
    for t in tokens:
        assert hashlib.sha1((t + "s3cret").encode()).hexdigest() \
            not in digests, t
