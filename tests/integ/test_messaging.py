"""XMPP chat <-> SIP MESSAGE end to end: Prosody + slixmpp users, SIPp peers."""
import asyncio
import socket
import uuid

from conftest import GW_SIP, run, uas_args, wait_for
from sipraw import final, reply_to, request
from xmpp_user import login, logout

TEXT = "Grüße, 你好, ☃ — \"quoted\" <b>&amp;</b> 😀"


def error_condition(msg):
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


def test_xmpp_chat_becomes_sip_message(gateway, sipp):
    uas = sipp("uas_message.xml", uas_args(), "uas")

    async def go():
        u = await login("alice@localhost/pc", "alicepass")
        u.send_message(mto="bob@sip.localhost", mbody=TEXT, mtype="chat")
        await asyncio.sleep(0)
        await logout(u)

    run(go())
    got = wait_for(lambda: uas.logged(), 10, "MESSAGE at the SIP peer")
    assert got == [TEXT]


def test_sip_message_becomes_xmpp_chat(gateway, sipp):
    tag = uuid.uuid4().hex[:8]

    async def go():
        u = await login("alice@localhost/pc", "alicepass")
        uac = sipp("uac_message.xml",
                   ["-s", "alice", "-key", "domain", "localhost", "-key",
                    "from", "bob", "-key", "text", TEXT + tag, GW_SIP,
                    "-p", "5071", "-m", "1", "-timeout", "15s",
                    "-timeout_error"], "uac")
        msg = await u.next_message(10, lambda m: tag in m["body"])
        assert (await asyncio.get_event_loop().run_in_executor(
            None, uac.wait, 15)) == 0
        await logout(u)
        return msg

    msg = run(go())
    assert msg["type"] == "chat"
    # the SIP peer (sip:bob@127.0.0.1) is not on sip.domain: escaped node
    assert str(msg["from"]) == "bob\\40127.0.0.1@sip.localhost"
    assert msg["body"] == TEXT + tag + " #1\n"


def test_sip_error_comes_back_as_xmpp_error(gateway, sipp):
    sipp("uas_message_reject.xml", uas_args(), "uas")

    async def go():
        u = await login("alice@localhost/pc", "alicepass")
        u.send_message(mto="bob@sip.localhost", mbody="are you there?",
                       mtype="chat", mfrom=None)
        err = await u.next_message(10, lambda m: m["type"] == "error")
        await logout(u)
        return err

    err = run(go())
    assert str(err["from"]) == "bob@sip.localhost"
    cond, text = error_condition(err)
    assert cond == "recipient-unavailable"
    assert text == "SIP 486 Busy Here"


def test_sip_timeout_comes_back_as_xmpp_error(gateway):
    # the SIP peer's port is open but nothing answers: Timer F
    # (message_timeout_ms)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 5070))

    async def go():
        u = await login("alice@localhost/pc", "alicepass")
        u.send_message(mto="nobody@sip.localhost", mbody="hello?", mtype="chat")
        err = await u.next_message(15, lambda m: m["type"] == "error")
        await logout(u)
        return err

    try:
        cond, text = error_condition(run(go()))
    finally:
        s.close()
    assert cond == "remote-server-timeout"
    assert text == "SIP 408 Request Timeout"


def test_sip_unreachable_comes_back_at_once(gateway_factory):
    # nothing listens on the SIP peer's port: the ICMP error is a transport
    # error, a 503 at once (RFC 3261 8.1.3.1), not a timeout
    gateway_factory(sip={"message_timeout_ms": "30000"})

    async def go():
        u = await login("alice@localhost/pc", "alicepass")
        t0 = asyncio.get_event_loop().time()
        u.send_message(mto="nobody@sip.localhost", mbody="hello?", mtype="chat")
        err = await u.next_message(15, lambda m: m["type"] == "error")
        took = asyncio.get_event_loop().time() - t0
        await logout(u)
        return err, took

    err, took = run(go())
    cond, text = error_condition(err)
    assert cond == "service-unavailable"
    assert text.startswith("SIP 503 ")
    assert took < 15  # not Timer F (30 s here)


def test_bad_target_is_refused_with_clear_error(gateway):
    async def go():
        u = await login("alice@localhost/pc", "alicepass")
        u.send_message(mto="sip.localhost", mbody="to the gateway itself",
                       mtype="chat")
        e1 = await u.next_message(10, lambda m: m["type"] == "error")
        u.send_message(mto="\\40example.org@sip.localhost", mbody="bad", mtype="chat")
        e2 = await u.next_message(10, lambda m: m["type"] == "error")
        await logout(u)
        return e1, e2

    e1, e2 = run(go())
    assert error_condition(e1)[0] == "item-not-found"
    assert error_condition(e2)[0] == "jid-malformed"


def sip_request(method, ruri, body=b"hi", ctype="text/plain", to=None,
                extra=""):
    """Send one request over UDP and return (final status, response)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(5)
    host, p = GW_SIP.split(":")
    try:
        s.sendto(request(method, ruri, "sip:tester@127.0.0.1", to or ruri,
                         s.getsockname()[1], extra, body, ctype),
                 (host, int(p)))
        return final(s)
    finally:
        s.close()


def test_sip_side_errors(gateway):
    assert sip_request("OPTIONS", "sip:127.0.0.1:5600")[0] == 200
    assert sip_request("MESSAGE", "sip:alice@unknown.example")[0] == 404
    assert sip_request("MESSAGE", "sip:alice@localhost",
                       ctype="application/octet-stream")[0] == 415
    assert sip_request("MESSAGE", "sip:alice@localhost", body=b"")[0] == 400
    assert sip_request("MESSAGE", "sip:alice@localhost",
                       body=b"bad \xff\xfe utf-8")[0] == 400
    assert sip_request("FOO", "sip:alice@localhost")[0] == 405
    assert sip_request("NOTIFY", "sip:alice@localhost")[0] == 481
    # (PUBLISH: for phones, test_phone_presence; SUBSCRIBE: Event:
    # presence only, test_sip_watchers)
    assert sip_request("PUBLISH", "sip:alice@localhost")[0] == 489
    assert sip_request("SUBSCRIBE", "sip:alice@localhost")[0] == 489
    # R-URI naming the gateway itself: the To header says who it is for
    assert sip_request("MESSAGE", "sip:alice@127.0.0.1:5600",
                       to="sip:alice@localhost")[0] == 202


def test_disco_and_ping(gateway):
    async def go():
        u = await login("alice@localhost/pc", "alicepass")
        info = await u["xep_0030"].get_info(jid="sip.localhost", timeout=10)
        await u["xep_0199"].ping(jid="sip.localhost", timeout=10)
        await logout(u)
        return info

    import slixmpp  # noqa: F401  (plugins are registered by login)
    info = run(go())
    ids = info["disco_info"]["identities"]
    assert ("gateway", "sip", None, "XMPP-SIP gateway") in ids
    feats = info["disco_info"]["features"]
    assert "urn:xmpp:ping" in feats


def test_xmpp_error_comes_back_to_the_sip_sender(gateway):
    """SIP MESSAGE to a user Prosody does not have: the MESSAGE is accepted
    (202, persisted), Prosody bounces the chat, and the SIP sender gets a
    MESSAGE saying why, from the address it wrote to."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(10)
    port = s.getsockname()[1]
    req = request("MESSAGE", "sip:nobody@localhost",
                  "sip:tester@127.0.0.1:%d" % port, "sip:nobody@localhost",
                  port, body=b"hello")
    host, p = GW_SIP.split(":")
    try:
        s.sendto(req, (host, int(p)))
        notice = None
        while notice is None:
            data = s.recv(65535).decode("utf-8", "replace")
            if data.startswith("SIP/2.0 "):
                assert data.split(" ", 2)[1] == "202", data
            elif data.startswith("MESSAGE "):
                notice = data
        s.sendto(reply_to(notice, 200, "OK"), (host, int(p)))
    finally:
        s.close()
    line, rest = notice.split("\r\n", 1)
    assert line == "MESSAGE sip:tester@127.0.0.1:%d SIP/2.0" % port
    hdrs = {h.split(":", 1)[0].lower(): h.split(":", 1)[1].strip()
            for h in rest.split("\r\n\r\n")[0].split("\r\n")}
    assert "sip:nobody@localhost" in hdrs["from"] and ";tag=" in hdrs["from"]
    assert "sip:tester@127.0.0.1:%d" % port in hdrs["to"]
    assert hdrs["content-type"].startswith("text/plain")
    body = notice.split("\r\n\r\n", 1)[1]
    assert body.startswith("Message not delivered to nobody@localhost: "
                           "service-unavailable"), body
    wait_for(lambda: "messages.pending             0" in gateway.ctl("stats").stdout,
             10, "the notice done after its 200")
