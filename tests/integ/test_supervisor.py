"""The supervisor (SPEC §3): heartbeats, the give-up rule, SIGHUP reload,
configuration errors (exit 78, never a restart loop), ordered stop, status."""
import os
import re
import signal
import subprocess

import pytest

from conftest import BIN, wait_for


def log_has(gw, pattern):
    return re.search(pattern, gw.read_log(), re.M)


def test_status_shows_every_worker(gateway):
    out = gateway.ctl("status").stdout
    for name in ("supervisor", "translator", "xmpp-front", "sip-front"):
        m = re.search(r"^%s\s+(\d+)\s+(\S+)\s+([\d.]+)s\s+(\d+)" % name, out, re.M)
        assert m, out
        assert int(m.group(1)) > 0
        assert m.group(2) == "ready"
        assert int(m.group(4)) == 0
    st = gateway.status()
    assert set(st) == {"supervisor", "translator", "xmpp-front", "sip-front"}
    for w in st.values():
        assert w["pid"] > 0 and w["uptime_ms"] >= 0


def test_hung_worker_is_killed_and_restarted(gateway):
    old = gateway.pid("sip-front")
    os.kill(old, signal.SIGSTOP)  # alive, but no longer answers heartbeats
    gateway.wait_replaced("sip-front", old)
    assert log_has(gateway, r"sip-front missed 3 heartbeats; killing it")
    st = gateway.status()["sip-front"]
    assert st["restarts"] == 1 and "signal 9" in st["last_exit"]
    # the other workers were left alone
    assert gateway.status()["translator"]["restarts"] == 0


def test_gives_up_after_too_many_deaths(gateway_factory):
    gw = gateway_factory(supervisor={"max_deaths": "3", "death_window_s": "60"})
    workers = [gw.pid(n) for n in ("translator", "xmpp-front", "sip-front")]
    gw.kill9("sip-front")
    gw.kill9("sip-front")
    os.kill(gw.pid("sip-front"), signal.SIGKILL)
    assert gw.proc.wait(20) == 1
    gw.expect_rc = 1
    assert log_has(gw, r"stopping: too many worker deaths; giving up")
    for pid in workers[:2]:
        assert not os.path.exists("/proc/%d" % pid), "worker %d left behind" % pid


def test_sighup_reloads_a_valid_config(gateway):
    pids = {n: gateway.pid(n) for n in ("translator", "xmpp-front", "sip-front")}
    with open(gateway.cfg) as f:
        text = f.read()
    with open(gateway.cfg, "w") as f:
        f.write(text.replace("log: {level: info}", "log: {level: debug}"))
    gateway.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: log_has(gateway, r"configuration reloaded"), 10, "reload")
    # every worker took the new config, and nobody was restarted
    for n in pids:
        wait_for(lambda: log_has(gateway, r"%s\[%d\] info: reloaded " % (n, pids[n])),
                 10, "%s reloaded" % n)
    assert {n: gateway.pid(n) for n in pids} == pids


def test_sighup_refuses_a_broken_config(gateway):
    pids = {n: gateway.pid(n) for n in ("translator", "xmpp-front", "sip-front")}
    with open(gateway.cfg) as f:
        good = f.read()
    with open(gateway.cfg, "a") as f:
        f.write("bogus: 1\n")
    gateway.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: log_has(gateway, r"reload refused: .*xsgw\.yaml:7:1: bogus: "),
             10, "reload refused")
    assert not log_has(gateway, r"info: reloaded ")
    with open(gateway.cfg, "w") as f:  # xsgwctl needs a valid config too
        f.write(good)
    assert gateway.all_ready()
    assert {n: gateway.pid(n) for n in pids} == pids


def test_config_error_stops_everything_without_restart(gateway):
    """A worker that cannot load the config (exit 78) is not restarted: the
    supervisor stops the others and exits 78 itself."""
    victim = gateway.pid("sip-front")
    with open(gateway.cfg, "a") as f:
        f.write("sip: {listen: nowhere}\n")
    gateway.expect_rc = 78
    os.kill(victim, signal.SIGKILL)
    assert gateway.proc.wait(20) == 78
    log = gateway.read_log()
    assert re.search(r"sip-front exited with code 78 \(configuration error\): "
                     r"not restarting", log), log[-2000:]
    assert log.count("started sip-front") == 2


def test_bad_config_at_start_is_exit_78(tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("xmpp:\n  component: sip.localhost\n  port: many\n")
    r = subprocess.run([os.path.join(BIN, "xsgw"), "-c", str(cfg)],
                       capture_output=True, text=True, timeout=15)
    assert r.returncode == 78
    assert re.search(r"bad\.yaml:3:9: xmpp\.port: ", r.stderr), r.stderr
    r = subprocess.run([os.path.join(BIN, "xsgw"), "-n", "-c", str(cfg)],
                       capture_output=True, text=True, timeout=15)
    assert r.returncode == 78


def test_sigterm_stops_fronts_before_translator(gateway):
    assert gateway.stop() == 0
    log = gateway.read_log()
    order = [m.group(1) for m in
             re.finditer(r"supervisor\[\d+\] info: (\S+) exited with code 0", log)]
    assert sorted(order[:2]) == ["sip-front", "xmpp-front"], order
    assert order[2] == "translator", order
    assert "stopped (exit 0)" in log


def _cpus_of(pid):
    """The CPUs pid may run on, as /proc writes them ("1", "0-3")."""
    with open("/proc/%d/status" % pid) as f:
        return re.search(r"^Cpus_allowed_list:\s*(\S+)", f.read(), re.M).group(1)


def _flusher_of(translator):
    for d in os.listdir("/proc"):
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
        except OSError:
            continue
        fields = st[st.rindex(")") + 2:].split()
        if st[st.index("(") + 1:st.rindex(")")] == "xsgw-flusher" \
                and int(fields[1]) == translator and fields[0] != "Z":
            return int(d)
    return None


def test_cpus_places_every_process(gateway_factory):
    """supervisor.cpus: the supervisor, every worker, a restarted worker and
    the translator's flusher run on the CPUs listed and nowhere else; a
    changed list at SIGHUP is said to need a restart and changes nothing."""
    mine = sorted(os.sched_getaffinity(0))
    if len(mine) < 2:
        pytest.skip("one CPU: every placement looks the same")
    cpu = mine[-1]
    gw = gateway_factory(supervisor={"cpus": '"%d"' % cpu},
                         store_sync="periodic", sync_interval_ms=50)
    tr = gw.pid("translator")
    flusher = wait_for(lambda: _flusher_of(tr), 10, "the translator's flusher")
    procs = {"supervisor": gw.proc.pid, "flusher": flusher}
    procs.update({w: gw.pid(w) for w in ("translator", "xmpp-front", "sip-front")})
    assert {k: _cpus_of(p) for k, p in procs.items()} == \
        {k: str(cpu) for k in procs}
    # a worker started again is placed the same way (inherited)
    gw.kill9("sip-front")
    assert _cpus_of(gw.pid("sip-front")) == str(cpu)
    # a reload cannot move running processes: it says so, and the
    # workers it starts later are placed as before
    text = open(gw.cfg).read()
    with open(gw.cfg, "w") as f:
        f.write(re.sub(r"cpus: \"\d+\"", 'cpus: "%d-%d"' % (mine[0], cpu), text))
    os.kill(gw.proc.pid, signal.SIGHUP)
    wait_for(lambda: log_has(gw, r"configuration reloaded"), 10, "reload")
    assert log_has(gw, r"supervisor\.cpus changed: it takes effect when "
                       r"the gateway restarts")
    gw.kill9("xmpp-front")
    assert _cpus_of(gw.pid("xmpp-front")) == str(cpu)
    assert _cpus_of(gw.proc.pid) == str(cpu)


def test_cpus_unset_leaves_placement_to_the_kernel(gateway):
    mine = sorted(os.sched_getaffinity(0))
    for w in ("translator", "xmpp-front", "sip-front"):
        assert sorted(os.sched_getaffinity(gateway.pid(w))) == mine
