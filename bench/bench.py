"""make bench: messaging throughput and latency through the running gateway.

Starts a throw-away Prosody and xsgw (under its supervisor) on loopback, then:
  x2s   alice (slixmpp) -> bob@sip.localhost -> SIP load peer (UAS)
  s2x   SIP load peer (UAC) -> sip:alice@localhost -> alice
and the same loads without the gateway as baselines:
  xmpp  alice -> bob@localhost (Prosody only)
  sip   load peer UAC -> load peer UAS (one UDP hop)
Latency is measured one message at a time, throughput with WINDOW messages
in flight. Reported per run: messages/s, end-to-end latency p50/p99 (idle
and loaded); for x2s/s2x also the latency added over the baseline. Peak RSS (VmHWM) of every xsgw process at the end.
Then the xmpp-front is killed (SIGKILL) KILLS times, one chat each way
sent right after each kill (its component stream stays open in the
supervisor's custody): kill-to-ready time, and the latency those chats saw
(they wait in the kernel while the front restarts), p50/p99, and what that
adds to the unloaded latency.

The SIP load peer is a small asyncio UDP UA: it answers MESSAGE with 200 and
retransmits its own requests per RFC 3261 Timer E. Nothing here asserts a
time: the numbers are the output (JSON report, --out).
"""
import argparse
import asyncio
import json
import os
import platform
import socket
import subprocess
import sys
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integ"))
from xmpp_user import login, logout  # noqa: E402
sys.path.insert(0, os.path.join(ROOT, "bench"))
from benchenv import Env, pct  # noqa: E402

GW = ("127.0.0.1", 5600)
UAS = ("127.0.0.1", 5070)
UAC = ("127.0.0.1", 5071)


class SipPeer(asyncio.DatagramProtocol):
    """UAS: 200 to every MESSAGE, records (body, arrival). UAC: send_message."""

    def __init__(self):
        self.arrived = {}
        self.pending = {}  # branch -> (future, data, dest)
        self.retrans = 0

    def connection_made(self, tr):
        self.tr = tr

    def datagram_received(self, data, addr):
        t = time.monotonic()
        text = data.decode("utf-8", "replace")
        head, _, body = text.partition("\r\n\r\n")
        lines = head.split("\r\n")
        if lines[0].startswith("SIP/2.0 "):
            code = int(lines[0].split(" ", 2)[1])
            for h in lines[1:]:
                if h.lower().startswith("via:"):
                    br = h.split("branch=")[1].split(";")[0]
                    ent = self.pending.get(br)
                    if ent and code >= 200 and not ent[0].done():
                        ent[0].set_result(code)
                    break
            return
        if lines[0].startswith("MESSAGE "):
            self.arrived.setdefault(body, t)
            keep = [h for h in lines[1:] if h.split(":", 1)[0].lower()
                    in ("via", "from", "to", "call-id", "cseq")]
            to = next(i for i, h in enumerate(keep) if h.lower().startswith("to:"))
            if ";tag=" not in keep[to]:
                keep[to] += ";tag=b3nch"
            self.tr.sendto(("SIP/2.0 200 OK\r\n%s\r\nContent-Length: 0\r\n\r\n"
                            % "\r\n".join(keep)).encode(), addr)

    async def send_message(self, dest, ruri, body):
        br = "z9hG4bK" + uuid.uuid4().hex[:16]
        data = ("MESSAGE %s SIP/2.0\r\nVia: SIP/2.0/UDP %s:%d;branch=%s;rport\r\n"
                "Max-Forwards: 70\r\nFrom: <sip:bob@127.0.0.1>;tag=%s\r\n"
                "To: <%s>\r\nCall-ID: %s\r\nCSeq: 1 MESSAGE\r\n"
                "Content-Type: text/plain;charset=UTF-8\r\nContent-Length: %d\r\n\r\n%s"
                % (ruri, UAC[0], UAC[1], br, br[7:13], ruri, br[7:],
                   len(body.encode()), body)).encode()
        fut = asyncio.get_event_loop().create_future()
        self.pending[br] = (fut, data, dest)
        t1 = 0.5
        try:
            while True:
                self.tr.sendto(data, dest)
                try:
                    return await asyncio.wait_for(asyncio.shield(fut), t1)
                except asyncio.TimeoutError:
                    self.retrans += 1
                    t1 = min(t1 * 2, 4.0)
        finally:
            del self.pending[br]


async def windowed(n, window, send_one):
    """Send n items keeping at most `window` unfinished; send_one(i) awaits
    completion of item i."""
    sem = asyncio.Semaphore(window)

    async def one(i):
        async with sem:
            await send_one(i)
    await asyncio.gather(*(one(i) for i in range(n)))


async def xmpp_to_x(alice, target, sink_wait, n, window, tag):
    """alice sends n chats to target; sink_wait(body) -> arrival time."""
    sent = {}

    async def one(i):
        body = "%s-%d" % (tag, i)
        sent[body] = time.monotonic()
        alice.send_message(mto=target, mbody=body, mtype="chat")
        await sink_wait(body)

    t0 = time.monotonic()
    await windowed(n, window, one)
    return sent, t0


async def wait_in(d, key, timeout=30):
    end = time.monotonic() + timeout
    while key not in d:
        if time.monotonic() > end:
            raise TimeoutError("lost: " + key)
        await asyncio.sleep(0.001)
    return d[key]


WORKERS = {}  # name -> pid of the gateway's workers (set in main)
ENV = None    # the running gateway (set in main)


def cpu_ticks():
    """utime + stime of every worker, in clock ticks (/proc/PID/stat)."""
    out = {}
    for name, pid in WORKERS.items():
        try:
            with open("/proc/%d/stat" % pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            out[name] = int(fields[11]) + int(fields[12])
        except OSError:
            pass
    return out


def cpu_per_msg(before, after, n):
    """CPU microseconds per message of each worker and of all three."""
    hz = os.sysconf("SC_CLK_TCK")
    per = {k: round((after[k] - before[k]) * 1e6 / hz / n, 1)
           for k in before if k in after}
    per["total"] = round(sum(per.values()), 1)
    return per


def summarize(name, sent, arrived, t0):
    lat = [arrived[b] - sent[b] for b in sent if b in arrived]
    last = max(arrived[b] for b in sent if b in arrived)
    return {"run": name, "messages": len(sent), "delivered": len(lat),
            "msgs_per_s": round(len(lat) / (last - t0), 1),
            "latency_ms_p50": pct(lat, 50), "latency_ms_p99": pct(lat, 99)}


class Inbox:
    """Arrival times of chat bodies at an XMPP user."""

    def __init__(self, user):
        self.arrived = {}
        user.add_event_handler("message", self._m)

    def _m(self, msg):
        if msg["type"] in ("chat", "normal"):
            self.arrived.setdefault(msg["body"], time.monotonic())


async def bench(args, peer):
    alice = await login("alice@localhost/bench", "alicepass")
    bob = await login("bob@localhost/bench", "bobpass")
    a_in, b_in = Inbox(alice), Inbox(bob)
    # latency unloaded (one message at a time), then throughput (a window)
    lat = await phase(alice, bob, a_in, b_in, peer, args.latency_messages, 1)
    thr = await phase(alice, bob, a_in, b_in, peer, args.messages, args.window)
    kills = await kill_phase(alice, a_in, peer, args.kills)
    await logout(alice)
    await logout(bob)
    out = []
    for r1, r2 in zip(lat, thr):
        r = {"run": r1["run"], "msgs_per_s": r2["msgs_per_s"],
             "throughput_messages": r2["messages"], "window": args.window,
             "delivered": r1["delivered"] + r2["delivered"],
             "latency_ms_p50": r1["latency_ms_p50"],
             "latency_ms_p99": r1["latency_ms_p99"],
             "latency_messages": r1["messages"],
             "loaded_latency_ms_p50": r2["latency_ms_p50"],
             "loaded_latency_ms_p99": r2["latency_ms_p99"]}
        if "cpu_us_per_msg" in r2:
            r["cpu_us_per_msg"] = r2["cpu_us_per_msg"]
        out.append(r)
    by = {r["run"]: r for r in out}
    for gw_run, base in (("x2s", "xmpp_baseline"), ("s2x", "sip_baseline")):
        for p in ("p50", "p99"):
            k = "latency_ms_" + p
            by[gw_run]["added_latency_ms_" + p] = round(by[gw_run][k] - by[base][k], 3)
    for d in ("x2s", "s2x") if kills["kills"] else ():
        for p in ("p50", "p99"):
            kills["%s_latency_added_ms_%s" % (d, p)] = round(
                kills["%s_latency_ms_%s" % (d, p)] - by[d]["latency_ms_p50"], 3)
    return out, kills


def log_ms(line):
    """Wall-clock ms of a log line's timestamp."""
    ts = line.split(" ", 1)[0]
    t = time.strptime(ts[:19], "%Y-%m-%dT%H:%M:%S")
    return (time.mktime(t) - time.timezone) * 1000 + int(ts[20:23])


async def kill_phase(alice, a_in, peer, kills):
    """SIGKILL the xmpp-front `kills` times; right after each kill one chat
    goes each way. kill_to_ready: the kill to the supervisor's "ready" of
    the successor (log timestamps, ms)."""
    to_ready, x2s, s2x = [], [], []
    tag = uuid.uuid4().hex[:6]
    if not kills:
        return {"kills": 0}
    for k in range(kills):
        st = {w["name"]: w for w in ENV.status()}
        old = st["xmpp-front"]["pid"]
        t_kill = time.time() * 1000
        os.kill(old, 9)
        t0 = time.monotonic()
        b1, b2 = "kx%s-%d" % (tag, k), "ks%s-%d" % (tag, k)
        alice.send_message(mto="bob@sip.localhost", mbody=b1, mtype="chat")
        code_task = asyncio.ensure_future(
            peer.send_message(GW, "sip:alice@localhost", b2))
        x2s.append(await wait_in(peer.arrived, b1) - t0)  # seconds
        s2x.append(await wait_in(a_in.arrived, b2) - t0)
        await code_task
        end = time.monotonic() + 30
        while True:
            ready = [ln for ln in ENV.log().splitlines()
                     if "supervisor[" in ln and "xmpp-front ready (pid" in ln
                     and "(pid %d)" % old not in ln]
            ready = [log_ms(ln) for ln in ready if log_ms(ln) >= t_kill - 1]
            if ready:
                to_ready.append((min(ready) - t_kill) / 1000.0)
                break
            if time.monotonic() > end:
                raise SystemExit("xmpp-front not ready within 30 s")
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.3)  # the supervisor's restart backoff resets
    return {"kills": kills,
            "kill_to_ready_ms_p50": pct(to_ready, 50),
            "kill_to_ready_ms_p99": pct(to_ready, 99),
            "x2s_latency_ms_p50": pct(x2s, 50), "x2s_latency_ms_p99": pct(x2s, 99),
            "s2x_latency_ms_p50": pct(s2x, 50), "s2x_latency_ms_p99": pct(s2x, 99)}


async def phase(alice, bob, a_in, b_in, peer, n, w):
    runs = []
    tag = uuid.uuid4().hex[:6]

    # warm-up: one of each path
    alice.send_message(mto="bob@sip.localhost", mbody="warm-" + tag, mtype="chat")
    await wait_in(peer.arrived, "warm-" + tag)
    await peer.send_message(GW, "sip:alice@localhost", "warm2-" + tag)
    await wait_in(a_in.arrived, "warm2-" + tag)

    # XMPP -> SIP through the gateway, and the XMPP-only baseline
    c0 = cpu_ticks()
    sent, t0 = await xmpp_to_x(alice, "bob@sip.localhost",
                               lambda b: wait_in(peer.arrived, b), n, w, "x2s" + tag)
    runs.append(summarize("x2s", sent, peer.arrived, t0))
    runs[-1]["cpu_us_per_msg"] = cpu_per_msg(c0, cpu_ticks(), n)
    sent, t0 = await xmpp_to_x(alice, "bob@localhost",
                               lambda b: wait_in(b_in.arrived, b), n, w, "xx" + tag)
    runs.append(summarize("xmpp_baseline", sent, b_in.arrived, t0))

    # SIP -> XMPP through the gateway, and the SIP-only baseline
    for name, dest, ruri, sink in (
            ("s2x", GW, "sip:alice@localhost", a_in.arrived),
            ("sip_baseline", UAS, "sip:bob@127.0.0.1:5070", peer.arrived)):
        sent = {}

        async def one(i, name=name, dest=dest, ruri=ruri, sink=sink):
            body = "%s%s-%d" % (name, tag, i)
            sent[body] = time.monotonic()
            code = await peer.send_message(dest, ruri, body)
            assert code in (200, 202), code
            await wait_in(sink, body)

        t0 = time.monotonic()
        c0 = cpu_ticks()
        await windowed(n, w, one)
        runs.append(summarize(name, sent, sink, t0))
        if name == "s2x":
            runs[-1]["cpu_us_per_msg"] = cpu_per_msg(c0, cpu_ticks(), n)
    return runs


def rss(gw_cfg, build):
    r = subprocess.run([os.path.join(build, "bin", "xsgwctl"), "-c", gw_cfg,
                        "status", "--json"], capture_output=True, text=True, timeout=10)
    out = {}
    for w in json.loads(r.stdout)["workers"]:
        try:
            with open("/proc/%d/status" % w["pid"]) as f:
                for line in f:
                    if line.startswith(("VmHWM", "VmRSS")):
                        k, v = line.split(":")
                        out.setdefault(w["name"], {})[k.lower() + "_kib"] = int(v.split()[0])
        except OSError:
            pass
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "report.json"))
    ap.add_argument("--messages", type=int, default=2000)
    ap.add_argument("--window", type=int, default=50)
    ap.add_argument("--latency-messages", type=int, default=300)
    ap.add_argument("--kills", type=int, default=20)
    args = ap.parse_args()

    global ENV
    env = ENV = Env(args.build, "alice:alicepass bob:bobpass")
    try:
        env.start()
        cfg = env.cfg
        WORKERS.update({w["name"]: w["pid"] for w in env.status()
                        if w["name"] != "supervisor"})

        async def go():
            loop = asyncio.get_event_loop()
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
            s.bind(UAS)
            s2 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s2.bind(UAC)
            peer = SipPeer()
            t1, _ = await loop.create_datagram_endpoint(lambda: peer, sock=s)
            t2, _ = await loop.create_datagram_endpoint(lambda: peer, sock=s2)
            try:
                runs, kills = await bench(args, peer)
            finally:
                t1.close()
                t2.close()
            return runs, kills, peer.retrans

        runs, kills, retrans = asyncio.run(asyncio.wait_for(go(), 600))
        report = {
            "what": "chat <-> SIP MESSAGE through xsgw (real Prosody, SIP load peer)",
            "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "git": subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                                  capture_output=True, text=True).stdout.strip(),
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                        "kernel": platform.release()},
            "method": "latency: one message at a time (latency_messages); "
                      "msgs_per_s and loaded_latency: `window` in flight "
                      "(throughput_messages); added = gateway path minus the "
                      "baseline of the sending side's protocol; cpu_us_per_msg: "
                      "user+system CPU of each worker (/proc) over the "
                      "throughput run, divided by its messages",
            "sip_retransmissions": retrans,
            "runs": runs,
            "peak_rss": rss(cfg, args.build),
            "xmpp_front_kill": kills,
            "notes": "load generators, Prosody and xsgw share the machine's CPUs; "
                     "baselines show what the peers alone sustain",
        }
    finally:
        env.stop()
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(report, f, indent=2)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
