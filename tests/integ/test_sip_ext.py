"""SIP extensions and dialog routes at the sip-front.

RFC 3261 8.2.2.3: a request (not ACK, not CANCEL) whose Require names an
option tag is answered 420 Bad Extension with the tags as Unsupported, and
is not acted on: the gateway supports no extension in a request (an INVITE
with Require: replaces rings nobody). Several Require headers, comma lists
and lower-case names are read; a value that is not a token is 400, an empty
one requires nothing. ACK and CANCEL are never refused for it.

RFC 3261 12.1.1 / RFC 6665 4.1.2.1: the 2xx to a dialog-creating SUBSCRIBE
copies the request's Record-Route headers, in order (as INVITE's 2xx does).

Raw SIP over UDP (sipraw, the scripted SipPeer), real Prosody and slixmpp
users; every wait has a timeout."""
import os
import socket
import subprocess
import uuid

import pytest

from conftest import GW_SIP, UAS_PORT, run
from jingle import PHONE_SDP, SipPeer, hdr, hdrs, jlogin, tag_of
from sipraw import final, reply_to, request
from test_call import online, sessions, until
from test_hardening import sip_send
from xmpp_user import logout

HOST, PORT = GW_SIP.split(":")
PORT = int(PORT)
CAROL = "sip:carol@127.0.0.1:%d" % UAS_PORT
WATCHED = ("rrwatched", "rrwatchedpass")  # used by no other test




def tags(resp, name="Unsupported"):
    """The option tags of every header named name, in order."""
    return [t.strip() for v in hdrs(resp, name) for t in v.split(",")
            if t.strip()]


def with_headers(raw, extra):
    """raw (str) with header lines extra after its request line."""
    return raw.replace("\r\n", "\r\n" + extra, 1)


def test_invite_require_replaces_is_420_and_rings_nobody(gateway):
    """An INVITE with Require: replaces is 420 Unsupported: replaces and
    never reaches the callee (alice online); the same INVITE without it
    rings her."""
    async def go():
        peer = await SipPeer.start(UAS_PORT)
        alice = await jlogin("alice@localhost/phone", "alicepass")
        try:
            alice.online_to_gateway()
            await online(gateway, "alice@localhost/phone")
            d = {"callid": uuid.uuid4().hex, "ftag": uuid.uuid4().hex[:8],
                 "ruri": "sip:alice@localhost", "from": CAROL,
                 "to": "sip:alice@localhost", "cseq": 1,
                 "branch": "z9hG4bK" + uuid.uuid4().hex[:12]}
            raw = peer._req("INVITE", d, d["branch"], 1, None, PHONE_SDP,
                            "application/sdp")
            peer.send(with_headers(raw, "Require: replaces\r\n"))
            code, resp = await peer.next_response("INVITE", final=True,
                                                  timeout=5)
            assert code == 420, resp
            assert tags(resp) == ["replaces"], resp
            peer.ack(d, tag_of(hdr(resp, "To")), branch=d["branch"])
            # the control: without Require the same call rings her; the
            # gateway takes the peer's requests in order, so anything the
            # first had caused would have reached her before
            d2 = peer.invite("sip:alice@localhost", CAROL,
                             "sip:alice@localhost")
            _, j = await alice.next_jingle()
            assert j.get("action") == "session-initiate"
            assert [x["call_id"] for x in sessions(gateway)] == \
                [d2["callid"]]
            peer.cancel(d2)
            code, _ = await peer.next_response("INVITE", final=True)
            assert code == 487
            await until(lambda: sessions(gateway) == [], 10,
                        "the cancelled call gone")
        finally:
            await logout(alice)
            peer.close()
    run(go(), timeout=60)


def test_message_every_require_header_listed(gateway):
    """Two Require headers, one a comma list, one with a lower-case name:
    420, every tag in Unsupported, in order."""
    code, resp = sip_send(lambda port: request(
        "MESSAGE", "sip:alice@localhost", "sip:tester@127.0.0.1",
        "sip:alice@localhost", port,
        extra="Require: foo, bar\r\nrequire: baz\r\n", body=b"hi"))
    assert code == 420, resp
    assert resp.split("\r\n", 1)[0] == "SIP/2.0 420 Bad Extension"
    assert tags(resp) == ["foo", "bar", "baz"], resp


@pytest.mark.parametrize("require,code,unsupported", [
    ("Require: timer\r\n", 420, ["timer"]),
    ("Require: 100rel,timer\r\nRequire: replaces\r\n", 420,
     ["100rel", "timer", "replaces"]),
    # not an option tag (RFC 3261 25.1: a token): malformed, never echoed
    ("Require: \"100rel\"\r\n", 400, []),
    ("Require: timer;x=1\r\n", 400, []),
])
def test_options_require_refused(gateway, require, code, unsupported):
    got, resp = sip_send(lambda port: request(
        "OPTIONS", "sip:alice@localhost", "sip:tester@127.0.0.1",
        "sip:alice@localhost", port, extra=require))
    assert got == code, resp
    assert tags(resp) == unsupported, resp
    assert "100rel\"" not in resp and "x=1" not in resp


def test_ack_and_cancel_are_never_refused(gateway):
    """RFC 3261 8.2.2.3 exempts ACK and CANCEL: the ACK of a 420 that
    carries the Require is answered nothing; a CANCEL with Require for an
    unknown transaction is 481 as without it."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(5)
    try:
        port = s.getsockname()[1]
        inv = request("INVITE", "sip:alice@localhost", CAROL,
                      "sip:alice@localhost", port,
                      extra="Require: 100rel\r\n", body=PHONE_SDP.encode(),
                      ctype="application/sdp").decode()
        s.sendto(inv.encode(), (HOST, PORT))
        code, resp = final(s)
        assert code == 420 and tags(resp) == ["100rel"], resp
        # the ACK of a non-2xx: the INVITE's branch, its To-tag
        ack = inv.split("\r\n\r\n", 1)[0].split("\r\n")
        ack[0] = "ACK sip:alice@localhost SIP/2.0"
        ack = [("To: " + hdr(resp, "To")) if h.startswith("To:") else
               ("CSeq: 1 ACK") if h.startswith("CSeq:") else h
               for h in ack if not h.startswith(("Content-", "Max-F"))]
        s.sendto(("\r\n".join(ack) + "\r\nMax-Forwards: 70\r\n"
                  "Content-Length: 0\r\n\r\n").encode(), (HOST, PORT))
        # taken in order: an answer to the ACK would come before the
        # CANCEL's, which must be the first datagram back
        cancel = request("CANCEL", "sip:alice@localhost", CAROL,
                         "sip:alice@localhost", port,
                         extra="Require: 100rel\r\n")
        s.sendto(cancel, (HOST, PORT))
        data = s.recv(65535).decode()
        assert data.startswith("SIP/2.0 481"), data[:200]
        assert "CANCEL" in hdr(data, "CSeq"), data[:200]
    finally:
        s.close()


@pytest.fixture(scope="module")
def watched_user(prosody):
    cfg = os.path.join(prosody, "prosody.cfg.lua")
    r = subprocess.run(["prosodyctl", "--config", cfg, "register",
                        WATCHED[0], "localhost", WATCHED[1]],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return WATCHED[0]


def test_subscribe_2xx_copies_record_route(gateway_factory, watched_user):
    """A SIP watcher's SUBSCRIBE through two record-routing proxies: the
    202 carries both Record-Route values, in order, so the watcher's
    refreshes go through them (and the NOTIFY comes by the first)."""
    gateway_factory(sip={"domain": '"example.org"'})  # as test_sip_watchers
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(5)
    try:
        port = s.getsockname()[1]
        rr = ["<sip:127.0.0.1:%d;lr;hop=1>" % port,
              "<sip:127.0.0.1:%d;lr;hop=2>" % port]
        sub = request(
            "SUBSCRIBE", "sip:%s@localhost" % watched_user,
            "sip:rr%s@example.org" % uuid.uuid4().hex[:6],
            "sip:%s@localhost" % watched_user, port,
            extra="Record-Route: %s\r\nRecord-Route: %s\r\n"
                  "Contact: <sip:w@127.0.0.1:%d>\r\nEvent: presence\r\n"
                  "Expires: 60\r\nAccept: application/pidf+xml\r\n"
                  % (rr[0], rr[1], port))
        s.sendto(sub, (HOST, PORT))
        notify = None
        while True:
            data = s.recv(65535).decode("utf-8", "replace")
            if data.startswith("SIP/2.0 "):
                code = int(data.split(" ", 2)[1])
                if code >= 200:
                    resp = data
                    break
            elif data.startswith("NOTIFY "):
                notify = data
                s.sendto(reply_to(data, 200, "OK"), (HOST, PORT))
        assert code == 202, resp
        assert tags(resp, "Record-Route") == rr, resp
        # the NOTIFY (pending) follows the route set: here, answered
        while notify is None:
            data = s.recv(65535).decode("utf-8", "replace")
            if data.startswith("NOTIFY "):
                notify = data
                s.sendto(reply_to(data, 200, "OK"), (HOST, PORT))
        assert tags(notify, "Route") == rr, notify
    finally:
        s.close()


def test_responses_outside_a_dialog_carry_random_to_tags(gateway):
    """RFC 3261 19.3: a To-tag is unique. The 200 to two OPTIONS and the
    404 to an INVITE for nobody each carry their own (it was
    tag=0000000000000000 for all)."""
    seen = []
    for method, ruri in (("OPTIONS", "sip:alice@localhost"),
                         ("OPTIONS", "sip:alice@localhost"),
                         ("INVITE", "sip:nobody@elsewhere.example")):
        code, resp = sip_send(lambda port: request(
            method, ruri, "sip:tester@127.0.0.1", ruri, port,
            body=PHONE_SDP.encode() if method == "INVITE" else b"",
            ctype="application/sdp"))
        assert code >= 200, resp
        seen.append(tag_of(hdr(resp, "To")))
    assert all(t and t.strip("0") for t in seen), seen
    assert len(set(seen)) == 3, seen


@pytest.mark.parametrize("method", ["MESSAGE", "INVITE"])
def test_tel_request_uri_is_416(gateway, method):
    """RFC 3261 8.2.2.1: a Request-URI scheme the gateway does not serve
    (tel:) is 416 Unsupported URI Scheme, not 404."""
    code, resp = sip_send(lambda port: request(
        method, "tel:+15550001", "sip:tester@127.0.0.1",
        "sip:alice@localhost", port,
        body=PHONE_SDP.encode() if method == "INVITE" else b"hi",
        ctype="application/sdp" if method == "INVITE" else "text/plain"))
    assert code == 416, resp
    assert resp.split("\r\n", 1)[0] == "SIP/2.0 416 Unsupported URI Scheme"
