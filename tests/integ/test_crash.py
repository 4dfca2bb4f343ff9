"""Crash survival (SPEC §7): SIGKILL each worker in turn during a burst of
messages in each direction, then count every message: delivered exactly
once, or bounced to its sender with an error (only for stanzas that reached
Prosody while the xmpp-front was down — none since its stream is kept in the
supervisor's custody, test_custody.py). None missing, none duplicated."""
import asyncio
import collections
import os
import signal
import uuid

import pytest

from conftest import run, uac_burst_args, uas_args, wait_for
from xmpp_user import login, logout

N = 200


# The xmpp-front's stream outlives it (socket custody): what Prosody writes
# while it is down waits in the kernel, nothing bounces.
@pytest.mark.parametrize("victim", ["sip-front", "translator", "xmpp-front"])
def test_kill9_during_burst(gateway, sipp, victim):
    burst(gateway, sipp, victim, gateway.kill9)
    st = gateway.status()
    assert "signal 9" in st[victim]["last_exit"]


def test_kill9_translator_during_burst_store_periodic(gateway_factory, sipp):
    """store.sync: periodic (no flush during the test: every 60 s): what
    the translator committed is in the page cache, which its SIGKILL does
    not touch; the burst comes through whole as with sync: commit."""
    gateway = gateway_factory(store_sync="periodic")
    assert "flushed to disk every 60000 ms" in gateway.read_log()
    burst(gateway, sipp, "translator", gateway.kill9)
    assert "signal 9" in gateway.status()["translator"]["last_exit"]


def _children(pid):
    """{pid: (comm, state)} of the processes whose parent is pid."""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
        except OSError:
            continue
        comm = st[st.index("(") + 1:st.rindex(")")]
        fields = st[st.rindex(")") + 2:].split()
        if int(fields[1]) == pid:
            out[int(d)] = (comm, fields[0])
    return out


def _flusher(translator):
    """The translator's flusher child, or None (none, or one forked but not
    yet exec'd: it still bears the translator's name)."""
    kids = {p: c for p, (c, s) in _children(translator).items() if s != "Z"}
    assert list(kids.values()) in ([], ["xsgw-flusher"], ["xsgw-translator"]), kids
    return next((p for p, c in kids.items() if c == "xsgw-flusher"), None)


def _answers(pid):
    """How many flushes the flusher has answered (one write each)."""
    with open("/proc/%d/io" % pid) as f:
        return int(dict(l.split(": ") for l in f.read().splitlines())["syscw"])


def _gone(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def test_store_periodic_flush_runs_in_its_own_process(gateway_factory):
    """store.sync: periodic: the translator's loop never waits for the
    disk; a child of it (xsgw-flusher) flushes every sync_interval_ms. It
    dies with the translator, is started again if it dies alone, and is
    gone after a stop."""
    gateway = gateway_factory(store_sync="periodic", sync_interval_ms=50)
    tr = gateway.pid("translator")
    fl = wait_for(lambda: _flusher(tr), 10, "the flusher")
    n0 = _answers(fl)
    wait_for(lambda: _answers(fl) >= n0 + 5, 10, "five flushes answered")

    # the flusher alone dies: the same translator starts another one
    os.kill(fl, signal.SIGKILL)
    # EOF, or ECONNRESET if it died with a request unread
    wait_for(lambda: "store: the flusher is gone (" in gateway.read_log(), 10,
             "the translator saw it")
    fl2 = wait_for(lambda: _flusher(tr), 10, "a new flusher")
    assert fl2 != fl
    n0 = _answers(fl2)
    wait_for(lambda: _answers(fl2) >= n0 + 3, 10, "the new one flushes")
    assert gateway.pid("translator") == tr
    assert gateway.status()["translator"]["restarts"] == 0

    # a flush that hangs (a stopped flusher: a disk that does not answer)
    # is logged, and the translator goes on answering meanwhile
    os.kill(fl2, signal.SIGSTOP)
    wait_for(lambda: "a flush to disk has been running for" in gateway.read_log(),
             10, "the hung flush logged")
    assert "messages.pending" in gateway.ctl("stats").stdout
    # the supervisor's heartbeats (every 300 ms) were answered throughout
    assert gateway.pid("translator") == tr
    assert gateway.status()["translator"]["restarts"] == 0
    os.kill(fl2, signal.SIGCONT)
    n0 = _answers(fl2)
    wait_for(lambda: _answers(fl2) >= n0 + 3, 10, "flushing again")

    # killed while stopped, with a request unread: ECONNRESET, not EOF
    os.kill(fl2, signal.SIGSTOP)
    wait_for(lambda: gateway.read_log().count(
        "a flush to disk has been running for") >= 2, 10, "hung again")
    os.kill(fl2, signal.SIGKILL)
    wait_for(lambda: "store: the flusher is gone (Connection reset by peer)"
             in gateway.read_log(), 10, "the reset seen")
    fl3 = wait_for(lambda: _flusher(tr), 10, "a third flusher")
    assert fl3 not in (fl, fl2)
    n0 = _answers(fl3)
    wait_for(lambda: _answers(fl3) >= n0 + 3, 10, "the third one flushes")
    assert gateway.pid("translator") == tr

    # the translator dies: its flusher with it, the next one has its own
    gateway.kill9("translator")
    wait_for(lambda: _gone(fl3), 10, "the flusher gone with the translator")
    tr2 = gateway.pid("translator")
    fl4 = wait_for(lambda: _flusher(tr2), 10, "the new translator's flusher")

    # a stop leaves nothing behind
    assert gateway.stop() == 0
    assert _gone(fl4) and _gone(tr2)


@pytest.mark.parametrize("victim", ["sip-front", "translator", "xmpp-front"])
def test_ctl_restart_during_burst(gateway, sipp, victim):
    """xsgwctl restart WORKER (e.g. after an upgrade of its binary): the
    worker drains and stops cleanly; nothing is lost or duplicated."""
    burst(gateway, sipp, victim, gateway.restart)
    st = gateway.status()
    assert st[victim]["last_exit"] == "exited with code 0"


def burst(gateway, sipp, victim, action):
    run_id = uuid.uuid4().hex[:6]
    uas = sipp("uas_message.xml", uas_args(), "uas")

    def delivered():
        return collections.Counter(b for b in uas.logged()
                                   if b.startswith("x2s-" + run_id))

    def missing_x2s(got):
        d = delivered()
        bounced = {m["id"] for m in got if m["type"] == "error"}
        return [i for i in range(N) if "x2s-%s-%d" % (run_id, i) not in d
                and "x2s-%s-%d" % (run_id, i) not in bounced]

    async def go():
        alice = await login("alice@localhost/burst", "alicepass")
        loop = asyncio.get_event_loop()
        # SIP -> XMPP: SIPp UAC, 100 MESSAGE/s, retransmits per Timer E
        uac = sipp("uac_message.xml",
                   uac_burst_args("s2x-" + run_id, N, 100, 400, 90), "uac")
        # XMPP -> SIP: N chats, paced like the SIP side; kill mid-burst
        for i in range(N):
            m = alice.make_message(mto="bob@sip.localhost",
                                   mbody="x2s-%s-%d" % (run_id, i), mtype="chat")
            m["id"] = "x2s-%s-%d" % (run_id, i)
            m.send()
            if i == N // 2:
                await loop.run_in_executor(None, action, victim)
            await asyncio.sleep(0.01)
        rc = await loop.run_in_executor(None, uac.wait, 120)
        got, chats = [], 0
        end = loop.time() + 60
        while chats < N and loop.time() < end:
            try:
                m = await alice.next_message(end - loop.time())
            except asyncio.TimeoutError:
                break
            if m["type"] == "error" or ("s2x-" + run_id) in m["body"]:
                got.append(m)
                chats += m["type"] == "chat"
        # XMPP -> SIP: read on until each one is at the SIP peer or has
        # bounced back to alice (a bounce is an event here, not a time)
        end = loop.time() + 30
        while missing_x2s(got) and loop.time() < end:
            try:
                m = await alice.next_message(0.2, lambda m: m["type"] == "error")
                got.append(m)
            except asyncio.TimeoutError:
                pass
        await logout(alice)
        return rc, got

    rc, got = run(go(), timeout=300)
    assert rc == 0, "SIPp UAC: some MESSAGE got no 2xx"

    # SIP -> XMPP: every call number exactly once
    s2x = collections.Counter(m["body"] for m in got if m["type"] == "chat")
    want = {"s2x-%s #%d\n" % (run_id, i) for i in range(1, N + 1)}
    assert set(s2x) == want, "missing: %s" % sorted(want - set(s2x))[:10]
    assert all(c == 1 for c in s2x.values()), \
        "duplicated: %s" % [b for b, c in s2x.items() if c > 1][:10]

    # XMPP -> SIP: at the SIP peer exactly once, or bounced to alice
    # a bounce carries the stanza id (Prosody's own bounces have no body)
    bounced = {m["id"] for m in got if m["type"] == "error"}
    missing = missing_x2s(got)
    assert not missing, "XMPP->SIP neither delivered nor bounced: %s" % missing
    d = delivered()
    assert all(c == 1 for c in d.values()), \
        "duplicated at the SIP peer: %s" % [b for b, c in d.items() if c > 1]
    assert not bounced, "bounced to the user: %s" % bounced
    for b in bounced:
        assert b not in d, "%s both delivered and bounced" % b

    # nothing left in flight
    wait_for(lambda: "messages.pending             0" in gateway.ctl("stats").stdout,
             20, "no pending messages")
    st = gateway.status()
    assert st[victim]["restarts"] == 1
    assert all(w["state"] == "ready" for w in st.values())
