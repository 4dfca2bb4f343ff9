#!/bin/bash
# Self-check of the SIP presence peers:
#   kam_presence_start.sh / kamailio_stop.sh (Kamailio registrar + proxy +
#   presence server: reg event RFC 3680, dialog event RFC 4235, PIDF/PUBLISH
#   RFC 3856/3863/3903) and sip_watcher.py (the SIP watcher).
# Run as root inside a network namespace with only lo up, e.g.
#   ip netns add h8 2>/dev/null; ip netns exec h8 ip link set lo up
#   ip netns exec h8 bash tests/peers/test_peers_presence.sh
# Ports (loopback): Kamailio TEST_KAM_PORT [45360], watchers 45370-45379,
# SIPp 45380-45389, helper UA 45390-45399, RTP 45600-45699.
# Exit 0 when every check passes. KEEP=1 keeps the work dir (it is kept anyway
# when a check fails). The NOTIFY bodies Kamailio sent are written to
# WORKDIR/samples; SAVE_SAMPLES=1 also copies them to tests/peers/samples
# (the test fixtures and fuzz seeds).
# The REGISTER/PUBLISH client is a small stdlib python3 UA written to
# WORKDIR/ua.py; calls are SIPp scenarios written to WORKDIR (from
# tests/sipp/uac_call.xml, uas_call.xml) and the PIDF publisher is a copy of
# the testbed's publish_pidf.xml.
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
PY=/usr/bin/python3
KPORT=${TEST_KAM_PORT:-45360}
KADDR=127.0.0.1:$KPORT
T=$(mktemp -d /tmp/test_peers_presence.XXXXXX)
S=$T/samples
mkdir -p "$S"
PASS=0
FAIL=0

[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 2; }
for c in kamailio kamcmd sipp "$PY"; do
    command -v "$c" >/dev/null || { echo "missing $c" >&2; exit 2; }
done

cleanup() {
    # only our still-running background jobs (watchers stop cleanly on SIGTERM)
    local p
    for p in $(jobs -p); do
        kill "$p" 2>/dev/null
    done
    for p in $(jobs -p); do
        wait "$p" 2>/dev/null
    done
    [ -f "$T/kam/kamailio.pid.started" ] && bash "$HERE/kamailio_stop.sh" "$T/kam" >/dev/null
    if [ "$FAIL" = 0 ] && [ "${KEEP:-0}" != 1 ]; then
        rm -rf "$T"
    else
        echo "work dir kept: $T" >&2
    fi
}
trap cleanup EXIT
trap "exit 143" INT TERM HUP

ok()   { echo "PASS $*"; PASS=$((PASS + 1)); }
bad()  { echo "FAIL $*"; FAIL=$((FAIL + 1)); }
# check NAME CONDITION...: the condition is a shell expression, evaluated here
check() { local name=$1; shift; if eval "$*"; then ok "$name"; else bad "$name"; fi; }
now() { date +%s.%N; }

# ------------------------------------------------------------ helpers
cat > "$T/ua.py" <<'PYEOF'
"""Minimal SIP UA over UDP (stdlib only), written by test_peers_presence.sh.
  register HOST:PORT USER --contact URI [--domain D] [--expires N]
           [--callid ID] [--cseq N] [--port P]
      one REGISTER; prints "FINAL <code> sent=<t> got=<t> contact=<Contact of
      the 200>"; exit 0 on 200
  publish HOST:PORT URI --event E --ctype T --body-file F [--etag E]
          [--expires N] [--port P]
      one PUBLISH; prints "FINAL <code> sent=<t> etag=<SIP-ETag> expires=<E>"
"""
import random, re, socket, sys, time

def opts(argv):
    o, pos, i = {}, [], 0
    while i < len(argv):
        if argv[i].startswith("--"):
            o[argv[i][2:]] = argv[i + 1]; i += 2
        else:
            pos.append(argv[i]); i += 1
    return o, pos

def hdr(resp, name):
    m = re.search(r"^%s\s*:\s*(.*)$" % name, resp or "", re.I | re.M)
    return m.group(1).strip() if m else ""

def transact(server, port, lines, body=b""):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", port))
    lport = s.getsockname()[1]
    branch = "z9hG4bK%x" % random.getrandbits(48)
    lines = [l.replace("@LPORT@", str(lport)).replace("@BRANCH@", branch) for l in lines]
    msg = ("\r\n".join(lines + ["Content-Length: %d" % len(body), "", ""])).encode() + body
    h, p = server.rsplit(":", 1)
    dest = (h, int(p))
    sent = time.time()
    s.sendto(msg, dest)
    t, deadline = 0.5, time.time() + 8
    while time.time() < deadline:
        s.settimeout(t)
        try:
            data = s.recv(65535).decode(errors="replace")
        except socket.timeout:
            t = min(t * 2, 4)
            s.sendto(msg, dest)
            continue
        m = re.match(r"SIP/2.0 (\d+)", data)
        if m and ("branch=" + branch) in data and int(m.group(1)) >= 200:
            return int(m.group(1)), data, sent, time.time()
    return 0, "", sent, time.time()

def main():
    o, pos = opts(sys.argv[1:])
    cmd, server = pos[0], pos[1]
    port = int(o.get("port", 0))
    callid = o.get("callid", "%x@ua" % random.getrandbits(48))
    cseq = int(o.get("cseq", 1))
    tag = "%x" % random.getrandbits(32)
    via = "Via: SIP/2.0/UDP 127.0.0.1:@LPORT@;branch=@BRANCH@;rport"
    if cmd == "register":
        user = pos[2]
        dom = o.get("domain", "127.0.0.1")
        aor = "<sip:%s@%s>" % (user, dom)
        code, resp, sent, got = transact(server, port, [
            "REGISTER sip:%s SIP/2.0" % dom, via, "Max-Forwards: 70",
            "From: %s;tag=%s" % (aor, tag), "To: %s" % aor, "Call-ID: %s" % callid,
            "CSeq: %d REGISTER" % cseq, "Contact: %s" % o["contact"],
            "Expires: %s" % o.get("expires", "60"), "User-Agent: test_peers_presence ua.py"])
        print("FINAL %d sent=%.6f got=%.6f contact=%s" % (code, sent, got, hdr(resp, "Contact")))
        sys.exit(0 if code == 200 else 1)
    if cmd == "publish":
        uri = pos[2]
        body = open(o["body-file"], "rb").read()
        lines = ["PUBLISH %s SIP/2.0" % uri, via, "Max-Forwards: 70",
                 "From: <%s>;tag=%s" % (uri, tag), "To: <%s>" % uri, "Call-ID: %s" % callid,
                 "CSeq: %d PUBLISH" % cseq, "Event: %s" % o["event"],
                 "Expires: %s" % o.get("expires", "120")]
        if o.get("etag"):
            lines.append("SIP-If-Match: %s" % o["etag"])
        if body:
            lines.append("Content-Type: %s" % o["ctype"])
        code, resp, sent, got = transact(server, port, lines, body)
        print("FINAL %d sent=%.6f etag=%s expires=%s" % (code, sent, hdr(resp, "SIP-ETag"), hdr(resp, "Expires")))
        sys.exit(0 if code == 200 else 1)
    sys.exit("unknown command " + cmd)

main()
PYEOF

cat > "$T/nq.py" <<'PYEOF'
"""Query sip_watcher.py's NOTIFY lines, written by test_peers_presence.sh.
  wait FILE [--since T] [--match REGEX] [--state REGEX] [--timeout S] [--save F]
      wait (polling) for the first NOTIFY with t >= T whose body matches REGEX
      (re.S) and whose Subscription-State matches --state; print
      "n=<n> t=<t> state=<sub_state>"; --save writes its body; exit 1 on timeout
  count FILE [--since T] [--until T] [--match REGEX]   number of such NOTIFYs
  states FILE [--since T]          "<state>" elements of each dialog NOTIFY, in order
"""
import json, re, sys, time

def opts(argv):
    o, pos, i = {}, [], 0
    while i < len(argv):
        if argv[i].startswith("--"):
            o[argv[i][2:]] = argv[i + 1]; i += 2
        else:
            pos.append(argv[i]); i += 1
    return o, pos

def notifies(path):
    try:
        with open(path) as f:
            for line in f:
                try:
                    j = json.loads(line)
                except ValueError:
                    continue
                if j.get("kind") == "notify":
                    yield j
    except FileNotFoundError:
        return

def sel(path, o):
    since, until = float(o.get("since", 0)), float(o.get("until", 1e12))
    for j in notifies(path):
        if not since <= j["t"] <= until:
            continue
        if "match" in o and not re.search(o["match"], j["body"], re.S):
            continue
        if "state" in o and not re.search(o["state"], j["sub_state"]):
            continue
        yield j

o, pos = opts(sys.argv[1:])
cmd, path = pos[0], pos[1]
if cmd == "wait":
    deadline = time.time() + float(o.get("timeout", 10))
    while True:
        for j in sel(path, o):
            print("n=%d t=%.6f state=%s" % (j["n"], j["t"], j["sub_state"]))
            if "save" in o:
                with open(o["save"], "w") as f:
                    f.write(j["body"])
            sys.exit(0)
        if time.time() > deadline:
            sys.exit(1)
        time.sleep(0.05)
elif cmd == "count":
    print(sum(1 for _ in sel(path, o)))
elif cmd == "states":
    out = []
    for j in sel(path, o):
        out += re.findall(r"<state[^>]*>([^<]*)</state>", j["body"])
    print(" ".join(out))
PYEOF

ua() { timeout 15 "$PY" "$T/ua.py" "$@"; }
nq() { timeout 30 "$PY" "$T/nq.py" "$@"; }
# watcher NAME EVENT AOR PORT [args...]: sip_watcher.py in the background,
# NOTIFY lines in $T/NAME.out, the rest in $T/NAME.err; PID in $W
watcher() {
    local name=$1 ev=$2 aor=$3 port=$4; shift 4
    timeout 120 "$PY" "$HERE/sip_watcher.py" --server "$KADDR" --aor "$aor" --event "$ev" \
        --port "$port" "$@" >"$T/$name.out" 2>"$T/$name.err" &
    W=$!
}
# stop_watcher PID: SIGTERM -> un-SUBSCRIBE -> exit status in $WRC
stop_watcher() {
    local p=$1
    # `timeout` passes SIGTERM on to the watcher
    kill -TERM "$p" 2>/dev/null
    wait "$p"; WRC=$?
}
# the sip_watcher stderr line of a kind, e.g. werr NAME response
werr() { grep "\"kind\": \"$2\"" "$T/$1.err"; }
# sample NAME FILE: keep a NOTIFY body as a fixture
sample() { cp "$2" "$S/$1"; }

# ---------------------------------------------------------------- Kamailio
echo "== kam_presence_start.sh on $KADDR (work dir $T)"
KPID=$(SIP_PORT=$KPORT KAM_MAX_EXPIRES=600 KAM_LOG_BODIES=1 KAM_UL_TIMER=1 KAM_CLEAN_PERIOD=1 \
       bash "$HERE/kam_presence_start.sh" "$T/kam") || { bad "K0 kam_presence_start.sh"; exit 1; }
ok "K0 kam_presence_start.sh (PID $KPID)"
KLOG=$T/kam/kamailio.log
has() { grep -q -- "$1" "$KLOG"; }

# ---------------------------------------------------------- reg event (RFC 3680)
watcher reg reg sip:alice@127.0.0.1 45370 --expires 60 --refresh 1
WREG=$W
nq wait "$T/reg.out" --timeout 5 --save "$T/reg_init.xml" >/dev/null
rc=$?
check "R1 SUBSCRIBE Event: reg alice -> 200 + initial NOTIFY active, empty body, no Content-Type" \
    '[ $rc = 0 ] && werr reg response | grep -q "\"code\": 200" &&
     nq wait "$T/reg.out" --state "^active;expires=60$" --timeout 1 >/dev/null &&
     [ ! -s "$T/reg_init.xml" ] && head -1 "$T/reg.out" | grep -q "\"content_type\": null"'


CID=regcid-$$@ua
t0=$(now)
out=$(ua register "$KADDR" alice --contact '<sip:alice@127.0.0.1:45390>' --expires 60 --callid "$CID" --cseq 1)
rc=$?
line=$(nq wait "$T/reg.out" --since "$t0" --match 'state="active"[^>]*event="created"' --timeout 10 --save "$T/reg_created.xml")
tn=$(sed -n 's/.* t=\([0-9.]*\) .*/\1/p' <<<"$line")
ts=$(sed -n 's/.* sent=\([0-9.]*\) .*/\1/p' <<<"$out")
LAT_REG=$(awk -v a="$ts" -v b="$tn" 'BEGIN{ if (b == "") print "none"; else printf "%.0f ms", (b-a)*1000 }')
check "R2 REGISTER alice -> 200; NOTIFY reginfo contact state=active event=created ($LAT_REG after the REGISTER)" \
    '[ $rc = 0 ] && [ -n "$line" ] && grep -q "<registration aor=\"sip:alice@127.0.0.1\"[^>]*state=\"active\"" "$T/reg_created.xml" &&
     grep -q "<uri>sip:alice@127.0.0.1:45390</uri>" "$T/reg_created.xml" &&
     has "REGISTER saved aor=alice granted=60 bindings=1"'
sample reginfo_created.xml "$T/reg_created.xml"

t0=$(now)
ua register "$KADDR" alice --contact '<sip:alice@127.0.0.1:45390>' --expires 60 --callid "$CID" --cseq 2 >/dev/null
rc=$?
check "R3 re-REGISTER (same Call-ID, CSeq 2) -> NOTIFY contact state=active event=refreshed" \
    '[ $rc = 0 ] && nq wait "$T/reg.out" --since "$t0" --match "state=\"active\"[^>]*event=\"refreshed\"[^>]*cseq=\"2\"" --timeout 10 --save "$T/reg_refreshed.xml" >/dev/null'
sample reginfo_refreshed.xml "$T/reg_refreshed.xml"

# a second device of alice: the NOTIFY lists both, the other one as event=registered
t0=$(now)
ua register "$KADDR" alice --contact '<sip:alice@127.0.0.1:45391>' --expires 60 --callid "$CID-2" --cseq 1 >/dev/null
rc=$?
check "R4 second contact -> NOTIFY with 2 contacts: the new one created, the old one registered" \
    '[ $rc = 0 ] && nq wait "$T/reg.out" --since "$t0" --match "event=\"created\".*45391|45391.*event=\"created\"" --timeout 10 --save "$T/reg_two.xml" >/dev/null &&
     [ $(grep -c "<contact " "$T/reg_two.xml") = 2 ] && grep -q "event=\"registered\"" "$T/reg_two.xml"'
sample reginfo_two_contacts.xml "$T/reg_two.xml"
t0=$(now)
ua register "$KADDR" alice --contact '<sip:alice@127.0.0.1:45391>' --expires 0 --callid "$CID-2" --cseq 2 >/dev/null
rc=$?
check "R5 de-REGISTER of the second contact -> NOTIFY, registration still active" \
    '[ $rc = 0 ] && nq wait "$T/reg.out" --since "$t0" --match "event=\"unregistered\"" --timeout 10 --save "$T/reg_unreg1.xml" >/dev/null &&
     grep -q "<registration [^>]*state=\"active\"" "$T/reg_unreg1.xml"'
sample reginfo_unregistered_one_of_two.xml "$T/reg_unreg1.xml"

t0=$(now)
ua register "$KADDR" alice --contact '<sip:alice@127.0.0.1:45390>' --expires 0 --callid "$CID" --cseq 3 >/dev/null
rc=$?
check "R6 de-REGISTER (Expires: 0) -> NOTIFY contact state=terminated event=unregistered, registration terminated" \
    '[ $rc = 0 ] && nq wait "$T/reg.out" --since "$t0" --match "<registration [^>]*state=\"terminated\"" --timeout 10 --save "$T/reg_unreg.xml" >/dev/null &&
     has "REGISTER saved aor=alice granted=0 bindings=0"'
sample reginfo_unregistered.xml "$T/reg_unreg.xml"

# a binding that is not refreshed: removed by the usrloc timer (KAM_UL_TIMER=1)
t0=$(now)
ua register "$KADDR" alice --contact '<sip:alice@127.0.0.1:45392>' --expires 2 --callid "$CID-3" >/dev/null
rc=$?
line=$(nq wait "$T/reg.out" --since "$t0" --match "event=\"created\"" --timeout 10)
tc=$(sed -n 's/.* t=\([0-9.]*\) .*/\1/p' <<<"$line")
line=$(nq wait "$T/reg.out" --since "${tc:-$t0}" --match "<registration [^>]*state=\"terminated\"" --timeout 10 --save "$T/reg_expired.xml")
te=$(sed -n 's/.* t=\([0-9.]*\) .*/\1/p' <<<"$line")
LAT_EXP=$(awk -v a="$t0" -v b="$te" 'BEGIN{ if (b == "") print "none"; else printf "%.1f s", b-a }')
check "R7 REGISTER Expires: 2, no refresh -> NOTIFY registration terminated WITHOUT any contact ($LAT_EXP after the REGISTER; no event=expired)" \
    '[ $rc = 0 ] && [ -n "$te" ] && ! grep -q "<contact" "$T/reg_expired.xml"'
sample reginfo_expired.xml "$T/reg_expired.xml"

# the watcher refreshes its subscription every second: each refresh -> 200 + a NOTIFY
for _ in $(seq 1 50); do
    nref=$(werr reg refresh | wc -l)
    nresp=$(werr reg response | grep -c '"code": 200')
    [ "$nref" -ge 1 ] && [ "$nresp" = $((nref + 1)) ] && break
    sleep 0.1
done
check "R8 subscription refreshes: $nref re-SUBSCRIBEs, each answered 200" '[ $nref -ge 1 ] && [ $nresp = $((nref + 1)) ]'
stop_watcher "$WREG"
check "R9 un-SUBSCRIBE on SIGTERM -> 200 + final NOTIFY terminated, watcher exit 0" \
    '[ $WRC = 0 ] && grep "\"final\": true" "$T/reg.out" | grep -q "\"sub_state\": \"terminated"'

# ------------------------------------------------------- dialog event (RFC 4235)
watcher dlga dialog sip:alice@127.0.0.1 45371 --expires 60
WDA=$W
watcher dlgb dialog sip:bob@127.0.0.1 45372 --expires 60
WDB=$W
nq wait "$T/dlga.out" --timeout 5 --save "$T/dlg_init.xml" >/dev/null && nq wait "$T/dlgb.out" --timeout 5 >/dev/null
rc=$?
check "D1 SUBSCRIBE Event: dialog alice and bob -> initial NOTIFYs, empty body" '[ $rc = 0 ] && [ ! -s "$T/dlg_init.xml" ]'

# the callee: bob registered at SIPp's uas port
# uac_call.xml as alice (From), holding the call for -d ms, with the Route set
# (Record-Route of the 200) on the ACK and the BYE
sed -e 's/<pause milliseconds="500"\/>/<pause\/>/' \
    -e 's/sip:phone@\[local_ip\]:\[local_port\]>;tag/sip:alice@127.0.0.1>;tag/' \
    -e 's/^\( *\)CSeq: \([0-9]*\) \(ACK\|BYE\)$/&\n\1[routes]/' \
    "$HERE/../sipp/uac_call.xml" > "$T/uac_call_alice.xml"
cp "$HERE/../sipp/uas_call.xml" "$T/uas_call_bob.xml"
ua register "$KADDR" bob --contact '<sip:bob@127.0.0.1:45381>' --expires 60 >/dev/null
( cd "$T" && timeout 30 sipp -sf uas_call_bob.xml -i 127.0.0.1 -p 45381 -m 1 -nostdin -mp 45600 \
    -timeout 20s -timeout_error -trace_err >"$T/uas.out" 2>&1 ) &
UAS=$!
for _ in $(seq 1 100); do
    ss -Hlun "sport = :45381" 2>/dev/null | grep -q 127.0.0.1:45381 && break
    sleep 0.05
done
t0=$(now)
( cd "$T" && timeout 30 sipp -sf uac_call_alice.xml -s bob -key domain 127.0.0.1 "$KADDR" -i 127.0.0.1 \
    -p 45380 -m 1 -d 1500 -nostdin -mp 45620 -timeout 20s -timeout_error -trace_err >"$T/uac.out" 2>&1 )
uac=$?
wait "$UAS"; uas=$?
check "D2 call alice -> bob through Kamailio (lookup, Record-Route): SIPp uac and uas exit 0" \
    '[ $uac = 0 ] && [ $uas = 0 ] && has "LOOKUP bob -> sip:bob@127.0.0.1:45381"'
nq wait "$T/dlga.out" --since "$t0" --match "<state>terminated</state>" --timeout 10 >/dev/null
nq wait "$T/dlgb.out" --since "$t0" --match "<state>terminated</state>" --timeout 10 >/dev/null
t1=$(now)
SA=$(nq states "$T/dlga.out" --since "$t0" --until "$t1")
SB=$(nq states "$T/dlgb.out" --since "$t0" --until "$t1")
echo "   alice (caller) dialog states: $SA"
echo "   bob (callee) dialog states:   $SB"
# when each dialog NOTIFY arrived, counted from the INVITE
DT=$("$PY" -c '
import json, re, sys
t0 = float(sys.argv[2])
for l in open(sys.argv[1]):
    j = json.loads(l)
    st = re.findall(r"<state>([^<]*)</state>", j["body"])
    if j["t"] >= t0 and st:
        print("%s +%.0fms" % (st[0], (j["t"] - t0) * 1000), end=" ")
' "$T/dlga.out" "$t0")
echo "   alice's NOTIFYs after the INVITE (call held 1.5 s): $DT"
check "D3 alice's dialog NOTIFYs: Trying early confirmed terminated, direction=initiator" \
    '[ "$SA" = "Trying early confirmed terminated" ] && ! grep -q "direction=\\\\\"recipient" "$T/dlga.out"'
check "D4 bob's dialog NOTIFYs end in confirmed terminated, direction=recipient" \
    'grep -Eq "confirmed terminated$" <<<"$SB" && grep -q "direction=\\\\\"recipient" "$T/dlgb.out"'
for st in Trying early confirmed terminated; do
    nq wait "$T/dlga.out" --since "$t0" --match "<state>$st</state>" --timeout 1 --save "$S/dialoginfo_caller_$st.xml" >/dev/null
    nq wait "$T/dlgb.out" --since "$t0" --match "<state>$st</state>" --timeout 1 --save "$S/dialoginfo_callee_$st.xml" >/dev/null ||
        rm -f "$S/dialoginfo_callee_$st.xml"
done
# pua_dialoginfo publishes "terminated" with Expires 11 (10 s + 1): what the
# watcher gets when that publication expires (KAM_CLEAN_PERIOD=1)
tt=$(nq wait "$T/dlga.out" --since "$t0" --match "<state>terminated</state>" --timeout 1 | sed -n 's/.* t=\([0-9.]*\) .*/\1/p')
line=$(nq wait "$T/dlga.out" --since "$(awk -v a="${tt:-$t0}" 'BEGIN{printf "%.6f", a + 0.001}')" --timeout 20 --save "$T/dlg_expired.xml")
tx=$(sed -n 's/.* t=\([0-9.]*\) .*/\1/p' <<<"$line")
LAT_DX=$(awk -v a="$tt" -v b="$tx" 'BEGIN{ if (b == "") print "none"; else printf "%.1f s", b-a }')
check "D5 'terminated' publication expires (Expires 11, clean_period 1) -> NOTIFY active, empty body ($LAT_DX after terminated)" \
    '[ -n "$tx" ] && [ -f "$T/dlg_expired.xml" ] && [ ! -s "$T/dlg_expired.xml" ]'
stop_watcher "$WDA"; ra=$WRC
stop_watcher "$WDB"; rb=$WRC
check "D6 both dialog watchers un-SUBSCRIBE cleanly" '[ $ra = 0 ] && [ $rb = 0 ]'

# --------------------------------------------------- presence (PIDF, PUBLISH)
watcher pres presence sip:carol@127.0.0.1 45373 --expires 60
WP=$W
nq wait "$T/pres.out" --timeout 5 --save "$T/pres_init.xml" >/dev/null
rc=$?
check "P1 SUBSCRIBE Event: presence carol (nothing published) -> initial NOTIFY, empty body" '[ $rc = 0 ] && [ ! -s "$T/pres_init.xml" ]'

cat > "$T/publish_pidf.xml" <<'EOF'
<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<!-- copy of the testbed's peers2/sipp/publish_pidf.xml: one PUBLISH
     (Event: presence, application/pidf+xml) for sip:[service]@[presdomain] -->
<scenario name="PUBLISH PIDF">
  <send retrans="500">
    <![CDATA[
      PUBLISH sip:[service]@[presdomain] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:[service]@[presdomain]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[presdomain]>
      Call-ID: [call_id]
      CSeq: 1 PUBLISH
      Max-Forwards: 70
      Event: presence
      Expires: [expires]
      Content-Type: application/pidf+xml
      Content-Length: [len]

      <?xml version="1.0" encoding="UTF-8"?>
      <presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:[service]@[presdomain]">
        <tuple id="sipp1">
          <status><basic>[basic]</basic></status>
          <contact>sip:[service]@[presdomain]</contact>
          <note>[note]</note>
        </tuple>
      </presence>
    ]]>
  </send>
  <recv response="200">
    <action>
      <ereg regexp="[^ ]+" search_in="hdr" header="SIP-ETag:" check_it="true" assign_to="etag"/>
      <log message="PUBLISH ok, SIP-ETag: [$etag]"/>
    </action>
  </recv>
</scenario>
EOF
t0=$(now)
( cd "$T" && timeout 20 sipp -sf publish_pidf.xml -s carol "$KADDR" -i 127.0.0.1 -p 45382 -m 1 -nostdin \
    -timeout 10s -timeout_error -trace_logs -log_file "$T/pub.log" \
    -key presdomain 127.0.0.1 -key basic open -key note "Phone online" -key expires 120 >"$T/pub.out" 2>&1 )
rc=$?
ETAG=$(sed -n 's/^PUBLISH ok, SIP-ETag: *//p' "$T/pub.log" | tr -d '\r' | head -1)
check "P2 SIPp PUBLISH PIDF open -> 200 with SIP-ETag; watcher NOTIFY <basic>open</basic>" \
    '[ $rc = 0 ] && [ -n "$ETAG" ] && nq wait "$T/pres.out" --since "$t0" --match "<basic>open</basic>" --timeout 10 --save "$T/pidf_open.xml" >/dev/null'
sample pidf_open.xml "$T/pidf_open.xml"

# modify with SIP-If-Match (RFC 3903): closed + an RPID activity
cat > "$T/closed.xml" <<'EOF'
<?xml version="1.0" encoding="UTF-8"?>
<presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model" xmlns:rpid="urn:ietf:params:xml:ns:pidf:rpid" entity="sip:carol@127.0.0.1">
  <tuple id="sipp1">
    <status><basic>closed</basic></status>
    <contact>sip:carol@127.0.0.1</contact>
    <note>On the phone</note>
  </tuple>
  <dm:person id="p1">
    <rpid:activities><rpid:on-the-phone/></rpid:activities>
    <dm:note>On the phone</dm:note>
  </dm:person>
</presence>
EOF
t0=$(now)
out=$(ua publish "$KADDR" sip:carol@127.0.0.1 --event presence --ctype application/pidf+xml \
      --body-file "$T/closed.xml" --etag "$ETAG" --expires 120 --port 45392)
rc=$?
ETAG2=$(sed -n 's/.* etag=\([^ ]*\) .*/\1/p' <<<"$out")
check "P3 PUBLISH with SIP-If-Match (closed, rpid on-the-phone) -> 200; NOTIFY <basic>closed</basic>, no open" \
    '[ $rc = 0 ] && nq wait "$T/pres.out" --since "$t0" --match "<basic>closed</basic>" --timeout 10 --save "$T/pidf_closed.xml" >/dev/null &&
     ! grep -q "<basic>open</basic>" "$T/pidf_closed.xml"'
sample pidf_closed_on_the_phone.xml "$T/pidf_closed.xml"

printf '' > "$T/empty.xml"
t0=$(now)
ua publish "$KADDR" sip:carol@127.0.0.1 --event presence --body-file "$T/empty.xml" --etag "$ETAG2" \
    --expires 0 --port 45393 >/dev/null
rc=$?
check "P4 PUBLISH Expires: 0 (remove) -> 200; NOTIFY with a PIDF Kamailio made: closed, same tuple id, no note" \
    '[ $rc = 0 ] && nq wait "$T/pres.out" --since "$t0" --timeout 10 --save "$T/pidf_removed.xml" >/dev/null &&
     grep -q "<basic>closed</basic>" "$T/pidf_removed.xml" && grep -q "id=\"sipp1\"" "$T/pidf_removed.xml" &&
     ! grep -q "<note" "$T/pidf_removed.xml"'
sample pidf_removed.xml "$T/pidf_removed.xml"
stop_watcher "$WP"
check "P5 presence watcher un-SUBSCRIBEs cleanly" '[ $WRC = 0 ]'

check "K1 log: REQ lines with event=, SEND NOTIFY lines with state=, REGISTER saved" \
    'has "REQ SUBSCRIBE from=sip:watcher@127.0.0.1 to=sip:alice@127.0.0.1 ruri=sip:alice@127.0.0.1 event=reg src=127.0.0.1:45370/udp" &&
     has "SEND NOTIFY ruri=sip:watcher@127.0.0.1:45370;transport=udp .* event=reg state=active;expires=" &&
     has "SEND PUBLISH .* event=reg" && has "REQ PUBLISH .* event=dialog src=127.0.0.1:$KPORT/udp"'
# the one known error: pua sends the next dialog PUBLISH of a presentity before
# the 200 of the previous one is back (one worker), presence answers 412 "No
# E_Tag match" and pua publishes again from scratch (the state still arrives);
# it happens in some runs, not in others
N412=$(grep -c "RPL 412 .* for PUBLISH" "$KLOG")
check "K2 no ERROR in the Kamailio log but the pua ETag race ($N412 x 412 for PUBLISH)" \
    '! grep "ERROR" "$KLOG" | grep -v "No E_Tag match" >&2'

bash "$HERE/kamailio_stop.sh" "$T/kam" >/dev/null
check "K3 kamailio_stop.sh: Kamailio and its workers are gone" \
    '! kill -0 $KPID 2>/dev/null && [ -z "$(ps -o pid= --ppid $KPID)" ]'

if [ "${SAVE_SAMPLES:-0}" = 1 ]; then
    mkdir -p "$HERE/samples"
    cp "$S"/* "$HERE/samples/"
    echo "samples copied to $HERE/samples: $(cd "$S" && ls | tr '\n' ' ')"
fi
echo "$PASS passed, $FAIL failed"
[ "$FAIL" = 0 ]
