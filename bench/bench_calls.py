"""make bench, calls: Jingle <-> SIP call setups through the running gateway.

Starts a throw-away Prosody and xsgw on loopback, a SIP UAS peer that
answers every INVITE at once (180, 200 + SDP; 200 to BYE), and slixmpp
users, then measures:
  setup latency   session-initiate -> INVITE -> 180 -> 200 -> session-accept
                  (+ ACK), one call at a time; p50/p99, and the latency added
                  over the XMPP-only baseline (alice -> bob's client, which
                  answers session-accept at once: the same two XMPP hops)
  setups/s        full calls (set up, then terminate -> BYE -> 200) with
                  WINDOW in flight
  memory          translator/front RSS and store bytes with HELD calls
                  answered and held, per call
  restart         kill -9 of each worker -> supervisor reports it ready
                  (xmpp-front: -> component connected again)
The results are merged into bench/report.json under "calls". Nothing here
asserts a time.
"""
import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
import xml.etree.ElementTree as ET

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integ"))
sys.path.insert(0, os.path.join(ROOT, "bench"))
from benchenv import Env, pct  # noqa: E402
from jingle import GW, NS, jlogin  # noqa: E402
from xmpp_user import logout  # noqa: E402

AUDIO = """<content xmlns='urn:xmpp:jingle:1' creator='initiator' name='audio' senders='both'>
 <description xmlns='urn:xmpp:jingle:apps:rtp:1' media='audio'>
  <payload-type id='0' name='PCMU' clockrate='8000'/></description>
 <transport xmlns='urn:xmpp:jingle:transports:raw-udp:1'>
  <candidate id='r1' component='1' generation='0' ip='127.0.0.1' port='41000'/></transport>
</content>"""
SDP = ("v=0\r\no=uas 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
       "m=audio 30000 RTP/AVP 0\r\n")


class Uas(asyncio.DatagramProtocol):
    """Answers every INVITE at once; 200 to BYE; counts ACKs."""

    def __init__(self):
        self.acks = 0
        self.byes = 0

    def connection_made(self, tr):
        self.tr = tr

    def datagram_received(self, data, addr):
        msg = data.decode("utf-8", "replace")
        method = msg.split(" ", 1)[0]
        if method == "ACK":
            self.acks += 1
            return
        if method not in ("INVITE", "BYE", "INFO", "CANCEL"):
            return
        head = msg.split("\r\n\r\n", 1)[0].split("\r\n")
        keep = []
        for h in head[1:]:
            k = h.split(":", 1)[0].strip().lower()
            if k in ("via", "from", "call-id", "cseq"):
                keep.append(h)
            elif k == "to":
                keep.append(h if ";tag=" in h else h + ";tag=uas" + uuid.uuid4().hex[:8])
        base = "\r\n".join(keep)
        if method == "INVITE":
            self.tr.sendto(("SIP/2.0 180 Ringing\r\n%s\r\nContent-Length: 0\r\n\r\n"
                            % base).encode(), addr)
            self.tr.sendto(("SIP/2.0 200 OK\r\n%s\r\nContact: <sip:uas@127.0.0.1:5070>\r\n"
                            "Content-Type: application/sdp\r\nContent-Length: %d\r\n\r\n%s"
                            % (base, len(SDP), SDP)).encode(), addr)
        else:
            self.byes += method == "BYE"
            self.tr.sendto(("SIP/2.0 200 OK\r\n%s\r\nContent-Length: 0\r\n\r\n"
                            % base).encode(), addr)


class Caller:
    """Futures per sid for the Jingle actions a user receives."""

    def __init__(self, user):
        self.user = user
        self.waiting = {}
        q = user.jingle

        async def pump():
            while True:
                iq = await q.get()
                j = iq.xml.find("{%s}jingle" % NS)
                key = (j.get("sid"), j.get("action"))
                f = self.waiting.pop(key, None)
                if f and not f.done():
                    f.set_result((time.monotonic(), iq, j))
        self.task = asyncio.ensure_future(pump())

    def expect(self, sid, action):
        f = asyncio.get_event_loop().create_future()
        self.waiting[(sid, action)] = f
        return f


async def one_call(alice, c, to, hangup=True):
    sid = uuid.uuid4().hex
    acc = c.expect(sid, "session-accept")
    t0 = time.monotonic()
    r = await alice.send_jingle(to, "session-initiate", sid, AUDIO, timeout=30)
    assert r["type"] == "result", r
    t1, _, _ = await asyncio.wait_for(acc, 30)
    if hangup:
        r = await alice.send_jingle(to, "session-terminate", sid,
                                    "<reason><success/></reason>", timeout=30)
        assert r["type"] == "result"
    return t1 - t0, sid


async def baseline_call(alice, c, bob_full):
    """alice -> bob's client (which accepts at once): XMPP hops only."""
    sid = uuid.uuid4().hex
    acc = c.expect(sid, "session-accept")
    t0 = time.monotonic()
    await alice.send_jingle(bob_full, "session-initiate", sid, AUDIO, timeout=30)
    t1, _, _ = await asyncio.wait_for(acc, 30)
    return t1 - t0


async def windowed(n, w, fn):
    sem = asyncio.Semaphore(w)

    async def run(i):
        async with sem:
            return await fn(i)
    return await asyncio.gather(*(run(i) for i in range(n)))


def proc_rss(env):
    out = {}
    for w in env.status():
        try:
            with open("/proc/%d/status" % w["pid"]) as f:
                for line in f:
                    if line.startswith("VmRSS"):
                        out[w["name"]] = int(line.split()[1])
        except OSError:
            pass
    return out


def store_bytes(env):
    r = subprocess.run([env.ctl_bin, "-c", env.cfg, "stats", "--json"],
                       capture_output=True, text=True, timeout=10)
    try:
        st = json.loads(r.stdout)
    except ValueError:
        return None
    for v in st.values() if isinstance(st, dict) else []:
        if isinstance(v, dict) and "store.used_bytes" in v:
            return v["store.used_bytes"]
    return st.get("store.used_bytes")


async def restart_times(env):
    out = {}
    for w in ("translator", "sip-front", "xmpp-front"):
        ups = env.log().count("xmpp link up")
        old = {x["name"]: x for x in env.status()}[w]["pid"]
        t0 = time.monotonic()
        os.kill(old, signal.SIGKILL)
        end = t0 + 30
        while time.monotonic() < end:
            s = {x["name"]: x for x in env.status() or []}.get(w, {})
            if s.get("pid") not in (None, 0, old) and s.get("state") == "ready":
                break
            await asyncio.sleep(0.005)
        else:
            raise SystemExit("%s not back within 30 s" % w)
        ready = time.monotonic() - t0
        while w == "xmpp-front" and env.log().count("xmpp link up") <= ups:
            if time.monotonic() > end:
                raise SystemExit("the component did not reconnect within 30 s")
            await asyncio.sleep(0.005)
        out[w] = {"restart_to_ready_ms": round(ready * 1000, 1),
                  "restart_to_serving_ms": round((time.monotonic() - t0) * 1000, 1)}
    return out


async def bench(args, env):
    loop = asyncio.get_event_loop()
    uas = Uas()
    tr, _ = await loop.create_datagram_endpoint(lambda: uas, local_addr=("127.0.0.1", 5070))
    alice = await jlogin("alice@localhost/bench", "alicepass")
    bob = await jlogin("bob@localhost/bench", "bobpass")
    ca = Caller(alice)

    # bob's client accepts every session-initiate at once (the baseline)
    def bob_auto(iq):
        j = iq.xml.find("{%s}jingle" % NS)
        if j is not None and j.get("action") == "session-initiate":
            body = "".join(ET.tostring(c, encoding="unicode") for c in j)
            asyncio.ensure_future(bob.send_jingle(iq["from"], "session-accept",
                                                  j.get("sid"), body, timeout=30))
    bob.on_jingle = bob_auto
    to = "bob@" + GW
    for _ in range(5):  # warm-up
        await one_call(alice, ca, to)
    lat = [(await one_call(alice, ca, to))[0] for _ in range(args.latency_calls)]
    base = []
    for _ in range(args.latency_calls):
        base.append(await baseline_call(alice, ca, "bob@localhost/bench"))
    t0 = time.monotonic()
    res = await windowed(args.calls, args.window, lambda i: one_call(alice, ca, to))
    dt = time.monotonic() - t0
    loaded = [r[0] for r in res]
    # memory per held call
    await asyncio.sleep(0.5)
    rss0, st0 = proc_rss(env), store_bytes(env)
    held = await windowed(args.held, args.window,
                          lambda i: one_call(alice, ca, to, hangup=False))
    await asyncio.sleep(0.5)
    rss1, st1 = proc_rss(env), store_bytes(env)
    n_sessions = len(json.loads(subprocess.run(
        [env.ctl_bin, "-c", env.cfg, "sessions", "--json"], capture_output=True,
        text=True, timeout=30).stdout)["sessions"])
    await windowed(len(held), args.window, lambda i: alice.send_jingle(
        to, "session-terminate", held[i][1], "<reason><success/></reason>", timeout=30))
    restarts = await restart_times(env)
    await logout(alice)
    await logout(bob)
    tr.close()
    mem = {"held_calls": args.held, "sessions_listed": n_sessions,
           "rss_kib_before": rss0, "rss_kib_with_held": rss1,
           "rss_bytes_per_call": {k: round((rss1.get(k, 0) - rss0.get(k, 0)) * 1024 / args.held)
                                  for k in rss1},
           "store_bytes_before": st0, "store_bytes_with_held": st1}
    if st0 is not None and st1 is not None:
        mem["store_bytes_per_call"] = round((st1 - st0) / args.held)
    return {
        "setup_latency_ms_p50": pct(lat, 50), "setup_latency_ms_p99": pct(lat, 99),
        "latency_calls": args.latency_calls,
        "xmpp_baseline_ms_p50": pct(base, 50), "xmpp_baseline_ms_p99": pct(base, 99),
        "added_latency_ms_p50": round(pct(lat, 50) - pct(base, 50), 3),
        "added_latency_ms_p99": round(pct(lat, 99) - pct(base, 99), 3),
        "setups_per_s": round(args.calls / dt, 1), "calls": args.calls,
        "window": args.window,
        "loaded_setup_latency_ms_p50": pct(loaded, 50),
        "loaded_setup_latency_ms_p99": pct(loaded, 99),
        "uas_acks": uas.acks, "uas_byes": uas.byes,
        "memory": mem, "restart": restarts,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "report.json"))
    ap.add_argument("--calls", type=int, default=500)
    ap.add_argument("--window", type=int, default=20)
    ap.add_argument("--latency-calls", type=int, default=100)
    ap.add_argument("--held", type=int, default=1000)
    args = ap.parse_args()
    env = Env(args.build, "alice:alicepass bob:bobpass")
    try:
        env.start()
        res = asyncio.run(asyncio.wait_for(bench(args, env), 900))
    finally:
        env.stop()
    res["what"] = ("Jingle session-initiate -> INVITE -> 180 -> 200 -> session-accept "
                   "(+ACK), terminate -> BYE, through xsgw (real Prosody, slixmpp, "
                   "a SIP UAS that answers at once)")
    res["when"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    report = {}
    if os.path.exists(args.out):
        with open(args.out) as f:
            report = json.load(f)
    report["calls"] = res
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(report, f, indent=2)
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
