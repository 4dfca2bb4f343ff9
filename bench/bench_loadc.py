"""make bench, C load client (issue 13): calls and chats through xsgw
against a do-nothing component on the same Prosody, in the same run.

Starts a throw-away Prosody (with a second component, null.localhost,
served by bench/nullcomp), xsgw under its supervisor (sip.proxy "": the
INVITEs and MESSAGEs go straight to a SIPp UAS on 127.0.0.1:5070 that
answers at once, bench/sipp_uas.xml), then for each target
  gateway  bob@sip.localhost   (Jingle -> INVITE -> 180/200 -> session-accept;
                                chat -> MESSAGE -> 200 -> XEP-0184 receipt)
  null     bob@null.localhost  (nullcomp answers both at once: the ceiling)
and each flow (call, msg) runs bench/loadc (C, epoll, N c2s users):
  unloaded  COUNT ops one at a time (closed loop)
  ladder    open loop at rising rates, STEP_S seconds each, until failures,
            a rate not sustained, or p50 above 10x the unloaded p50
Per step: CPU seconds per op of each process (utime+stime from
/proc/PID/stat, before/after), loadc's own CPU (getrusage). At the end:
peak RSS (VmHWM) of each process and the store's bytes.
With --soak-s: a constant message load that long, the store's bytes in
use and each worker's RSS every 10 s (the steady state of issue 13
point 4); --store-sync periodic: the gateway with store.sync: periodic;
--cpu N: the gateway (supervisor.cpus: "N"), nullcomp and Kamailio each
placed on CPU N (Prosody, SIPp and loadc are not placed; README:
supervisor.cpus).
With --held N: N calls held in a bed of their own (RSS and store per
held call, kill -9 of each worker to ready with them live, a full
restart).
Then, in the same run (bench_kamailio.py; --no-kamailio skips it),
Kamailio relaying the same SIP traffic (INVITE/ACK/BYE with its dialog
module, MESSAGE) between two SIPps at the rates the gateway's ladder ran:
Kamailio's CPU per op (all its processes) and SIPp's p50/p99, and
"gateway_vs_kamailio": the gateway's three workers' CPU per op over
Kamailio's, per rate (issue 13 point 3).
Merged into bench/report.json under "loadc" (other keys kept); a short
table is printed.
"""
import argparse
import json
import os
import signal
import subprocess
import tempfile
import time

import bench_kamailio
import threading

from benchenv import hwm, rss, ticks, wait, wakeups  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PEERS = os.path.join(ROOT, "tests", "peers")
HZ = os.sysconf("SC_CLK_TCK")


def port_open(port):
    import socket
    s = socket.socket()
    s.settimeout(0.2)
    try:
        s.connect(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


class Bed:
    def __init__(self, args):
        self.args = args
        self.tmp = tempfile.mkdtemp(prefix="xsgw-loadc-")
        self.procs = {}   # name -> Popen we own
        self.pids = {}    # name -> pid to measure
        self.cfg = os.path.join(self.tmp, "xsgw.yaml")
        self.ctl = os.path.join(args.build, "bin", "xsgwctl")

    def start(self):
        a = self.args
        pdir = os.path.join(self.tmp, "prosody")
        users = " ".join("lc%d:pass" % i for i in range(a.users))
        env = dict(os.environ, XMPP_USERS=users)
        if a.prosody_debug:
            env["PROSODY_LOGLEVEL"] = "debug"
        # prosody_start.sh writes the config and the users; restart it
        # with a second component (the ceiling) added
        subprocess.run([os.path.join(PEERS, "prosody_start.sh"), pdir], env=env,
                       check=True, capture_output=True, timeout=60)
        subprocess.run([os.path.join(PEERS, "prosody_stop.sh"), pdir],
                       capture_output=True, timeout=30)
        wait(lambda: not port_open(5222), 10, "prosody to stop")
        with open(os.path.join(pdir, "prosody.cfg.lua"), "a") as f:
            f.write('\nComponent "null.localhost"\n  component_secret = "s3cret"\n')
            if a.prosody_nodelay:
                f.write('\nnetwork_settings = { nagle = false }\n')
        p = os.path.join(pdir, "prosody.cfg.lua")
        s = open(p).read()
        # no message archive: Prosody's internal archive store costs more
        # per message the longer it gets (the 5-minute soak saturated
        # Prosody, not the gateway), and the ceiling and the gateway would
        # both pay it
        s = s.replace(' "mam";', '')
        # network_settings must be global: move it before the first host
        if a.prosody_nodelay:
            s = s.replace('\nnetwork_settings = { nagle = false }\n', '')
            s = s.replace('VirtualHost ', 'network_settings = { nagle = false }\n'
                          'VirtualHost ', 1)
        open(p, "w").write(s)
        self.procs["prosody"] = subprocess.Popen(
            ["prosody", "--config", os.path.join(pdir, "prosody.cfg.lua"), "-F"],
            stdout=open(os.path.join(pdir, "prosody.stdout2"), "wb"),
            stderr=subprocess.STDOUT, start_new_session=True)
        self.pids["prosody"] = self.procs["prosody"].pid
        wait(lambda: port_open(5222) and port_open(5347), 20, "prosody")
        with open(self.cfg, "w") as f:
            f.write("xmpp: {component: sip.localhost, host: 127.0.0.1, port: 5347, "
                    "secret: s3cret, domains: [localhost]}\n"
                    "sip: {listen: 127.0.0.1:5600, proxy: \"\", domain: \"127.0.0.1:5070\"}\n"
                    "store: {path: %s/store, map_size: 1GiB, sync: %s, "
                    "message_retain_s: %d}\n"
                    "runtime: {dir: %s/run}\nlog: {level: %s}\n"
                    % (self.tmp, a.store_sync, a.retain_s, self.tmp,
                       a.log_level))
            if a.cpu is not None:
                f.write("supervisor: {cpus: \"%d\"}\n" % a.cpu)
        self.gwlog = os.path.join(self.tmp, "xsgw.log")
        self.gw_start(20)
        # the ceiling runs where the gateway does
        self.procs["nullcomp"] = subprocess.Popen(
            bench_kamailio.pinned(a.cpu) + [os.path.join(a.tools, "nullcomp"), "127.0.0.1", "5347",
             "null.localhost", "s3cret"],
            stderr=open(os.path.join(self.tmp, "nullcomp.log"), "wb"))
        self.pids["nullcomp"] = self.procs["nullcomp"].pid
        wait(lambda: "connected" in open(os.path.join(self.tmp, "nullcomp.log")).read(),
             10, "nullcomp")
        sd = os.path.join(self.tmp, "sipp")
        os.makedirs(sd)
        self.procs["sipp_uas"] = subprocess.Popen(
            ["sipp", "-sf", os.path.join(ROOT, "bench", "sipp_uas.xml"),
             "-i", "127.0.0.1", "-p", "5070", "-mi", "127.0.0.1", "-nostdin",
             "-trace_err", "-max_socket", "4096"],
            cwd=sd, stdout=open(os.path.join(sd, "out.txt"), "wb"),
            stderr=subprocess.STDOUT)
        self.pids["sipp_uas"] = self.procs["sipp_uas"].pid
        time.sleep(0.5)

    def gw_start(self, t):
        """Start xsgw (log appended); until every worker is ready and the
        component connected (once more than before)."""
        a = self.args
        seen = open(self.gwlog, errors="replace").read().count(
            "xmpp: connected") if os.path.exists(self.gwlog) else 0
        self.procs["supervisor"] = subprocess.Popen(
            [os.path.join(a.build, "bin", "xsgw"), "-c", self.cfg],
            stdout=open(self.gwlog, "ab"), stderr=subprocess.STDOUT)
        self.pids["supervisor"] = self.procs["supervisor"].pid

        def up():
            st = self.status()
            return st and all(w["state"] == "ready" for w in st) and \
                open(self.gwlog, errors="replace").read().count(
                    "xmpp: connected") > seen
        wait(up, t, "xsgw")
        for w in self.status():
            if w["name"] != "supervisor":
                self.pids[w["name"]] = w["pid"]
        # store.sync periodic: the translator's child that flushes the
        # store (its CPU is the gateway's too)
        fl = flusher_of(self.pids["translator"])
        if fl:
            self.pids["flusher"] = fl
        else:
            self.pids.pop("flusher", None)

    def status(self):
        r = subprocess.run([self.ctl, "-c", self.cfg, "status", "--json"],
                           capture_output=True, text=True, timeout=10)
        if r.returncode:
            return None
        return json.loads(r.stdout)["workers"]

    def stat(self, key):
        r = subprocess.run([self.ctl, "-c", self.cfg, "stats", "--json"],
                           capture_output=True, text=True, timeout=10)
        try:
            st = json.loads(r.stdout)
        except ValueError:
            return None

        def find(d):
            if isinstance(d, dict):
                for k, v in d.items():
                    if k == key:
                        return v
                    x = find(v)
                    if x is not None:
                        return x
            return None
        return find(st)

    def store_bytes(self):
        r = subprocess.run([self.ctl, "-c", self.cfg, "stats", "--json"],
                           capture_output=True, text=True, timeout=10)
        try:
            st = json.loads(r.stdout)
        except ValueError:
            return None

        def find(d):
            if isinstance(d, dict):
                for k, v in d.items():
                    if k == "store.used_bytes":
                        return v
                    x = find(v)
                    if x is not None:
                        return x
            return None
        return find(st)

    def stop(self):
        for name in ("sipp_uas", "nullcomp", "supervisor", "prosody"):
            p = self.procs.get(name)
            if p and p.poll() is None:
                p.send_signal(signal.SIGUSR1 if name == "sipp_uas" else signal.SIGTERM)
                try:
                    p.wait(20)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()


def machine():
    """What the numbers depend on besides the code: on this VM the same
    code measured 0.6x the CPU per op (Kamailio 0.4x) just after a reboot
    as at the end of a long session, both idle. Compare runs of one
    machine state only."""
    def rd(p):
        try:
            with open(p) as f:
                return f.read().strip()
        except OSError:
            return None
    up = rd("/proc/uptime")
    return {"kernel": os.uname().release,
            "cpuidle": rd("/sys/devices/system/cpu/cpuidle/current_driver"),
            "uptime_s": round(float(up.split()[0])) if up else None,
            "loadavg": rd("/proc/loadavg")}


def loadc(args, target, mode, rate=None, step=None, count=None, extra=()):
    cmd = [os.path.join(args.tools, "loadc"), "-n", str(args.users), "-u", "lc",
           "-s", "pass", "-t", target, "-m", mode, "-T", "10"] + list(extra)
    if count:
        cmd += ["-c", str(count)]
    else:
        cmd += ["-r", str(rate), "-D", str(step)]
    # a loaded machine stretches a long step (the soak: 300 s) well past
    # its length: the limit grows with it
    r = subprocess.run(cmd, capture_output=True, text=True,
                       timeout=max(600, 3 * (step or 0) + 120))
    try:
        out = json.loads(r.stdout)
    except ValueError:
        raise SystemExit("loadc failed (%d): %s %s" % (r.returncode, r.stdout, r.stderr[-2000:]))
    if r.stderr.strip():
        out["stderr"] = r.stderr.strip()[-500:]
    return out


def flusher_of(translator):
    """The pid of the translator's xsgw-flusher child, or None."""
    for p in bench_kamailio.children_of(translator)[1:]:
        try:
            with open("/proc/%d/comm" % p) as f:
                if f.read().strip() == "xsgw-flusher":
                    return p
        except OSError:
            continue
    return None


def measured(bed, fn):
    c0 = {k: ticks(p) for k, p in bed.pids.items()}
    w0 = {k: wakeups(p) for k, p in bed.pids.items()}
    t0 = time.monotonic()
    res = fn()
    wall = time.monotonic() - t0
    c1 = {k: ticks(p) for k, p in bed.pids.items()}
    w1 = {k: wakeups(p) for k, p in bed.pids.items()}
    n = max(res["ok"], 1)
    per = {}
    for k in c0:
        if c0[k] is not None and c1[k] is not None:
            per[k] = round((c1[k] - c0[k]) / HZ / n * 1e6, 1)
    per["loadc"] = round(res["loadc_cpu_s"] / n * 1e6, 1)
    res["cpu_us_per_op"] = per
    res["cpu_s_total"] = {k: round((c1[k] - c0[k]) / HZ, 2) for k in c0
                          if c0[k] is not None and c1[k] is not None}
    res["wakeups_per_op"] = {k: round((w1[k] - w0[k]) / n, 2) for k in w0
                             if w0[k] is not None and w1[k] is not None}
    res["wall_s"] = round(wall, 2)
    return res


def ladder(bed, args, target, mode):
    base = measured(bed, lambda: loadc(args, target, mode, count=args.unloaded))
    steps = []
    for rate in args.rates:
        r = measured(bed, lambda: loadc(args, target, mode, rate=rate, step=args.step))
        steps.append(r)
        lat = r["setup_ms" if mode == "call" else "receipt_ms"]
        b50 = base["setup_ms" if mode == "call" else "receipt_ms"]["p50"]
        bad = r["failed"] + r["timeouts"]
        why = None
        if bad > 0.01 * r["ops"]:
            why = "failures %d of %d" % (bad, r["ops"])
        elif r["achieved_per_s"] < 0.9 * rate:
            why = "rate not sustained (%.0f/s)" % r["achieved_per_s"]
        elif lat["p50"] > max(10 * b50, b50 + 50):
            why = "p50 %.1f ms > 10x unloaded" % lat["p50"]
        print("  %-8s %-4s %5d/s ok %6d fail %4d  p50 %7.2f p99 %8.2f ms  %s"
              % (target.split("@")[1].split(".")[0], mode, rate, r["ok"], bad,
                 lat["p50"], lat["p99"], why or ""), flush=True)
        if why:
            r["limit"] = why
            break
        time.sleep(1)
    return {"unloaded": base, "steps": steps}


def log_ready_ms(bed, worker, pid):
    """The wall time (s) of the supervisor's "WORKER ready (pid PID)"."""
    want = "%s ready (pid %d)" % (worker, pid)
    with open(bed.gwlog, errors="replace") as f:
        for line in f:
            if want in line:
                ts = line.split(" ", 1)[0]
                return time.mktime(time.strptime(ts[:19], "%Y-%m-%dT%H:%M:%S")) \
                    - time.timezone + float("0." + ts[20:23])
    return None


def log_started(bed, worker, pid):
    """The wall time (s) of the supervisor's "started WORKER (pid PID)"."""
    want = "started %s (pid %d)" % (worker, pid)
    with open(bed.gwlog, errors="replace") as f:
        for line in f:
            if want in line:
                ts = line.split(" ", 1)[0]
                return time.mktime(time.strptime(ts[:19], "%Y-%m-%dT%H:%M:%S")) \
                    - time.timezone + float("0." + ts[20:23])
    return None


def held(args):
    """In a bed of its own: args.held calls set up and left up (loadc -m
    hold), RSS of each worker and the store's bytes in use before and
    after (per held call); then kill -9 of each worker with them live:
    kill to the supervisor's "ready" (from its log's timestamps), the
    calls still up after each; then a full restart: start to all ready,
    and the translator's start to ready with them all in the store (the
    store recovery of issue 13 point 5; --held 100000 for its figure)."""
    bed = Bed(args)
    out = {"calls": args.held}
    try:
        bed.start()
        workers = ("xmpp-front", "translator", "sip-front")
        time.sleep(1)
        rss0 = {k: rss(bed.pids[k]) for k in workers}
        st0 = bed.store_bytes()
        cmd = [os.path.join(args.tools, "loadc"), "-n", str(args.users), "-u", "lc",
               "-s", "pass", "-t", "bob@sip.localhost", "-m", "hold", "-T", "30",
               "-r", str(args.held_rate), "-D", str(args.held / float(args.held_rate))]
        lc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
        res = json.loads(lc.stdout.readline())
        out["setup"] = {k: res.get(k) for k in ("ok", "failed", "timeouts", "setup_ms")}
        time.sleep(2)
        out["calls_active"] = bed.stat("calls.active")
        rss1 = {k: rss(bed.pids[k]) for k in workers}
        st1 = bed.store_bytes()
        n = max(res.get("ok") or 1, 1)
        out["rss_kib"] = {"before": rss0, "held": rss1}
        out["rss_bytes_per_call"] = {k: round((rss1[k] - rss0[k]) * 1024 / n, 1)
                                     for k in workers if rss1[k] and rss0[k]}
        out["store_bytes"] = {"before": st0, "held": st1}
        out["store_bytes_per_call"] = round((st1 - st0) / n, 1) if st0 and st1 else None
        kills = {}
        for w in workers:
            st = {x["name"]: x for x in bed.status() or []}
            old = st[w]["pid"]
            t_kill = time.time()
            os.kill(old, signal.SIGKILL)

            def back():
                s = {x["name"]: x for x in bed.status() or []}
                return w in s and s[w]["pid"] not in (0, old) and \
                    s[w]["state"] == "ready" and s[w]["pid"]
            new = wait(back, 60, "%s ready again" % w)
            t_ready = log_ready_ms(bed, w, new)
            kills[w] = {"kill_to_ready_ms": round((t_ready - t_kill) * 1000, 1)
                        if t_ready else None,
                        "calls_active_after": bed.stat("calls.active")}
            bed.pids[w] = new
            time.sleep(1)
        out["kill9_with_calls_held"] = kills
        # a full restart: the translator opens the store with them all
        p = bed.procs["supervisor"]
        p.send_signal(signal.SIGTERM)
        p.wait(60)
        t0 = time.time()
        bed.gw_start(120)
        tr = bed.pids["translator"]
        out["full_restart"] = {
            "start_to_all_ready_ms": round((time.time() - t0) * 1000, 1),
            "translator_start_to_ready_ms": round(
                (log_ready_ms(bed, "translator", tr) -
                 log_started(bed, "translator", tr)) * 1000, 1),
            "calls_active_after": bed.stat("calls.active")}
        lc.stdin.close()
        lc.wait(30)
        out["loadc_stderr"] = lc.stderr.read()[-1000:]
    finally:
        bed.stop()
    return out


def soak(bed, args):
    """Constant message load for soak_s: the store's bytes in use and each
    worker's RSS every 10 s. With records kept retain_s, the store is in a
    steady state once retain_s has passed: in the last third of the run it
    stays within 10 % of its value at the end of the first third (when
    retain_s < soak_s / 3)."""
    out = {}
    th = threading.Thread(target=lambda: out.update(r=loadc(
        args, "bob@sip.localhost", "msg", rate=args.soak_rate,
        step=args.soak_s)))
    samples = []
    t0 = time.monotonic()
    th.start()
    while th.is_alive():
        samples.append({"t_s": round(time.monotonic() - t0, 1),
                        "store_used_bytes": bed.store_bytes(),
                        "rss_kib": {k: rss(p) for k, p in bed.pids.items()
                                    if k in ("xmpp-front", "translator",
                                             "sip-front")}})
        th.join(10)
    r = out.get("r", {})
    used = [s["store_used_bytes"] or 0 for s in samples
            if s["t_s"] <= args.soak_s]
    third = max(len(used) // 3, 1)
    ref = used[third - 1] if used else 0
    late = used[-third:] if used else [0]
    return {"rate": args.soak_rate, "duration_s": args.soak_s,
            "message_retain_s": args.retain_s, "ok": r.get("ok"),
            "failed": r.get("failed"), "timeouts": r.get("timeouts"),
            "receipt_ms": r.get("receipt_ms"), "samples": samples,
            "store_at_first_third": ref, "store_max_last_third": max(late),
            "steady": bool(ref) and max(late) <= 1.1 * ref and
            args.retain_s < args.soak_s / 3}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--tools", default=None, help="where loadc and nullcomp are")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "report.json"))
    ap.add_argument("--users", type=int, default=8)
    ap.add_argument("--unloaded", type=int, default=200)
    ap.add_argument("--step", type=float, default=10)
    ap.add_argument("--rates", default="50,100,200,400,800,1600")
    ap.add_argument("--flows", default="call,msg")
    ap.add_argument("--targets", default="null,gateway")
    ap.add_argument("--log-level", default="info")
    ap.add_argument("--prosody-nagle", dest="prosody_nodelay", action="store_false",
                    help="leave Prosody's default (Nagle on): a stanza that follows "
                         "another to the same client within its delayed-ACK time "
                         "waits up to 40 ms in Prosody (README). Default: "
                         "network_settings = { nagle = false }, as README tells "
                         "operators")
    ap.add_argument("--prosody-debug", action="store_true")
    ap.add_argument("--retain-s", type=int, default=300,
                    help="the gateway's store.message_retain_s")
    ap.add_argument("--soak-s", type=int, default=0,
                    help="after the ladders: messages at --soak-rate this "
                         "long, store bytes and RSS sampled (0: none)")
    ap.add_argument("--soak-rate", type=int, default=200)
    ap.add_argument("--held", type=int, default=0,
                    help="in a bed of its own: this many calls held, RSS and "
                         "store per call, kill -9 of each worker with them")
    ap.add_argument("--held-rate", type=int, default=500,
                    help="calls/s while setting up the held calls")
    ap.add_argument("--store-sync", default="commit",
                    choices=["commit", "periodic"],
                    help="the gateway's store.sync")
    ap.add_argument("--cpu", default=None,
                    help="the gateway (supervisor.cpus), the do-nothing "
                         "component and Kamailio each on this one CPU, a "
                         "number or `last` (the highest this process may "
                         "use); default: wherever the kernel puts them")
    ap.add_argument("--key", default="loadc", help="report.json key")
    ap.add_argument("--hold", type=float, default=0,
                    help="debug/trace: start the bed, print its pids, keep it "
                         "up this many seconds, run nothing")
    bench_kamailio.add_args(ap)
    args = ap.parse_args()
    args.rates = [int(x) for x in args.rates.split(",") if x]
    args.tools = args.tools or os.path.join(args.build, "bench")
    if args.cpu is not None:
        args.cpu = max(os.sched_getaffinity(0)) if args.cpu == "last" else int(args.cpu)
    bed = Bed(args)
    res = {"what": "bench/loadc (C, epoll) -> Prosody c2s -> gateway "
                   "(sip.localhost -> SIPp UAS answering at once) or nullcomp "
                   "(null.localhost, the ceiling), same Prosody, same run",
           "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "git": subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                                 capture_output=True, text=True).stdout.strip(),
           "build": args.build, "users": args.users, "step_s": args.step,
           "unloaded_ops": args.unloaded, "prosody_tcp_nodelay": args.prosody_nodelay,
           "log_level": args.log_level, "cpus": os.cpu_count(),
           "store_sync": args.store_sync, "machine": machine(),
           "placed_on_cpu": args.cpu,
           "method": "call: session-initiate sent -> session-accept received "
                     "(then terminate, not timed here); msg: chat with receipt "
                     "request sent -> receipt received. unloaded: one op at a "
                     "time; steps: open loop at `rate` for step_s. "
                     "cpu_us_per_op: utime+stime delta (/proc) / ops ok",
           "results": {}}
    try:
        bed.start()
        res["tmp"] = bed.tmp
        if args.hold:
            print("bed in", bed.tmp, "pids", json.dumps(bed.pids), flush=True)
            time.sleep(args.hold)
            return
        targets = {"null": "bob@null.localhost", "gateway": "bob@sip.localhost"}
        for t in [x for x in args.targets.split(",") if x]:
            for mode in [x for x in args.flows.split(",") if x]:
                print("%s %s" % (t, mode), flush=True)
                res["results"]["%s_%s" % (t, mode)] = ladder(bed, args, targets[t], mode)
        if args.soak_s:
            print("soak: %d msg/s for %d s" % (args.soak_rate, args.soak_s),
                  flush=True)
            res["soak"] = soak(bed, args)
        res["peak_rss_kib"] = {k: hwm(p) for k, p in bed.pids.items()}
        res["store_bytes"] = bed.store_bytes()
    finally:
        bed.stop()
    if args.held:
        print("held: %d calls" % args.held, flush=True)
        res["held"] = held(args)
        print(json.dumps(res["held"], indent=1), flush=True)
    # the same SIP traffic through Kamailio, after the gateway's bed is down
    if not args.no_kamailio:
        bench_kamailio.run(res, bench_kamailio.kam_rates(args, res["results"]),
                           step=args.step, unloaded=args.kam_unloaded,
                           hold_ms=args.kam_hold_ms, children=args.kam_children,
                           flows=args.flows.split(","),
                           log=lambda s: print(s, flush=True), cpu=args.cpu)
    # ratios: gateway over the ceiling
    rr = res["results"]
    ratios = {}
    for mode, k in (("call", "setup_ms"), ("msg", "receipt_ms")):
        g, n = rr.get("gateway_" + mode), rr.get("null_" + mode)
        if not g or not n:
            continue
        gu, nu = g["unloaded"], n["unloaded"]
        ratios[mode] = {
            "unloaded_p50_ms": [gu[k]["p50"], nu[k]["p50"]],
            "added_p50_ms": round(gu[k]["p50"] - nu[k]["p50"], 3),
            "added_p99_ms": round(gu[k]["p99"] - nu[k]["p99"], 3),
            "max_rate_ok": [max([s["rate"] for s in g["steps"] if "limit" not in s] or [0]),
                            max([s["rate"] for s in n["steps"] if "limit" not in s] or [0])],
            "gateway_cpu_us_per_op_unloaded": sum(
                v for p, v in gu["cpu_us_per_op"].items()
                if p in ("xmpp-front", "translator", "sip-front", "flusher",
                         "supervisor")),
        }
    # issue 13 point 2: added latency over the ceiling at each rate up to
    # 80 % of the ceiling's highest sustained rate
    limits = {"call": (1.0, 3.0), "msg": (0.5, None)}
    for mode, k in (("call", "setup_ms"), ("msg", "receipt_ms")):
        g, n = rr.get("gateway_" + mode), rr.get("null_" + mode)
        if not g or not n or mode not in ratios:
            continue
        ceiling = ratios[mode]["max_rate_ok"][1]
        nby = {s["rate"]: s for s in n["steps"]}
        rows = [("1-at-a-time", g["unloaded"], n["unloaded"])]
        rows += [(s["rate"], s, nby[s["rate"]]) for s in g["steps"]
                 if s["rate"] in nby and s["rate"] <= 0.8 * ceiling]
        p50max, p99max = limits[mode]
        out = []
        for rate, gs, ns in rows:
            if not gs.get(k) or not ns.get(k):
                out.append({"rate": rate, "missing": True, "within": False})
                continue
            a50 = round(gs[k]["p50"] - ns[k]["p50"], 3)
            a99 = round(gs[k]["p99"] - ns[k]["p99"], 3)
            out.append({"rate": rate, "added_p50_ms": a50, "added_p99_ms": a99,
                        "failed": gs["failed"] + gs.get("timeouts", 0),
                        "within": a50 <= p50max and (p99max is None or a99 <= p99max)
                        and not gs["failed"] and not gs.get("timeouts", 0)})
        ratios[mode]["point2"] = {
            "limit_p50_ms": p50max, "limit_p99_ms": p99max,
            "ceiling_rate": ceiling, "up_to_rate": 0.8 * ceiling,
            "per_rate": out, "within_at_every_rate": all(r["within"] for r in out)}
    res["gateway_vs_null"] = ratios
    report = {}
    if os.path.exists(args.out):
        with open(args.out) as f:
            report = json.load(f)
    report[args.key] = res
    with open(args.out, "w") as f:
        json.dump(report, f, indent=2)
    print("\n%-14s %8s %8s %9s %9s  %s" % ("run", "rate/s", "ok", "p50 ms", "p99 ms",
                                             "cpu us/op: gw workers | prosody"
                                             "  wake-ups/op: gw workers"))
    for name, r in rr.items():
        k = "setup_ms" if name.endswith("call") else "receipt_ms"
        for label, s in [("1-at-a-time", r["unloaded"])] + [(str(x["rate"]), x) for x in r["steps"]]:
            gw = sum(v for p, v in s["cpu_us_per_op"].items()
                     if p in ("xmpp-front", "translator", "sip-front", "flusher",
                         "supervisor"))
            wk = sum(v for p, v in s.get("wakeups_per_op", {}).items()
                     if p in ("xmpp-front", "translator", "sip-front", "flusher"))
            print("%-14s %8s %8d %9.2f %9.2f  %7.0f | %5.0f  %5.1f %s" % (
                name, label, s["ok"], s[k]["p50"], s[k]["p99"], gw if name.startswith("gateway") else 0,
                s["cpu_us_per_op"].get("prosody", 0), wk if name.startswith("gateway") else 0,
                s.get("limit", "")))
    for mode, r in ratios.items():
        p2 = r.get("point2")
        if p2:
            print("%s added over the ceiling (limit p50 %s p99 %s ms, rates up to %.0f/s): %s%s"
                  % (mode, p2["limit_p50_ms"], p2["limit_p99_ms"], p2["up_to_rate"],
                     ", ".join("%s: +%s/+%s" % (x["rate"], x.get("added_p50_ms"),
                                               x.get("added_p99_ms")) for x in p2["per_rate"]),
                     "" if p2["within_at_every_rate"] else "  NOT within"))
    if "kamailio" in res:
        bench_kamailio.print_table(res)
    if "soak" in res:
        s = res["soak"]
        print("soak %d msg/s %d s (kept %d s): ok %s; store in use %s at %d s,"
              " at most %s in the last third: %s" % (
                  s["rate"], s["duration_s"], s["message_retain_s"], s["ok"],
                  s["store_at_first_third"], s["duration_s"] // 3,
                  s["store_max_last_third"],
                  "steady" if s["steady"] else "NOT steady"))
    print("peak RSS KiB:", res.get("peak_rss_kib"), " store bytes:", res.get("store_bytes"))
    print("report: %s (key %s)" % (args.out, args.key))


if __name__ == "__main__":
    main()
