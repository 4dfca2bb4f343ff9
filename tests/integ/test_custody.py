"""Socket custody (issue 10): the component stream outlives the xmpp-front.

The xmpp-front is killed (SIGKILL), restarted (xsgwctl restart) or stopped
(SIGSTOP until the heartbeat kills it) many times at random instants while
1 000 chats flow each way. Nobody notices: every chat arrives exactly once,
no stanza bounces back to a user, and Prosody sees one component connection
for the whole test."""
import asyncio
import collections
import os
import random
import signal
import threading
import time
import uuid

import pytest

from conftest import run, uac_burst_args, uas_args, wait_for
from test_messaging import sip_request
from test_outage import C2S, COMP, own_prosody, prosody_ctl  # noqa: F401
from xmpp_user import login, logout

N = 1000


def prosody_log(prosody):
    with open(os.path.join(prosody, "prosody.log"), "rb") as f:
        return f.read().decode("utf-8", "replace")


def component_events(prosody, since):
    """Prosody's component connections and disconnections after since."""
    text = prosody_log(prosody)[since:]
    return [ln for ln in text.splitlines()
            if "Incoming Jabber component connection" in ln
            or "component disconnected" in ln
            or "External component successfully authenticated" in ln]


def sigstop_until_replaced(gw, worker):
    """SIGSTOP: the supervisor's heartbeat finds it hung and kills it."""
    old = gw.pid(worker)
    os.kill(old, signal.SIGSTOP)
    gw.wait_replaced(worker, old)


ACTIONS = {
    "kill9": (lambda gw: gw.kill9, 10, "signal 9"),
    "restart": (lambda gw: gw.restart, 10, "exited with code 0"),
    "sigstop": (lambda gw: lambda w: sigstop_until_replaced(gw, w), 3,
                "signal 9"),
}


@pytest.mark.parametrize("how", sorted(ACTIONS))
def test_xmpp_front_dies_during_bursts_nobody_notices(gateway, sipp, prosody,
                                                      how):
    action, times, last_exit = ACTIONS[how]
    action = action(gateway)
    since = len(prosody_log(prosody))
    run_id = uuid.uuid4().hex[:6]
    uas = sipp("uas_message.xml", uas_args(), "uas")
    rng = random.Random(run_id)
    done_killing = threading.Event()
    errors = []

    def killer():
        try:
            for _ in range(times):
                time.sleep(rng.uniform(0.05, 0.4))
                action("xmpp-front")
        except Exception as e:  # reported by the test, not lost in a thread
            errors.append(e)
        finally:
            done_killing.set()

    def delivered():
        return collections.Counter(b for b in uas.logged()
                                   if b.startswith("x2s-" + run_id))

    async def go():
        alice = await login("alice@localhost/custody", "alicepass")
        loop = asyncio.get_event_loop()
        uac = sipp("uac_message.xml",
                   uac_burst_args("s2x-" + run_id, N, 150, 600, 120), "uac")
        t = threading.Thread(target=killer, daemon=True)
        t.start()
        # XMPP -> SIP: paced so that the kills fall inside the burst
        i = 0
        while i < N:
            m = alice.make_message(mto="bob@sip.localhost",
                                   mbody="x2s-%s-%d" % (run_id, i),
                                   mtype="chat")
            m["id"] = "x2s-%s-%d" % (run_id, i)
            m.send()
            i += 1
            await asyncio.sleep(0.004 if not done_killing.is_set() else 0)
        rc = await loop.run_in_executor(None, uac.wait, 180)
        await loop.run_in_executor(None, done_killing.wait, 120)
        got = []
        end = loop.time() + 60
        while loop.time() < end:
            chats = sum(1 for m in got if m["type"] == "chat")
            if chats >= N and len(delivered()) >= N:
                break
            try:
                got.append(await alice.next_message(0.5))
            except asyncio.TimeoutError:
                pass
        # a late duplicate or bounce would show within this window
        got += await alice.drain(1, 1.0)
        await logout(alice)
        return rc, got

    rc, got = run(go(), timeout=400)
    assert not errors, errors
    assert rc == 0, "SIPp UAC: some MESSAGE got no 2xx"

    bounced = [m for m in got if m["type"] == "error"]
    assert not bounced, "bounced to the user: %s" % [
        (m["id"], str(m["error"]["condition"])) for m in bounced[:5]]

    s2x = collections.Counter(m["body"] for m in got if m["type"] == "chat")
    want = {"s2x-%s #%d\n" % (run_id, i) for i in range(1, N + 1)}
    assert set(s2x) == want, "missing: %s" % sorted(want - set(s2x))[:10]
    assert all(c == 1 for c in s2x.values()), \
        "duplicated: %s" % [b for b, c in s2x.items() if c > 1][:10]

    d = delivered()
    want = {"x2s-%s-%d" % (run_id, i) for i in range(N)}
    assert set(d) == want, "missing at the SIP peer: %s" % \
        sorted(want - set(d))[:10]
    assert all(c == 1 for c in d.values()), \
        "duplicated at the SIP peer: %s" % [b for b, c in d.items() if c > 1]

    # Prosody saw no reconnection: one component connection throughout
    ev = component_events(prosody, since)
    assert not ev, ev
    wait_for(lambda: "messages.pending             0" in
             gateway.ctl("stats").stdout, 20, "no pending messages")
    st = gateway.status()
    assert st["xmpp-front"]["restarts"] == times
    assert last_exit in st["xmpp-front"]["last_exit"]
    assert all(w["state"] == "ready" for w in st.values())
    log = gateway.read_log()
    assert log.count("xmpp: connected") == 1, "the front reconnected"
    assert log.count("continuing the stream") == times


def test_server_restart_new_connection_goes_into_custody(own_prosody,
                                                         gateway_factory):
    """The connection itself breaks (Prosody restarts): the front connects
    anew as before, and the new connection is the one the supervisor holds:
    a kill after that continues it, and the chat still arrives."""
    gw = gateway_factory(xmpp_port=COMP)
    prosody_ctl(own_prosody, "stop")
    prosody_ctl(own_prosody, "start")
    wait_for(lambda: gw.read_log().count("xmpp: connected to") >= 2, 20,
             "component connected again")
    since = len(prosody_log(own_prosody))
    tag = uuid.uuid4().hex[:8]
    gw.kill9("xmpp-front")
    code, _ = sip_request("MESSAGE", "sip:alice@localhost",
                          body=("after the kill " + tag).encode())
    assert code == 202

    async def go():
        u = await login("alice@localhost/back", "alicepass", port=C2S)
        m = await u.next_message(15, lambda m: tag in m["body"])
        await logout(u)
        return m

    assert run(go())["body"] == "after the kill " + tag
    assert gw.read_log().count("continuing the stream") == 1
    assert gw.read_log().count("xmpp: connected to") == 2
    assert not component_events(own_prosody, since)


def proc_cpu_ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def component_rx_queue(port=5347):
    """Bytes waiting unread in the gateway's end of the component
    connection (/proc/net/tcp of this network namespace)."""
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fl = line.split()
            if fl[2].endswith(":%04X" % port) and fl[3] == "01":
                return int(fl[4].split(":")[1], 16)
    return 0


@pytest.mark.parametrize("chats", [1, 400])
def test_front_does_not_spin_while_stanzas_wait_for_their_commit(
        gateway_factory, sipp, chats):
    """Peeked bytes stay queued until the translator commits them; they
    must not keep the front busy. The translator is stopped; one chat
    waits (the socket is only readable for new bytes: SO_RCVLOWAT), or 400
    of 300 bytes queue at the front (with the default 128 KiB receive
    buffer they filled it: Linux then reported it readable whatever
    SO_RCVLOWAT said and the front spun at 100 %; and a partial stanza's
    few bytes could pin a whole segment, close the window and stall the
    stream for good — 1 run in 5 under load). When the translator runs
    again every chat reaches the SIP peer once."""
    # the chats reach SIPp as one burst when the translator runs again; on
    # a loaded machine SIPp may take longer than the tests' usual 4 s
    # message timeout to answer them all (sip.message_timeout_ms: RFC
    # 3261's Timer F then)
    gateway = gateway_factory(supervisor={"heartbeat_ms": "20000"},
                              sip={"message_timeout_ms": "32000"})
    # the burst: a socket buffer for all of them
    # (SIPp's own is 64 KiB; a datagram it drops would be retransmitted
    # only until sip.message_timeout_ms)
    uas = sipp("uas_message.xml", uas_args() + ["-buff_size", "4194304"],
               "uas")
    tr = gateway.pid("translator")
    front = gateway.pid("xmpp-front")
    hz = os.sysconf("SC_CLK_TCK")
    tag = uuid.uuid4().hex[:8]
    pad = "p" * (300 if chats > 1 else 0)
    full = 100000 if chats > 1 else 1

    async def go():
        u = await login("alice@localhost/spin", "alicepass")
        os.kill(tr, signal.SIGSTOP)
        try:
            for i in range(chats):
                u.send_message(mto="bob@sip.localhost",
                               mbody="%s-%d %s" % (tag, i, pad),
                               mtype="chat")
                await asyncio.sleep(0)
            # the chats wait in the front's socket (peeked, not consumed)
            await asyncio.get_event_loop().run_in_executor(
                None, wait_for, lambda: component_rx_queue() >= full, 20,
                "chats queued at the front")
            t0 = proc_cpu_ticks(front)
            await asyncio.sleep(2.0)  # a window to count CPU, not a sync
            used = proc_cpu_ticks(front) - t0
        finally:
            os.kill(tr, signal.SIGCONT)
        # each chat reaches the SIP peer or comes back as an error
        loop = asyncio.get_event_loop()
        end = loop.time() + 90
        bounced = []
        while loop.time() < end and len(
                [b for b in uas.logged() if b.startswith(tag)]) + \
                len(bounced) < chats:
            bounced += await u.drain(chats, 0.5,
                                     lambda m: m["type"] == "error")
        bounced += await u.drain(chats, 1.0, lambda m: m["type"] == "error")
        await logout(u)
        return used, bounced

    used, bounced = run(go())
    assert used < hz // 2, "xmpp-front used %d ticks in 2 s" % used
    got = collections.Counter(b.split(" ")[0] for b in uas.logged()
                              if b.startswith(tag))
    assert bounced == [], [(m["id"], str(m["error"]["condition"]),
                            m["error"]["text"]) for m in bounced[:5]]
    assert set(got) == {"%s-%d" % (tag, i) for i in range(chats)}, \
        "%d of %d at the SIP peer" % (len(got), chats)
    assert all(c == 1 for c in got.values()), got
