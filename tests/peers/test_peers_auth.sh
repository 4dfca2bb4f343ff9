#!/bin/bash
# Self-check of the digest-auth SIP peers:
#   kam_auth_start.sh / kamailio_stop.sh (Kamailio registrar + proxy, 401/407)
#   sipp/uac_register_auth.xml, uas_register_challenge.xml,
#   uas_register_sha256.xml, uas_registrar_count.xml
# Run as root inside a network namespace with only lo up, e.g.
#   ip netns add h5 2>/dev/null; ip netns exec h5 ip link set lo up
#   ip netns exec h5 bash tests/peers/test_peers_auth.sh
# Ports (loopback): Kamailio TEST_KAM_PORT [45060], SIPp 45130-45145,
# helper UA 45150. Exit 0 when every check passes. KEEP=1 keeps the work dir
# (it is kept anyway when a check fails).
# The SIP client used against the scenarios is a small stdlib python3 digest
# client written to WORKDIR/digest_client.py (MD5, SHA-256, qop=auth, 401/407,
# stale=true, cached credentials, same Call-ID for refreshes).
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
SIPPDIR=$(cd "$HERE/../sipp" && pwd)
PY=/usr/bin/python3
KPORT=${TEST_KAM_PORT:-45060}
T=$(mktemp -d /tmp/test_peers_auth.XXXXXX)
PASS=0
FAIL=0

[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 2; }
for c in kamailio kamcmd sipp "$PY"; do
    command -v "$c" >/dev/null || { echo "missing $c" >&2; exit 2; }
done

cleanup() {
    # only our still-running background jobs (timeout wrappers pass SIGTERM on)
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

# SIPp UAS in the background: sipp_bg NAME SCENARIO PORT [args...]; the PID
# (a `timeout` wrapper) is in $BG
sipp_bg() {
    local name=$1 sf=$2 port=$3; shift 3
    timeout 30 sipp -sf "$SIPPDIR/$sf" -i 127.0.0.1 -p "$port" -nostdin \
        -trace_err -error_file "$T/$name.err" -trace_logs -log_file "$T/$name.log" \
        "$@" >"$T/$name.out" 2>&1 &
    BG=$!
    # SIPp is ready when its UDP port is bound
    local i
    for i in $(seq 1 100); do
        ss -Hlun "sport = :$port" 2>/dev/null | grep -q "127.0.0.1:$port" && return 0
        sleep 0.05
    done
    echo "SIPp $name did not bind udp $port" >&2
    return 1
}
dc() { timeout 25 "$PY" "$T/digest_client.py" "$@"; }

cat > "$T/digest_client.py" <<'PYEOF'
"""Minimal SIP digest client over UDP (stdlib only), written by test_peers_auth.sh.
  register HOST:PORT USER PASSWORD [--prefer SHA-256,MD5] [--expires N]
           [--contact URI] [--times N] [--interval S] [--cache] [--domain D]
           [--from-domain D]   (--domain: R-URI/To domain, default HOST:PORT)
      REGISTERs (same Call-ID, CSeq +1 each time, RFC 3261 10.2.4) N times,
      answering 401/407 challenges; prints "FINAL <code> alg=<alg> ..." per
      registration; exit 0 if every registration got 200.
  message HOST:PORT USER PASSWORD TO_USER TEXT   MESSAGE with 407 handling
  invite HOST:PORT USER PASSWORD TO_USER         INVITE (407), ACK, BYE
  serve HOST:PORT [--count N] [--timeout S]      answer requests with 200
"""
import hashlib, os, random, re, socket, sys, time

def hexh(alg, s):
    name = {"MD5": "md5", "SHA-256": "sha256", "SHA-512-256": "sha512_256"}[alg]
    return hashlib.new(name, s.encode()).hexdigest()

def parse_params(s):
    return {k.lower(): (v1 if v1 or q else v2) for k, q, v1, v2 in
            re.findall(r'([\w-]+)\s*=\s*(?:(")([^"]*)"|([^\s,]+))', s)}

def challenges(resp):
    out = []
    for line in resp.split("\r\n"):
        m = re.match(r'(WWW|Proxy)-Authenticate\s*:\s*Digest\s+(.*)', line, re.I)
        if m:
            p = parse_params(m.group(2))
            p["_hdr"] = "Authorization" if m.group(1).upper() == "WWW" else "Proxy-Authorization"
            out.append(p)
    return out

def pick(chs, prefer):
    for alg in prefer:
        for c in chs:
            if c.get("algorithm", "MD5").upper() == alg:
                return c
    return None

class Creds:
    def __init__(self, user, pw, prefer):
        self.user, self.pw, self.prefer = user, pw, prefer
        self.ch = None
        self.nc = 0
    def header(self, method, uri):
        c = self.ch
        alg = c.get("algorithm", "MD5").upper()
        ha1 = hexh(alg, "%s:%s:%s" % (self.user, c["realm"], self.pw))
        ha2 = hexh(alg, "%s:%s" % (method, uri))
        parts = ['username="%s"' % self.user, 'realm="%s"' % c["realm"],
                 'nonce="%s"' % c["nonce"], 'uri="%s"' % uri]
        if "qop" in c:
            self.nc += 1
            nc = "%08x" % self.nc
            cnonce = "%x" % random.getrandbits(64)
            resp = hexh(alg, "%s:%s:%s:%s:auth:%s" % (ha1, c["nonce"], nc, cnonce, ha2))
            parts += ['response="%s"' % resp, "algorithm=%s" % alg, 'cnonce="%s"' % cnonce,
                      "qop=auth", "nc=%s" % nc]
        else:
            resp = hexh(alg, "%s:%s:%s" % (ha1, c["nonce"], ha2))
            parts += ['response="%s"' % resp, "algorithm=%s" % alg]
        if "opaque" in c:
            parts.append('opaque="%s"' % c["opaque"])
        return "%s: Digest %s" % (c["_hdr"], ", ".join(parts))

class UA:
    def __init__(self, server, bind_port=0):
        h, p = server.rsplit(":", 1)
        self.server = (h, int(p))
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.s.bind(("127.0.0.1", bind_port))
        self.port = self.s.getsockname()[1]
        self.callid = "%x@dc" % random.getrandbits(48)
        self.tag = "%x" % random.getrandbits(32)
        self.cseq = 0

    def request(self, method, ruri, to, frm, extra=(), body="", ctype=None,
                dest=None, want_final=True, branch=None, cseq=None):
        if cseq is None:
            self.cseq += 1
            cseq = self.cseq
        branch = branch or "z9hG4bK%x" % random.getrandbits(48)
        hdrs = ["%s %s SIP/2.0" % (method, ruri),
                "Via: SIP/2.0/UDP 127.0.0.1:%d;branch=%s;rport" % (self.port, branch),
                "Max-Forwards: 70", "From: %s;tag=%s" % (frm, self.tag), "To: %s" % to,
                "Call-ID: %s" % self.callid, "CSeq: %d %s" % (cseq, method)]
        hdrs += list(extra)
        if ctype:
            hdrs.append("Content-Type: " + ctype)
        hdrs.append("Content-Length: %d" % len(body.encode()))
        msg = ("\r\n".join(hdrs) + "\r\n\r\n" + body).encode()
        dest = dest or self.server
        if not want_final:
            self.s.sendto(msg, dest)
            return None, branch
        t, deadline = 0.5, time.time() + 8
        self.s.sendto(msg, dest)
        while time.time() < deadline:
            self.s.settimeout(t)
            try:
                data = self.s.recv(65535).decode(errors="replace")
            except socket.timeout:
                t = min(t * 2, 4)
                self.s.sendto(msg, dest)
                continue
            m = re.match(r"SIP/2.0 (\d+)", data)
            if not m or ("branch=" + branch) not in data:
                continue
            if int(m.group(1)) >= 200:
                return data, branch
        return None, branch

def code(resp):
    return int(resp.split(" ", 2)[1]) if resp else 0

def hdr(resp, name):
    m = re.search(r"^%s\s*:\s*(.*)$" % name, resp or "", re.I | re.M)
    return m.group(1).strip() if m else ""

def with_auth(ua, creds, method, ruri, to, frm, extra=(), **kw):
    """send, answer one challenge (or a stale one) and return the final response"""
    hdrs = list(extra)
    cache = kw.pop("cache", False)
    if creds.ch is not None and cache:
        hdrs.append(creds.header(method, ruri))
    for _ in range(3):
        resp, br = ua.request(method, ruri, to, frm, hdrs, **kw)
        c = code(resp)
        if c in (401, 407):
            if method == "INVITE":   # ACK the challenge (same branch, same CSeq)
                ua.request("ACK", ruri, hdr(resp, "To"), frm, branch=br, cseq=ua.cseq,
                           want_final=False)
            ch = pick(challenges(resp), creds.prefer)
            if ch is None:
                return resp
            stale = ch.get("stale", "").lower() == "true"
            had = any(h.lower().startswith(("authorization", "proxy-authorization")) for h in hdrs)
            if had and not stale:
                return resp          # credentials refused
            creds.ch, creds.nc = ch, 0
            hdrs = [h for h in hdrs if not h.lower().startswith(("authorization", "proxy-authorization"))]
            hdrs.append(creds.header(method, ruri))
            continue
        return resp
    return resp

def main():
    a = sys.argv[1:]
    opts = {}
    pos = []
    i = 0
    while i < len(a):
        if a[i] == "--cache":
            opts["cache"] = True
        elif a[i].startswith("--"):
            opts[a[i][2:]] = a[i + 1]
            i += 1
        else:
            pos.append(a[i])
        i += 1
    cmd, server = pos[0], pos[1]
    prefer = opts.get("prefer", "SHA-256,MD5").upper().split(",")
    if cmd == "serve":
        ua = UA("127.0.0.1:9", int(server.rsplit(":", 1)[1]))
        n, deadline = int(opts.get("count", 1)), time.time() + float(opts.get("timeout", 10))
        while n > 0 and time.time() < deadline:
            ua.s.settimeout(max(0.1, deadline - time.time()))
            try:
                data, src = ua.s.recvfrom(65535)
            except socket.timeout:
                break
            data = data.decode(errors="replace")
            if data.startswith("SIP/2.0") or data.startswith("ACK"):
                continue
            head, _, body = data.partition("\r\n\r\n")
            print("IN %s body=[%s]" % (head.split(" ", 1)[0], body), flush=True)
            lines = head.split("\r\n")
            keep = [l for l in lines[1:] if re.match(r"(Via|From|To|Call-ID|CSeq)\s*:", l, re.I)]
            keep = [l + ";tag=srv" if l.lower().startswith("to:") and "tag=" not in l else l for l in keep]
            ua.s.sendto(("SIP/2.0 200 OK\r\n" + "\r\n".join(keep) +
                         "\r\nContent-Length: 0\r\n\r\n").encode(), src)
            n -= 1
        sys.exit(0 if n == 0 else 2)
    user, pw = pos[2], pos[3]
    dom = opts.get("domain", server)
    ua = UA(server)
    creds = Creds(user, pw, prefer)
    aor = "<sip:%s@%s>" % (user, opts.get("from-domain", dom))
    if cmd == "register":
        contact = opts.get("contact", "<sip:%s@127.0.0.1:%d>" % (user, ua.port))
        ok = True
        for k in range(int(opts.get("times", 1))):
            if k:
                time.sleep(float(opts.get("interval", 0.2)))
            resp = with_auth(ua, creds, "REGISTER", "sip:" + dom, aor, aor,
                             ["Contact: " + contact, "Expires: " + opts.get("expires", "60")],
                             cache=opts.get("cache", False))
            alg = creds.ch.get("algorithm", "MD5") if creds.ch else "-"
            print("FINAL %d alg=%s cseq=%d contact=%s" % (code(resp), alg, ua.cseq,
                                                          hdr(resp, "Contact")), flush=True)
            ok = ok and code(resp) == 200
        sys.exit(0 if ok else 1)
    if cmd == "message":
        to, text = pos[4], pos[5]
        resp = with_auth(ua, creds, "MESSAGE", "sip:%s@%s" % (to, dom), "<sip:%s@%s>" % (to, dom),
                         aor, body=text, ctype="text/plain")
        print("FINAL %d" % code(resp), flush=True)
        sys.exit(0 if code(resp) == 200 else 1)
    if cmd == "invite":
        to = pos[4]
        ruri = "sip:%s@%s" % (to, dom)
        sdp = ("v=0\r\no=dc 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
               "m=audio 45998 RTP/AVP 0\r\n")
        resp = with_auth(ua, creds, "INVITE", ruri, "<%s>" % ruri, aor,
                         ["Contact: <sip:%s@127.0.0.1:%d>" % (user, ua.port)],
                         body=sdp, ctype="application/sdp")
        print("FINAL %d INVITE" % code(resp), flush=True)
        if code(resp) != 200:
            sys.exit(1)
        rr = re.findall(r"^Record-Route\s*:\s*(.*)$", resp, re.I | re.M)
        route = ["Route: " + ", ".join(reversed(rr))] if rr else []
        target = re.search(r"<([^>]+)>", hdr(resp, "Contact")).group(1)
        to_hdr = hdr(resp, "To")
        inv_cseq = ua.cseq
        # ACK and BYE go to the first Route (Kamailio) when there is one
        ua.request("ACK", target, to_hdr, aor, route, cseq=inv_cseq, want_final=False)
        time.sleep(0.3)
        resp, _ = ua.request("BYE", target, to_hdr, aor, route)
        print("FINAL %d BYE" % code(resp), flush=True)
        sys.exit(0 if code(resp) == 200 else 1)

if __name__ == "__main__":
    main()
PYEOF

# ---------------------------------------------------------------- Kamailio
echo "== kam_auth_start.sh on 127.0.0.1:$KPORT (work dir $T)"
KPID=$(SIP_PORT=$KPORT KAM_MAX_EXPIRES=10 KAM_USERS="alice:alicepw bob:bobpw carol:carolpw" \
       bash "$HERE/kam_auth_start.sh" "$T/kam") || { bad "K0 kam_auth_start.sh"; exit 1; }
ok "K0 kam_auth_start.sh (PID $KPID)"
KLOG=$T/kam/kamailio.log
has() { grep -q -- "$1" "$KLOG"; }

timeout 20 sipp -sf "$SIPPDIR/uac_register_auth.xml" -s alice -au alice -ap alicepw \
    "127.0.0.1:$KPORT" -i 127.0.0.1 -p 45130 -m 1 -nostdin -timeout 10s -timeout_error \
    >"$T/uac_ok.out" 2>&1
rc=$?
check "K1 SIPp UAC REGISTER alice, right password -> exit 0" '[ $rc = 0 ]'
# the second 401 is unexpected: SIPp fails the call (and sends a stray BYE,
# which Kamailio answers 404; -nd would avoid it but wait for -timeout)
timeout 20 sipp -sf "$SIPPDIR/uac_register_auth.xml" -s alice -au alice -ap nope \
    "127.0.0.1:$KPORT" -i 127.0.0.1 -p 45131 -m 1 -nostdin -timeout 10s -timeout_error \
    >"$T/uac_bad.out" 2>&1
rc=$?
check "K2 SIPp UAC REGISTER alice, wrong password -> exit non-zero ($rc)" '[ $rc != 0 ]'
ul=$(timeout 5 kamcmd -s "unix:$T/kam/kamailio_ctl" ul.dump)
check "K3 kamcmd ul.dump shows alice with K1's contact (port 45130)" \
    'grep -q "AoR: alice" <<<"$ul" && grep -q "Address: sip:alice@127.0.0.1:45130" <<<"$ul"'
check "K4 log: 401 first (rc=-5), AUTH ok, wrong password (rc=-2), REGISTER line" \
    'has "REQ REGISTER from=alice src=127.0.0.1:45130/udp .* AUTH challenge 401 rc=-5" &&
     has "REQ REGISTER from=alice src=127.0.0.1:45130/udp .* AUTH ok user=alice" &&
     has "REQ REGISTER from=alice src=127.0.0.1:45131/udp .* AUTH challenge 401 rc=-2" &&
     has "REGISTER aor=alice expires=300 contact=<sip:alice@127.0.0.1:45130;transport=UDP>"'

out=$(dc register "127.0.0.1:$KPORT" bob bobpw --domain 127.0.0.1 --expires 3600 --times 2)
check "K5 python REGISTER bob (Expires 3600) + refresh, same Call-ID -> 200, granted 10" \
    '[ $(grep -c "^FINAL 200 alg=MD5 .*;expires=10" <<<"$out") = 2 ] &&
     has "REGISTER saved aor=bob granted=10 bindings=1"'

# MESSAGE alice -> carol: 407, then relayed to carol's registered contact
dc serve 127.0.0.1:45150 --count 1 --timeout 15 >"$T/carol.out" 2>&1 &
SV=$!
dc register "127.0.0.1:$KPORT" carol carolpw --domain 127.0.0.1 --contact '<sip:carol@127.0.0.1:45150>' >/dev/null
dc message "127.0.0.1:$KPORT" alice alicepw carol "hello carol" --domain 127.0.0.1 >"$T/msg.out"
rc=$?
wait "$SV"; sv=$?
check "K6 MESSAGE alice->carol: 407, then 200 from carol's registered contact" \
    '[ $rc = 0 ] && [ $sv = 0 ] && grep -q "IN MESSAGE body=\[hello carol\]" "$T/carol.out" &&
     has "REQ MESSAGE from=alice .* AUTH challenge 407 rc=-5" &&
     has "REQ MESSAGE from=alice .* AUTH ok user=alice" &&
     has "LOOKUP carol -> sip:carol@127.0.0.1:45150"'
dc message "127.0.0.1:$KPORT" alice wrongpw carol "x" --domain 127.0.0.1 >/dev/null
rc=$?
check "K7 MESSAGE with a wrong password -> 407 again (rc=-2), not relayed" \
    '[ $rc != 0 ] && has "REQ MESSAGE from=alice .* AUTH challenge 407 rc=-2"'

# INVITE alice -> bob: bob's contact is SIPp uas_call.xml; 407, 180/200,
# then ACK and BYE follow the Record-Route (loose_route)
sipp_bg uas_call uas_call.xml 45141 -m 1 -mp 45600 -timeout 20s -timeout_error
CALL=$BG
dc register "127.0.0.1:$KPORT" bob bobpw --domain 127.0.0.1 --contact '<sip:sipp@127.0.0.1:45141>' >/dev/null
dc invite "127.0.0.1:$KPORT" alice alicepw bob --domain 127.0.0.1 >"$T/invite.out" 2>&1
rc=$?
wait "$CALL"; call=$?
check "K8 INVITE alice->bob: 407, 200, ACK + BYE via Record-Route; SIPp callee exit 0" \
    '[ $rc = 0 ] && [ $call = 0 ] &&
     has "REQ INVITE from=alice .* AUTH challenge 407 rc=-5" &&
     has "REQ INVITE from=alice .* AUTH ok user=alice" &&
     has "REQ BYE from=alice .* ruri=sip:sipp@127.0.0.1:45141 AUTH none"'

dc message "127.0.0.1:$KPORT" alice x nobody "x" --domain 127.0.0.1 --from-domain xmpp.example >/dev/null
check "K9 MESSAGE from a foreign From domain: not challenged (404 for an unknown user)" \
    'has "REQ MESSAGE from=alice .* ruri=sip:nobody@127.0.0.1 AUTH none" && has "LOOKUP nobody not found (404)"'

bash "$HERE/kamailio_stop.sh" "$T/kam" >/dev/null
check "K10 kamailio_stop.sh: Kamailio and its workers are gone" \
    '! kill -0 $KPID 2>/dev/null && [ -z "$(ps -o pid= --ppid $KPID)" ]'

# ------------------------------------------------------- SIPp as registrar
KEYS=(-key user alice -key password alicepw -key granted 42)

sipp_bg ch1 uas_register_challenge.xml 45140 -m 1 "${KEYS[@]}"
out=$(dc register 127.0.0.1:45140 alice alicepw --domain 127.0.0.1)
wait "$BG"; rc=$?
check "S1 uas_register_challenge: python client, right password -> 200 ;expires=42, SIPp exit 0" \
    '[ $rc = 0 ] && grep -q "^FINAL 200 alg=MD5 .*;expires=42" <<<"$out" && grep -q "^REG 200 cseq=2 granted=42" "$T/ch1.log"'

sipp_bg ch2 uas_register_challenge.xml 45140 -m 1 "${KEYS[@]}"
timeout 20 sipp -sf "$SIPPDIR/uac_register_auth.xml" -s alice -au alice -ap alicepw \
    127.0.0.1:45140 -i 127.0.0.1 -p 45132 -m 1 -nostdin -timeout 10s -timeout_error >"$T/uac_ch2.out" 2>&1
uac=$?
wait "$BG"; rc=$?
check "S2 uas_register_challenge: SIPp UAC, right password -> both exit 0" '[ $uac = 0 ] && [ $rc = 0 ]'

sipp_bg ch3 uas_register_challenge.xml 45140 -m 1 "${KEYS[@]}"
out=$(dc register 127.0.0.1:45140 alice wrongpw --domain 127.0.0.1)
wait "$BG"; rc=$?
check "S3 uas_register_challenge: wrong password -> 403, SIPp exit 1" \
    '[ $rc = 1 ] && grep -q "^FINAL 403" <<<"$out" && grep -q "^REG 403 cseq=2" "$T/ch3.log"'

sipp_bg sh1 uas_register_sha256.xml 45142 -m 1 "${KEYS[@]}"
out=$(dc register 127.0.0.1:45142 alice alicepw --domain 127.0.0.1 --prefer SHA-256,MD5)
wait "$BG"; rc=$?
check "S4 uas_register_sha256: client answers SHA-256 -> 200, SIPp exit 0" \
    '[ $rc = 0 ] && grep -q "^FINAL 200 alg=SHA-256" <<<"$out" && grep -q "^REG 200 cseq=2 algorithm=SHA-256 granted=42" "$T/sh1.log"'

sipp_bg sh2 uas_register_sha256.xml 45142 -m 1 "${KEYS[@]}"
out=$(dc register 127.0.0.1:45142 alice wrongpw --domain 127.0.0.1 --prefer SHA-256,MD5)
wait "$BG"; rc=$?
check "S5 uas_register_sha256: SHA-256 with a wrong password -> 403, SIPp exit 1" \
    '[ $rc = 1 ] && grep -q "^FINAL 403 alg=SHA-256" <<<"$out" && grep -q "^REG 403 cseq=2 algorithm=SHA-256" "$T/sh2.log"'

sipp_bg sh3 uas_register_sha256.xml 45142 -m 1 "${KEYS[@]}"
out=$(dc register 127.0.0.1:45142 alice alicepw --domain 127.0.0.1 --prefer MD5)
wait "$BG"; rc=$?
check "S6 uas_register_sha256: client answers MD5 (2nd challenge) -> 200, SIPp exit 0" \
    '[ $rc = 0 ] && grep -q "^FINAL 200 alg=MD5" <<<"$out" && grep -q "^REG 200 cseq=2 algorithm=MD5" "$T/sh3.log"'

sipp_bg sh4 uas_register_sha256.xml 45142 -m 1 "${KEYS[@]}"
out=$(dc register 127.0.0.1:45142 alice wrongpw --domain 127.0.0.1 --prefer MD5)
wait "$BG"; rc=$?
check "S7 uas_register_sha256: MD5 with a wrong password -> 403, SIPp exit 1" \
    '[ $rc = 1 ] && grep -q "^FINAL 403 alg=MD5" <<<"$out"'

# one account = one Call-ID = one endless SIPp call (no -m)
sipp_bg cnt uas_registrar_count.xml 45144 "${KEYS[@]}" -trace_msg -message_file "$T/cnt_msg.log"
CNT=$BG
dc register 127.0.0.1:45144 alice alicepw --domain 127.0.0.1 --times 3 --interval 0.2 >"$T/cnt1.out"; r1=$?
dc register 127.0.0.1:45144 alice alicepw --domain 127.0.0.1 --times 3 --interval 0.2 --cache >"$T/cnt2.out"; r2=$?
dc register 127.0.0.1:45144 alice alicepw --domain 127.0.0.1 --expires 0 >"$T/cnt3.out"; r3=$?
dc register 127.0.0.1:45144 alice wrongpw --domain 127.0.0.1 >"$T/cnt4.out"; r4=$?
L=$T/cnt.log
n200=$(grep -c '^REG 200 ' "$L"); nst=$(grep -c '^REG 401-stale ' "$L"); n401=$(grep -c '^REG 401 ' "$L")
nun=$(grep -c '^REG 200-unreg ' "$L"); n403=$(grep -c '^REG 403 ' "$L"); nall=$(grep -c '^REG ' "$L")
nmsg=$(grep -c '^REGISTER sip:' "$T/cnt_msg.log")
kill "$CNT" 2>/dev/null; wait "$CNT" 2>/dev/null
check "S8 uas_registrar_count: 3 refreshes + 3 with cached credentials -> 6x 200 (2x 401-stale)" \
    '[ $r1 = 0 ] && [ $r2 = 0 ] && [ $n200 = 6 ] && [ $nst = 2 ] && [ $n401 = 6 ]'
check "S9 uas_registrar_count: Expires 0 -> 200-unreg; wrong password -> 403" \
    '[ $r3 = 0 ] && [ $r4 != 0 ] && [ $nun = 1 ] && [ $n403 = 1 ]'
check "S10 uas_registrar_count: 16 REG log lines = 16 'REGISTER sip:' lines in -trace_msg (read while running)" \
    '[ $nall = 16 ] && [ $nmsg = 16 ]'

echo "$PASS passed, $FAIL failed"
[ "$FAIL" = 0 ]
