"""Crash survival (SPEC §7): SIGKILL each worker in turn during a burst of
messages in each direction, then count every message: delivered exactly
once, or bounced to its sender with an error (only for stanzas that reached
Prosody while the xmpp-front was down). None missing, none duplicated."""
import asyncio
import collections
import uuid

import pytest

from conftest import GW_SIP, run, uas_args, wait_for
from xmpp_user import login, logout

N = 200


XMPP_FRONT_GAP = (
    "known gap: stanzas Prosody had already written to the component socket "
    "when the xmpp-front was SIGKILLed are lost (XEP-0114 has no acks and "
    "Prosody does not bounce them); issue 2 stays open on this point")


@pytest.mark.parametrize("victim", [
    "sip-front", "translator",
    pytest.param("xmpp-front", marks=pytest.mark.xfail(reason=XMPP_FRONT_GAP,
                                                       strict=False))])
def test_kill9_during_burst(gateway, sipp, victim):
    run_id = uuid.uuid4().hex[:6]
    uas = sipp("uas_message.xml", uas_args(), "uas")

    async def go():
        alice = await login("alice@localhost/burst", "alicepass")
        loop = asyncio.get_event_loop()
        # SIP -> XMPP: SIPp UAC, 100 MESSAGE/s, retransmits per Timer E
        uac = sipp("uac_message.xml",
                   ["-s", "alice", "-key", "domain", "localhost", "-key",
                    "from", "bob", "-key", "text", "s2x-" + run_id, GW_SIP,
                    "-p", "5071", "-m", str(N), "-r", "100", "-l", "400",
                    "-timeout", "90s", "-timeout_error"], "uac")
        # XMPP -> SIP: N chats, paced like the SIP side; kill mid-burst
        for i in range(N):
            alice.send_message(mto="bob@sip.localhost",
                               mbody="x2s-%s-%d" % (run_id, i), mtype="chat",
                               )
            if i == N // 2:
                await loop.run_in_executor(None, gateway.kill9, victim)
            await asyncio.sleep(0.01)
        rc = await loop.run_in_executor(None, uac.wait, 120)
        got = await alice.drain(N, 60, lambda m: ("s2x-" + run_id) in m["body"]
                                or m["type"] == "error")
        # errors for our own x2s messages may still be coming
        more = await alice.drain(N, 3, lambda m: m["type"] == "error")
        await logout(alice)
        return rc, got + more

    rc, got = run(go(), timeout=300)
    assert rc == 0, "SIPp UAC: some MESSAGE got no 2xx"

    # SIP -> XMPP: every call number exactly once
    s2x = collections.Counter(m["body"] for m in got if m["type"] == "chat")
    want = {"s2x-%s #%d\n" % (run_id, i) for i in range(1, N + 1)}
    assert set(s2x) == want, "missing: %s" % sorted(want - set(s2x))[:10]
    assert all(c == 1 for c in s2x.values()), \
        "duplicated: %s" % [b for b, c in s2x.items() if c > 1][:10]

    # XMPP -> SIP: at the SIP peer exactly once, or bounced to alice
    bounced = {m["body"] for m in got if m["type"] == "error"}
    def delivered():
        return collections.Counter(b for b in uas.logged()
                                   if b.startswith("x2s-" + run_id))
    wait_for(lambda: sum(1 for i in range(N)
                         if "x2s-%s-%d" % (run_id, i) in delivered()
                         or "x2s-%s-%d" % (run_id, i) in bounced) == N,
             30, "every XMPP message delivered or bounced")
    d = delivered()
    assert all(c == 1 for c in d.values()), \
        "duplicated at the SIP peer: %s" % [b for b, c in d.items() if c > 1]
    if victim != "xmpp-front":
        assert not bounced, "bounced without the xmpp-front down: %s" % bounced
    for b in bounced:
        assert b not in d, "%s both delivered and bounced" % b

    # nothing left in flight
    wait_for(lambda: "messages.pending             0" in gateway.ctl("stats").stdout,
             20, "no pending messages")
    st = gateway.status()
    assert st[victim]["restarts"] == 1
    assert "signal 9" in st[victim]["last_exit"]
