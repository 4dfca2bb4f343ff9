"""ejabberd as the XMPP server (the second one operators run): the
component handshake (the front's own, XEP-0114), chats both ways, and a
kill -9 of the xmpp-front that nobody notices (socket custody). Its own
ejabberd 23.01 on loopback (tests/peers/ejabberd_start.sh), ports apart
from the shared Prosody's."""
import asyncio
import collections
import os
import subprocess
import tempfile
import uuid

import pytest

from conftest import PEERS, run, uas_args, wait_for
from test_front_edge import udp_port_taken
from test_messaging import sip_request
from xmpp_user import login, logout

C2S, COMP = 45222, 45347
N = 100


@pytest.fixture(scope="module")
def ejabberd():
    top = tempfile.mkdtemp(prefix="xsgw-ejabberd-")
    os.chmod(top, 0o755)  # ejabberd runs as its own user below it
    d = top + "/e"
    env = dict(os.environ, EJ_C2S_PORT=str(C2S), EJ_COMPONENT_PORT=str(COMP),
               EJ_USERS="alice:alicepass bob:bobpass erin:erinpass")
    r = subprocess.run([os.path.join(PEERS, "ejabberd_start.sh"), d],
                       env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    yield d
    subprocess.run([os.path.join(PEERS, "ejabberd_stop.sh"), d],
                   capture_output=True, timeout=60)


def test_ejabberd_chats_both_ways_through_a_kill(ejabberd, gateway_factory,
                                                  sipp):
    gw = gateway_factory(xmpp_port=COMP)
    uas = sipp("uas_message.xml", uas_args(), "uas")
    wait_for(lambda: udp_port_taken(5070), 10, "the SIP peer listening")
    tag = uuid.uuid4().hex[:6]

    async def go():
        u = await login("alice@localhost/ej", "alicepass", port=C2S)
        loop = asyncio.get_event_loop()
        await u["xep_0199"].ping(jid="sip.localhost", timeout=10)
        for i in range(N):
            u.send_message(mto="bob@sip.localhost",
                           mbody="x2s-%s-%d" % (tag, i), mtype="chat")
            if i == N // 2:
                await loop.run_in_executor(None, gw.kill9, "xmpp-front")
                code, _ = await loop.run_in_executor(
                    None, lambda: sip_request(
                        "MESSAGE", "sip:alice@localhost",
                        body=("s2x " + tag).encode()))
                assert code == 202
            await asyncio.sleep(0.005)
        got = await u.drain(1, 15, lambda m: m["type"] == "error"
                            or tag in m["body"])
        await loop.run_in_executor(
            None, wait_for, lambda: len([b for b in uas.logged()
                                         if tag in b]) >= N, 20,
            "every chat at the SIP peer")
        await logout(u)
        return got

    got = run(go())
    assert [m["type"] for m in got] == ["chat"], got
    assert got[0]["body"] == "s2x " + tag
    d = collections.Counter(b for b in uas.logged() if tag in b)
    assert set(d) == {"x2s-%s-%d" % (tag, i) for i in range(N)}
    assert all(c == 1 for c in d.values()), d
    log = gw.read_log()
    assert log.count("continuing the stream") == 1
    assert log.count("xmpp: connected") == 1


def test_ejabberd_client_session_resumed_after_kill9(ejabberd,
                                                     gateway_factory):
    """A phone's client session at ejabberd (mod_stream_mgmt, XEP-0198):
    a kill -9 of the xmpp-front and a restart of the gateway are resumed,
    not signed in anew, and the session goes on answering."""
    session = "erin@localhost/desk"
    gw = gateway_factory(xmpp_port=COMP, presence=(
        '{server: "127.0.0.1:5199", keepalive_max_s: 3600, '
        'client_server: "127.0.0.1:%d", client_tls: optional, '
        'phones: [{sip: "sip:alice@127.0.0.1", jid: "erin@localhost", '
        'resource: "desk", password: "erinpass"}]}' % C2S))
    wait_for(lambda: "client session %s signed in (resumable)" % session
             in gw.read_log(), 20, "the session signed in at ejabberd")

    async def go():
        u = await login("alice@localhost/ej2", "alicepass", port=C2S)
        loop = asyncio.get_event_loop()
        try:
            await u["xep_0199"].ping(jid=session, timeout=10)
            await loop.run_in_executor(None, gw.kill9, "xmpp-front")
            await loop.run_in_executor(None, lambda: wait_for(
                lambda: "client session %s resumed" % session
                in gw.read_log(), 20, "resumed at ejabberd"))
            await u["xep_0199"].ping(jid=session, timeout=10)
            await loop.run_in_executor(None, gw.stop)
            await loop.run_in_executor(None, gw.start)
            await loop.run_in_executor(None, lambda: wait_for(
                lambda: gw.read_log().count(
                    "client session %s resumed" % session) == 2, 20,
                "resumed after a restart"))
            await u["xep_0199"].ping(jid=session, timeout=10)
        finally:
            await logout(u)

    run(go())
    log = gw.read_log()
    assert log.count("client session %s signed in" % session) == 1
    assert "signing in anew" not in log
