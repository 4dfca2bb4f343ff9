#!/bin/sh
# make run: a complete local deployment on loopback — Prosody with the
# component, Kamailio as registrar/proxy, xsgw under its supervisor.
# Ctrl-C (or SIGTERM) stops everything it started.
#
# SIP domain 127.0.0.1 is Kamailio's (phones register there); requests for
# sip:*@localhost (the XMPP domain) are routed by Kamailio to the gateway.
set -e
BUILD=${1:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
D=${XSGW_RUN_DIR:-$ROOT/run}
mkdir -p "$D"
for f in prosody/prosody.pid.started kam/kamailio.pid.started; do
	if [ -f "$D/$f" ] && kill -0 "$(cat "$D/$f")" 2>/dev/null; then
		echo "run: already running ($D/$f); stop it first" >&2
		exit 1
	fi
done
XPID=
cleanup() {
	trap - EXIT INT TERM
	if [ -n "$XPID" ]; then
		kill "$XPID" 2>/dev/null || true
		wait "$XPID" 2>/dev/null || true
	fi
	"$ROOT/tests/peers/kamailio_stop.sh" "$D/kam" >/dev/null 2>&1 || true
	"$ROOT/tests/peers/prosody_stop.sh" "$D/prosody" >/dev/null 2>&1 || true
	echo "run: stopped"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$ROOT/tests/peers/prosody_start.sh" "$D/prosody" >/dev/null
SIP_DOMAIN=127.0.0.1 KAMAILIO_GW_DOMAIN=localhost KAMAILIO_GW_ADDR=127.0.0.1:5600 \
	"$ROOT/tests/peers/kamailio_start.sh" "$D/kam" >/dev/null
sed -e "s#/var/lib/xsgw#$D/store#" -e "s#/run/xsgw#$D/rt#" \
	"$ROOT/conf/xsgw.yaml" > "$D/xsgw.yaml"
"$BUILD/bin/xsgw" -c "$D/xsgw.yaml" >>"$D/xsgw.log" 2>&1 &
XPID=$!

# ready: every worker up and the component connected (20 s at most)
i=0
until "$BUILD/bin/xsgwctl" -c "$D/xsgw.yaml" status 2>/dev/null |
	awk 'NR>1 && $3!="ready"{bad=1} NR>1{n++} END{exit !(n==4 && !bad)}' &&
	grep -q "xmpp: connected" "$D/xsgw.log"; do
	i=$((i + 1))
	if [ $i -gt 200 ] || ! kill -0 "$XPID" 2>/dev/null; then
		echo "run: xsgw did not come up; see $D/xsgw.log" >&2
		tail -20 "$D/xsgw.log" >&2
		exit 1
	fi
	sleep 0.1
done

cat <<MSG

xsgw is running (Ctrl-C stops everything).
  XMPP client:  server 127.0.0.1:5222, no TLS, user alice@localhost / alicepass
                (or bob@localhost / bobpass); write to or call (Jingle)
                bob@sip.localhost to reach SIP user sip:bob@127.0.0.1. Send
                presence to sip.localhost (or add it to the roster) so that
                SIP calls ring your client.
  SIP phone:    register sip:bob@127.0.0.1 at 127.0.0.1:5060 (UDP or TCP, no
                auth); send a MESSAGE to, or call, sip:alice@localhost to
                reach alice.
  Operator:     $BUILD/bin/xsgwctl -c $D/xsgw.yaml status
  Logs:         $D/xsgw.log, $D/prosody/prosody.log, $D/kam/kamailio.log
MSG
wait "$XPID"
