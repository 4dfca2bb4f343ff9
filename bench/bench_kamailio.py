"""make bench, Kamailio comparison (issue 13 points 1 and 3): the same SIP
traffic the gateway generates, relayed by Kamailio, SIPp on both ends.

  SIPp UAC (sipp_kam_call.xml / sipp_kam_msg.xml, 127.0.0.1:UAC_PORT)
    -> Kamailio (kamailio_bench.cfg: tm, rr, dialog with dlg_manage,
       127.0.0.1:KAM_PORT, UDP, no DB)
    -> SIPp UAS (sipp_kam_uas.xml, 127.0.0.1:UAS_PORT, answers at once)

call: INVITE -> 100/180/200 -> ACK -> hold (--kam-hold-ms) -> BYE -> 200,
      all through Kamailio (Record-Route), the dialog tracked by Kamailio;
msg:  MESSAGE -> 200.
Per flow: `unloaded` (one at a time, sipp -l 1) then a ladder of open-loop
rates, STEP_S seconds each, until failures > 1 %, a rate not sustained or
p50 above 10x the unloaded p50. Per step: CPU microseconds per op of
Kamailio (summed over the main process and all its children, before/after
the step: /proc/PID/schedstat's ns on the CPU, and utime+stime from
/proc/PID/stat in clock ticks as the gateway's are measured), of each SIPp, and SIPp's
response times (every call, logged by the scenario with gettimeofday): call "setup" (INVITE sent -> 200
received) and "bye", msg "msg" (MESSAGE sent -> 200 received); p50/p90/
p99/max in ms, the same nearest-rank percentiles loadc prints.

Used by bench_loadc.py (run()); standalone it runs only this part and
merges it into an existing report key, recomputing the ratio section:
  /usr/bin/python3 bench/bench_kamailio.py --out bench/report.json --key loadc
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time

from benchenv import ticks, wait, wakeups

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
HZ = os.sysconf("SC_CLK_TCK")
# not the gateway bench's ports (Prosody 5222/5269/5280/5347, xsgw 5600,
# its UAS 5070) nor the tests' Kamailio (5060, 45060)
KAM_PORT, UAS_PORT, UAC_PORT = 5760, 5770, 5780
GW_WORKERS = ("translator", "xmpp-front", "sip-front", "flusher")


def pinned(cpu):
    """the command prefix that runs a program on one CPU (None: anywhere)"""
    return [] if cpu is None else ["taskset", "-c", str(cpu)]


def runtime_ns(pid):
    """time on the CPU in ns (/proc/PID/schedstat), None if unreadable"""
    try:
        with open("/proc/%d/schedstat" % pid) as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def children_of(root):
    """root and all its descendants (pids), from /proc/*/stat ppid."""
    kids = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        kids.setdefault(ppid, []).append(int(d))
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def pct(v, p):
    """nearest rank on sorted v, as loadc.c's pct()"""
    if not v:
        return -1.0
    k = int(round(p / 100.0 * (len(v) - 1)))
    return v[max(0, min(len(v) - 1, k))]


def lat(v):
    v = sorted(v)
    return {"n": len(v), "p50": round(pct(v, 50), 3), "p90": round(pct(v, 90), 3),
            "p99": round(pct(v, 99), 3), "max": round(v[-1], 3) if v else -1.0}


def udp_bound(port):
    try:
        with open("/proc/net/udp") as f:
            return any((":%04X " % port) in line.split(None, 3)[1] + " "
                       for line in list(f)[1:])
    except OSError:
        return False


class KamBed:
    def __init__(self, children=2, hold_ms=100, cpu=None):
        self.cpu = cpu
        self.tmp = tempfile.mkdtemp(prefix="xsgw-kambench-")
        self.children = children
        self.hold_ms = hold_ms
        self.kam = None
        self.uas = None
        self.kpids = []

    def start(self):
        mpath = "/usr/lib/x86_64-linux-gnu/kamailio/modules"
        if not os.path.exists(os.path.join(mpath, "dialog.so")):
            r = subprocess.run(["dpkg", "-L", "kamailio"], capture_output=True, text=True)
            tm = [x for x in r.stdout.split() if x.endswith("/modules/tm.so")]
            if not tm:
                raise RuntimeError("kamailio modules not found")
            mpath = os.path.dirname(tm[0])
        with open(os.path.join(BENCH, "kamailio_bench.cfg")) as f:
            cfg = f.read()
        for k, v in (("@PORT@", str(KAM_PORT)), ("@CHILDREN@", str(self.children)),
                     ("@DIR@", self.tmp), ("@MPATH@", mpath)):
            cfg = cfg.replace(k, v)
        self.cfg = os.path.join(self.tmp, "kamailio.cfg")
        with open(self.cfg, "w") as f:
            f.write(cfg)
        r = subprocess.run(["kamailio", "-c", "-f", self.cfg], capture_output=True,
                           text=True, timeout=30)
        if r.returncode:
            raise RuntimeError("kamailio config check failed: " + r.stderr[-1500:])
        # -DD: no daemon (this pid is the main process, the workers its
        # children); -E: log to stderr; shared memory 256 MB (transactions
        # and dialogs of a 10 s step at the highest rate), private 8 MB
        self.log = os.path.join(self.tmp, "kamailio.log")
        self.kam = subprocess.Popen(
            pinned(self.cpu) + ["kamailio", "-f", self.cfg, "-DD", "-E", "-Y", self.tmp,
             "-P", os.path.join(self.tmp, "kamailio.pid"), "-m", "256", "-M", "8",
             "-w", self.tmp],
            stdout=open(self.log, "wb"), stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True)
        wait(lambda: udp_bound(KAM_PORT) and
             os.path.exists(os.path.join(self.tmp, "kamailio_ctl")) or
             self.kam.poll() is not None, 20, "kamailio")
        if self.kam.poll() is not None:
            raise RuntimeError("kamailio exited: " + open(self.log).read()[-1500:])
        time.sleep(0.3)   # all workers forked
        self.kpids = children_of(self.kam.pid)
        sd = os.path.join(self.tmp, "uas")
        os.makedirs(sd)
        self.uas = subprocess.Popen(
            ["sipp", "-sf", os.path.join(BENCH, "sipp_kam_uas.xml"),
             "-i", "127.0.0.1", "-p", str(UAS_PORT), "-mi", "127.0.0.1", "-nostdin",
             "-trace_err", "-max_socket", "4096"],
            cwd=sd, stdout=open(os.path.join(sd, "out.txt"), "wb"),
            stderr=subprocess.STDOUT)
        wait(lambda: udp_bound(UAS_PORT), 10, "sipp uas")

    def kam_cpu(self):
        """(clock ticks utime+stime, ns on the CPU, wake-ups) summed over
        Kamailio's processes (re-listed each time, should one come or go)"""
        self.kpids = children_of(self.kam.pid)
        t = [ticks(p) for p in self.kpids]
        n = [runtime_ns(p) for p in self.kpids]
        w = [wakeups(p) for p in self.kpids]
        return (sum(x for x in t if x is not None), sum(x for x in n if x is not None),
                sum(x for x in w if x is not None))

    def rpc(self, *cmd):
        r = subprocess.run(["kamcmd", "-s", "unix:" + os.path.join(self.tmp, "kamailio_ctl")]
                           + list(cmd), capture_output=True, text=True, timeout=10)
        return r.stdout.strip() if r.returncode == 0 else None

    def stats(self):
        """Kamailio's own counters: proof the dialogs were tracked."""
        out = {}
        for grp in ("dialog:", "tmx:", "core:"):
            s = self.rpc("stats.get_statistics", grp) or ""
            for line in s.splitlines():
                line = line.strip().strip('"').strip(",").strip('"')
                if " = " in line:
                    k, v = line.split(" = ", 1)
                    if k.split(":")[-1] in (
                            "processed_dialogs", "active_dialogs", "failed_dialogs",
                            "expired_dialogs", "early_dialogs", "UAS_transactions",
                            "2xx_transactions", "rcv_requests", "fwd_requests",
                            "rcv_replies", "fwd_replies", "drop_requests", "err_requests"):
                        try:
                            out[k] = int(v)
                        except ValueError:
                            out[k] = v
        return out

    def stop(self):
        if self.uas and self.uas.poll() is None:
            self.uas.send_signal(signal.SIGUSR1)
            try:
                self.uas.wait(10)
            except subprocess.TimeoutExpired:
                self.uas.kill()
                self.uas.wait()
        if self.kam and self.kam.poll() is None:
            kids = [p for p in self.kpids if p != self.kam.pid]
            self.kam.send_signal(signal.SIGTERM)
            try:
                self.kam.wait(10)
            except subprocess.TimeoutExpired:
                self.kam.kill()
                self.kam.wait()
            time.sleep(0.3)
            for p in kids:
                if ticks(p) is not None:   # a worker left over: ours, by pid
                    try:
                        os.kill(p, signal.SIGKILL)
                    except OSError:
                        pass


def sipp_run(bed, mode, count, rate=None, one_at_a_time=False, step=None):
    """One SIPp UAC run; returns its counts, latencies and everyone's CPU."""
    sd = tempfile.mkdtemp(prefix="uac-%s-" % mode, dir=bed.tmp)
    scen = os.path.join(BENCH, "sipp_kam_call.xml" if mode == "call" else "sipp_kam_msg.xml")
    with open(scen) as f:
        text = f.read().replace("@HOLD_MS@", str(bed.hold_ms))
    scen = os.path.join(sd, os.path.basename(scen))
    with open(scen, "w") as f:
        f.write(text)
    stf = os.path.join(sd, "stat.csv")
    logf = os.path.join(sd, "rtt.log")
    cmd = ["sipp", "127.0.0.1:%d" % KAM_PORT, "-sf", scen, "-s", "bob",
           "-key", "dest", "127.0.0.1:%d" % UAS_PORT,
           "-i", "127.0.0.1", "-p", str(UAC_PORT), "-mi", "127.0.0.1", "-nostdin",
           "-m", str(count),
           "-trace_logs", "-log_file", logf, "-trace_stat", "-stf", stf, "-fd", "1",
           "-trace_err", "-recv_timeout", "5000", "-max_socket", "4096",
           "-timeout", "%ds" % int((step or 0) + 30 + count * 0.5 * one_at_a_time),
           "-timeout_error"]
    cmd += os.environ.get("KAM_SIPP_EXTRA", "").split()   # experiments
    if one_at_a_time:
        cmd += ["-l", "1", "-r", "1000"]
    else:
        cmd += ["-r", str(rate), "-l", str(max(1000, int(rate * 3)))]
    (k0, kn0, kw0), u0 = bed.kam_cpu(), ticks(bed.uas.pid)
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, cwd=sd, stdout=open(os.path.join(sd, "out.txt"), "wb"),
                         stderr=subprocess.STDOUT)
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    wall = time.monotonic() - t0
    (k1, kn1, kw1), u1 = bed.kam_cpu(), ticks(bed.uas.pid)
    # counts: the last line of the statistics file
    ok = failed = started = 0
    try:
        with open(stf) as f:
            rows = [line.rstrip("\n").split(";") for line in f if line.strip()]
        hdr, last = rows[0], rows[-1]
        col = {h: i for i, h in enumerate(hdr)}
        ok = int(last[col["SuccessfulCall(C)"]])
        failed = int(last[col["FailedCall(C)"]])
        started = int(last[col["OutgoingCall(C)"]])
    except (OSError, IndexError, KeyError, ValueError):
        pass
    # every call's response times, logged by the scenario: NAME s0 us0 s1 us1
    rtt, dates = {}, {}
    try:
        with open(logf) as f:
            for line in f:
                x = line.split()
                if len(x) != 5:
                    continue
                try:
                    t0_, t1_ = float(x[1]) + float(x[2]) / 1e6, float(x[3]) + float(x[4]) / 1e6
                except ValueError:
                    continue
                rtt.setdefault(x[0], []).append((t1_ - t0_) * 1000.0)
                dates.setdefault(x[0], []).append(t1_)
    except OSError:
        pass
    n = max(ok, 1)
    res = {"mode": mode, "ops": count, "started": started, "ok": ok, "failed": failed,
           "timeouts": max(0, count - ok - failed), "sipp_rc": p.returncode,
           "wall_s": round(wall, 2), "dir": sd,
           "cpu_us_per_op": {
               "kamailio": round((kn1 - kn0) / 1e3 / n, 1),
               "kamailio_ticks": round((k1 - k0) / HZ / n * 1e6, 1),
               "sipp_uas": round((u1 - u0) / HZ / n * 1e6, 1),
               "sipp_uac": round((ru.ru_utime + ru.ru_stime) / n * 1e6, 1)},
           "cpu_s_total": {"kamailio": round((kn1 - kn0) / 1e9, 3),
                           "sipp_uas": round((u1 - u0) / HZ, 2),
                           "sipp_uac": round(ru.ru_utime + ru.ru_stime, 2)},
           "wakeups_per_op": {"kamailio": round((kw1 - kw0) / n, 2)},
           "kamailio_processes": len(bed.kpids)}
    if rate:
        res["rate"] = rate
    first = "setup" if mode == "call" else "msg"
    for name, v in rtt.items():
        res[name + "_ms"] = lat(v)
    if first + "_ms" not in res:
        res[first + "_ms"] = lat([])
    # achieved rate: answers per second between the first and the last one
    d = sorted(dates.get(first, []))
    if len(d) > 1 and d[-1] > d[0]:
        res["achieved_per_s"] = round((len(d) - 1) / (d[-1] - d[0]), 1)
    else:
        res["achieved_per_s"] = 0.0
    return res


def ladder(bed, mode, rates, step, unloaded, log=print):
    k = "setup_ms" if mode == "call" else "msg_ms"
    base = sipp_run(bed, mode, unloaded, one_at_a_time=True)
    log("  kamailio %-4s 1-at-a-time ok %5d fail %3d  p50 %7.2f p99 %8.2f ms  "
        "kamailio %6.0f us/op" % (mode, base["ok"], base["failed"] + base["timeouts"],
                                 base[k]["p50"], base[k]["p99"],
                                 base["cpu_us_per_op"]["kamailio"]))
    steps = []
    for rate in rates:
        time.sleep(1)
        r = sipp_run(bed, mode, int(rate * step), rate=rate, step=step)
        steps.append(r)
        bad = r["failed"] + r["timeouts"]
        b50 = base[k]["p50"]
        why = None
        if bad > 0.01 * r["ops"]:
            why = "failures %d of %d" % (bad, r["ops"])
        elif r["achieved_per_s"] < 0.9 * rate:
            why = "rate not sustained (%.0f/s)" % r["achieved_per_s"]
        elif r[k]["p50"] > max(10 * b50, b50 + 50):
            why = "p50 %.1f ms > 10x unloaded" % r[k]["p50"]
        log("  kamailio %-4s %5d/s ok %6d fail %4d  p50 %7.2f p99 %8.2f ms  "
            "kamailio %6.0f us/op %s" % (mode, rate, r["ok"], bad, r[k]["p50"], r[k]["p99"],
                                         r["cpu_us_per_op"]["kamailio"], why or ""))
        if why:
            r["limit"] = why
            break
    return {"unloaded": base, "steps": steps}


def gw_cpu(s):
    return round(sum(v for p, v in s["cpu_us_per_op"].items() if p in GW_WORKERS), 1)


def gw_wakeups(s):
    w = s.get("wakeups_per_op")
    return round(sum(v for p, v in w.items() if p in GW_WORKERS), 2) if w else None


def kam_wakeups(s):
    return s.get("wakeups_per_op", {}).get("kamailio")


def ratios(results, kam):
    """gateway (translator + xmpp-front + sip-front) CPU per op over Kamailio's
    (all its processes), per flow: one at a time and at every rate both ran."""
    out = {}
    for mode in ("call", "msg"):
        g, kk = results.get("gateway_" + mode), kam.get(mode)
        if not g or not kk:
            continue
        rows = [{"rate": "1-at-a-time", "gateway_us": gw_cpu(g["unloaded"]),
                 "kamailio_us": kk["unloaded"]["cpu_us_per_op"]["kamailio"],
                 "gateway_wakeups": gw_wakeups(g["unloaded"]),
                 "kamailio_wakeups": kam_wakeups(kk["unloaded"])}]
        ks = {s["rate"]: s for s in kk["steps"]}
        for s in g["steps"]:
            r = s["rate"]
            if r in ks:
                rows.append({"rate": r, "gateway_us": gw_cpu(s),
                             "kamailio_us": ks[r]["cpu_us_per_op"]["kamailio"],
                             "gateway_wakeups": gw_wakeups(s),
                             "kamailio_wakeups": kam_wakeups(ks[r]),
                             "limit": [s.get("limit"), ks[r].get("limit")]})
        for row in rows:
            row["ratio"] = (round(row["gateway_us"] / row["kamailio_us"], 2)
                            if row["kamailio_us"] else None)
            row["gateway_lower"] = (row["ratio"] is not None and row["ratio"] < 1)
        loaded = [x for x in rows[1:] if not any(x.get("limit") or [])]
        out[mode] = {
            "per_rate": rows,
            "median_ratio_loaded": (sorted(x["ratio"] for x in loaded)[len(loaded) // 2]
                                    if loaded else None),
            "gateway_lower_at_every_rate": bool(loaded) and all(x["gateway_lower"]
                                                                 for x in loaded),
        }
    out["note"] = ("ratio = gateway CPU us per op (translator + xmpp-front + "
                   "sip-front + the translator's flusher with store.sync "
                   "periodic; not the supervisor, Prosody or the SIPp UAS) / "
                   "Kamailio CPU us per op (all its processes); < 1 means the "
                   "gateway spends less (issue 13 point 3). *_wakeups: the same "
                   "processes' voluntary context switches per op (/proc/PID/status): "
                   "each a sleep in, and a wake-up of, an event loop. Rates: the steps both "
                   "ran; steps where either hit its limit are left out of the "
                   "median and of gateway_lower_at_every_rate.")
    return out


def run(res, rates, step=10, unloaded=100, hold_ms=100, children=2, flows=("call", "msg"),
        log=print, cpu=None):
    """Run the Kamailio part; put it in res["kamailio"] and the ratio section in
    res["gateway_vs_kamailio"]. rates: {flow: [rate, ...]}."""
    if not shutil.which("kamailio") or not shutil.which("sipp"):
        res["kamailio"] = {"skipped": "kamailio or sipp not installed"}
        return
    t0 = time.monotonic()
    bed = KamBed(children=children, hold_ms=hold_ms, cpu=cpu)
    kr = {"what": "SIPp UAC -> Kamailio %s (tm, rr, dialog: dlg_manage, UDP 127.0.0.1:%d, "
                  "%d UDP workers, no DB) -> SIPp UAS answering at once"
                  % (subprocess.run(["kamailio", "-v"], capture_output=True,
                                    text=True).stdout.split("\n")[0].replace("version: ", ""),
                     KAM_PORT, children),
          "method": "call: INVITE -> 100/180/200 -> ACK -> hold %d ms -> BYE -> 200 "
                    "(setup_ms: INVITE sent -> 200; bye_ms: BYE sent -> 200); msg: "
                    "MESSAGE -> 200 (msg_ms). unloaded: sipp -l 1; steps: sipp -r rate "
                    "for step_s. cpu_us_per_op: utime+stime delta (/proc) summed over "
                    "Kamailio's main process and children / calls ok; sipp_uac from "
                    "wait4 rusage. Latencies: every call, gettimeofday in the "
                    "UAC scenario (-trace_logs; SIPp's rtd clock has ms resolution)" % hold_ms,
          "step_s": step, "unloaded_ops": unloaded, "hold_ms": hold_ms,
          "udp_workers": children, "cpu": cpu}
    try:
        bed.start()
        kr["tmp"] = bed.tmp
        kr["processes"] = len(bed.kpids)
        for mode in flows:
            log("kamailio %s" % mode)
            kr[mode] = ladder(bed, mode, rates.get(mode, []), step, unloaded, log=log)
        kr["kamailio_stats"] = bed.stats()
        kr["peak_rss_kib"] = {}
        for p in bed.kpids:
            try:
                with open("/proc/%d/status" % p) as f:
                    for line in f:
                        if line.startswith("VmHWM"):
                            kr["peak_rss_kib"][str(p)] = int(line.split()[1])
            except OSError:
                pass
    except (RuntimeError, OSError, subprocess.SubprocessError) as e:
        kr["error"] = str(e)
        log("kamailio part failed: %s" % e)
    finally:
        bed.stop()
    kr["duration_s"] = round(time.monotonic() - t0, 1)
    res["kamailio"] = kr
    res["gateway_vs_kamailio"] = ratios(res.get("results", {}), kr)


def gateway_rates(results, mode, default):
    """the rates the gateway's ladder ran for this flow (all of them, the
    last one included), or the default ladder if it did not run"""
    g = results.get("gateway_" + mode)
    if g and g.get("steps"):
        return [s["rate"] for s in g["steps"]]
    return default


def print_table(res, out=print):
    kr = res.get("kamailio") or {}
    if "skipped" in kr or "error" in kr:
        out("kamailio: %s" % (kr.get("skipped") or kr.get("error")))
    rr = res.get("results", {})
    out("\n%-14s %12s %8s %9s %9s  %s" % ("kamailio", "rate/s", "ok", "p50 ms", "p99 ms",
                                           "cpu us/op: kamailio | gw workers  gw/kam"
                                           "  wake-ups/op: kamailio | gw"))
    for mode in ("call", "msg"):
        kk = kr.get(mode)
        if not kk:
            continue
        k = "setup_ms" if mode == "call" else "msg_ms"
        g = rr.get("gateway_" + mode) or {}
        gs = {s["rate"]: s for s in g.get("steps", [])}
        for label, s in [("1-at-a-time", kk["unloaded"])] + [(x["rate"], x) for x in kk["steps"]]:
            gsrc = g.get("unloaded") if label == "1-at-a-time" else gs.get(label)
            gw = gw_cpu(gsrc) if gsrc else None
            kam = s["cpu_us_per_op"]["kamailio"]
            gwk = gw_wakeups(gsrc) if gsrc else None
            kw = kam_wakeups(s)
            out("%-14s %12s %8d %9.2f %9.2f  %7.0f | %7s  %6s  %6s | %5s %s" % (
                "kamailio_" + mode, label, s["ok"], s[k]["p50"], s[k]["p99"], kam,
                "%.0f" % gw if gw is not None else "-",
                "%.2f" % (gw / kam) if gw is not None and kam else "-",
                "%.1f" % kw if kw is not None else "-",
                "%.1f" % gwk if gwk is not None else "-", s.get("limit", "")))
    gk = res.get("gateway_vs_kamailio") or {}
    for mode in ("call", "msg"):
        if mode in gk:
            out("gateway/kamailio CPU per %s: median ratio %s over the loaded steps, "
                "gateway lower at every rate: %s" % (
                    mode, gk[mode]["median_ratio_loaded"],
                    gk[mode]["gateway_lower_at_every_rate"]))


def add_args(ap):
    ap.add_argument("--no-kamailio", action="store_true",
                    help="skip the Kamailio comparison")
    ap.add_argument("--kam-rates", default=None,
                    help="Kamailio ladder (default: the rates the gateway's ladder "
                         "ran for the same flow, else --rates)")
    ap.add_argument("--kam-unloaded", type=int, default=100)
    ap.add_argument("--kam-hold-ms", type=int, default=100)
    ap.add_argument("--kam-children", type=int, default=2)
    ap.add_argument("--kam-cpu", type=int, default=None,
                    help="run Kamailio's processes on this CPU only (taskset)")


def kam_rates(args, results):
    if args.kam_rates:
        fixed = [int(x) for x in args.kam_rates.split(",") if x]
        return {m: fixed for m in ("call", "msg")}
    return {m: gateway_rates(results, m, args.rates) for m in ("call", "msg")}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(BENCH, "report.json"))
    ap.add_argument("--key", default="loadc",
                    help="report.json key whose gateway results are compared")
    ap.add_argument("--step", type=float, default=10)
    ap.add_argument("--rates", default="50,100,200,400,800,1600")
    ap.add_argument("--flows", default="call,msg")
    add_args(ap)
    args = ap.parse_args()
    args.rates = [int(x) for x in args.rates.split(",") if x]
    report = {}
    if os.path.exists(args.out):
        with open(args.out) as f:
            report = json.load(f)
    res = report.setdefault(args.key, {"results": {}})
    run(res, kam_rates(args, res.get("results", {})), step=args.step,
        unloaded=args.kam_unloaded, hold_ms=args.kam_hold_ms, children=args.kam_children,
        flows=args.flows.split(","), log=lambda s: print(s, flush=True), cpu=args.kam_cpu)
    res["kamailio"]["when"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    with open(args.out, "w") as f:
        json.dump(report, f, indent=2)
    print_table(res)
    print("report: %s (key %s)" % (args.out, args.key))


if __name__ == "__main__":
    main()
