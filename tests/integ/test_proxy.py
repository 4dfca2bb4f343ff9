"""Messaging through a real Kamailio (registrar + proxy), SPEC §5 / issue 2
point 8: every request goes via sip.proxy, a MESSAGE too large for UDP is
sent over TCP, and SIP users registered at Kamailio reach XMPP users."""
import asyncio
import os
import re
import socket
import subprocess
import tempfile
import uuid

import pytest

from conftest import GW_SIP, PEERS, UAS_PORT, run, uas_args, wait_for
from sipraw import final, request
from xmpp_user import login, logout

KAM_PORT = 5060


@pytest.fixture(scope="module")
def kamailio():
    d = tempfile.mkdtemp(prefix="xsgw-kamailio-")
    env = dict(os.environ, SIP_PORT=str(KAM_PORT), SIP_DOMAIN="localhost",
               KAMAILIO_GW_DOMAIN="localhost", KAMAILIO_GW_ADDR=GW_SIP)
    r = subprocess.run([os.path.join(PEERS, "kamailio_start.sh"), d], env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    yield d
    subprocess.run([os.path.join(PEERS, "kamailio_stop.sh"), d],
                   capture_output=True, timeout=30)


def kam_log(d):
    with open(os.path.join(d, "kamailio.log"), errors="replace") as f:
        return f.read()


def register(user, contact_port):
    """REGISTER user@127.0.0.1 at Kamailio with a UDP contact; 200 expected."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(5)
    aor = "sip:%s@127.0.0.1" % user
    try:
        s.sendto(request("REGISTER", "sip:127.0.0.1", aor, aor, s.getsockname()[1],
                         "Contact: <sip:%s@127.0.0.1:%d>\r\nExpires: 600\r\n"
                         % (user, contact_port)), ("127.0.0.1", KAM_PORT))
        code, data = final(s)
        assert code == 200, data
    finally:
        s.close()


@pytest.fixture
def via_kamailio(kamailio, gateway_factory):
    register("bob", UAS_PORT)
    return gateway_factory(sip={"proxy": "127.0.0.1:%d" % KAM_PORT,
                                "domain": "127.0.0.1"})


def test_chat_goes_through_the_proxy(kamailio, via_kamailio, sipp):
    uas = sipp("uas_message.xml", uas_args(), "uas")
    tag = uuid.uuid4().hex[:8]
    big = "large " + tag + " " + "ü" * 1000  # 2 KiB: too large for UDP

    async def go():
        u = await login("alice@localhost/pc", "alicepass")
        u.send_message(mto="bob@sip.localhost", mbody="small " + tag, mtype="chat")
        u.send_message(mto="bob@sip.localhost", mbody=big, mtype="chat")
        await asyncio.sleep(0)
        await logout(u)

    run(go())
    got = wait_for(lambda: len(uas.logged()) >= 2 and uas.logged(), 15,
                   "both MESSAGEs at bob's registered contact")
    assert sorted(got) == sorted(["small " + tag, big])
    # Kamailio saw them from the gateway: the small one over UDP, the large
    # one over TCP (RFC 3261 §18.1.1), both for the registered user
    log = kam_log(kamailio)
    assert re.search(r"REQ MESSAGE sip:bob@127\.0\.0\.1 from 127\.0\.0\.1:5600/udp", log), log[-3000:]
    assert re.search(r"REQ MESSAGE sip:bob@127\.0\.0\.1 from 127\.0\.0\.1:\d+/tcp", log), log[-3000:]


def test_registered_sip_user_reaches_xmpp_user(kamailio, via_kamailio, sipp):
    tag = uuid.uuid4().hex[:8]

    async def go():
        u = await login("alice@localhost/pc", "alicepass")
        uac = sipp("uac_message.xml",
                   ["-s", "alice", "-key", "domain", "localhost", "-key",
                    "from", "bob", "-key", "text", "via proxy " + tag,
                    "127.0.0.1:%d" % KAM_PORT, "-p", "5071", "-m", "1",
                    "-timeout", "15s", "-timeout_error"], "uac")
        msg = await u.next_message(10, lambda m: tag in m["body"])
        rc = await asyncio.get_event_loop().run_in_executor(None, uac.wait, 15)
        await logout(u)
        return msg, rc

    msg, rc = run(go())
    assert rc == 0
    # sip:bob@127.0.0.1 is on sip.domain: a plain gateway JID
    assert str(msg["from"]) == "bob@sip.localhost"
    assert msg["body"] == "via proxy %s #1\n" % tag
    assert re.search(r"GW MESSAGE sip:alice@localhost -> sip:127\.0\.0\.1:5600",
                     kam_log(kamailio))


def test_hairpin_call_through_kamailio(via_kamailio):
    """Issue 3 point 7: alice -> gateway -> Kamailio (record-routing) ->
    gateway -> bob. The same Call-ID is once our UAC dialog and once our
    UAS dialog; both ends and the BYE through the route set work."""
    from jingle import ANSWER, CONTENTS, GW, jlogin, reason_of
    from test_call import online, sessions, until
    gw = via_kamailio

    async def go():
        alice = await jlogin("alice@localhost/phone", "alicepass")
        bob = await jlogin("bob@localhost/phone", "bobpass")
        bob.online_to_gateway()
        await online(gw, "bob@localhost/phone")
        sid = "hp" + uuid.uuid4().hex[:10]
        r = await alice.send_jingle("bob\\40localhost@" + GW, "session-initiate",
                                    sid, CONTENTS)
        assert r["type"] == "result"
        iq, j = await bob.next_jingle(action="session-initiate")
        assert j.get("initiator") == "alice\\40localhost@" + GW
        _, ring = await alice.next_jingle(action="session-info")
        assert ring.get("sid") == sid
        s = sessions(gw)
        assert len(s) == 2 and s[0]["call_id"] == s[1]["call_id"] == sid
        r = await bob.send_jingle(iq["from"], "session-accept", j.get("sid"), ANSWER)
        assert r["type"] == "result"
        _, acc = await alice.next_jingle(action="session-accept")
        assert acc.get("sid") == sid
        await until(lambda: [x["state"] for x in sessions(gw)] == ["active"] * 2,
                    10, "both legs active")
        r = await alice.send_jingle("bob\\40localhost@" + GW, "session-terminate",
                                    sid, "<reason><success/></reason>")
        assert r["type"] == "result"
        _, t = await bob.next_jingle(action="session-terminate")
        assert t.get("sid") == j.get("sid") and reason_of(t)[0] == "success"
        await until(lambda: sessions(gw) == [], 10, "both legs removed")
        await logout(alice)
        await logout(bob)
    run(go())


def test_call_to_a_phone_registered_at_kamailio(kamailio, via_kamailio, sipp):
    """alice calls bob@sip.localhost: the INVITE goes to Kamailio, which
    forwards it to the phone registered as bob (SIPp); the hang-up BYE
    follows the route set Kamailio recorded."""
    from jingle import GW, jlogin
    from test_call import sessions, until
    from test_call_peers import AUDIO
    uas = sipp("uas_call.xml", uas_args() + ["-mp", "16100", "-m", "1"], "uas")
    gw = via_kamailio

    async def go():
        alice = await jlogin("alice@localhost/phone", "alicepass")
        sid = "kp" + uuid.uuid4().hex[:10]
        r = await alice.send_jingle("bob@" + GW, "session-initiate", sid, AUDIO)
        assert r["type"] == "result"
        # Kamailio's workers may relay the phone's 180 after its 200: the
        # ringing is then moot; the accept is what must arrive
        _, j = await alice.next_jingle(action="session-accept", timeout=15)
        assert j.get("sid") == sid
        r = await alice.send_jingle("bob@" + GW, "session-terminate", sid,
                                    "<reason><success/></reason>")
        assert r["type"] == "result"
        rc = await asyncio.get_event_loop().run_in_executor(None, uas.wait, 15)
        assert rc == 0, "the phone did not see the whole call"
        await until(lambda: sessions(gw) == [], 5, "session removed")
        await logout(alice)
    run(go())
    log = kam_log(kamailio)
    assert "REQ INVITE sip:bob@127.0.0.1" in log and "REQ BYE" in log
