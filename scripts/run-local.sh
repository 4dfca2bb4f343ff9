#!/bin/sh
# make run: a complete local deployment on loopback — Prosody with the
# component, Kamailio as registrar/proxy, xsgw under its supervisor.
# Ctrl-C stops everything it started.
set -e
BUILD=${1:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
D=${XSGW_RUN_DIR:-$ROOT/run}
mkdir -p "$D"
for s in prosody kam; do
	[ -f "$D/$s/${s}.pid" ] && echo "run: $D/$s is in use; remove it first" >&2 && exit 1
done
"$ROOT/tests/peers/prosody_start.sh" "$D/prosody" >/dev/null
KAMAILIO_GW_DOMAIN=sip.localhost KAMAILIO_GW_ADDR=127.0.0.1:5600 \
	"$ROOT/tests/peers/kamailio_start.sh" "$D/kam" >/dev/null
sed -e "s#/var/lib/xsgw#$D/store#" -e "s#/run/xsgw#$D/rt#" \
	"$ROOT/conf/xsgw.yaml" > "$D/xsgw.yaml"
cleanup() {
	[ -n "$XPID" ] && kill "$XPID" 2>/dev/null && wait "$XPID" 2>/dev/null
	"$ROOT/tests/peers/kamailio_stop.sh" "$D/kam" >/dev/null 2>&1 || true
	"$ROOT/tests/peers/prosody_stop.sh" "$D/prosody" >/dev/null 2>&1 || true
}
trap cleanup EXIT INT TERM
"$BUILD/bin/xsgw" -c "$D/xsgw.yaml" &
XPID=$!
cat <<MSG

xsgw is running (Ctrl-C stops everything).
  XMPP client:  server 127.0.0.1:5222, no TLS, user alice@localhost / alicepass
                (or bob@localhost / bobpass); write to bob@sip.localhost to
                reach SIP user bob.
  SIP phone:    register sip:bob@localhost at 127.0.0.1:5060 (UDP or TCP, no
                auth); send a MESSAGE to sip:alice@localhost to reach alice.
  Operator:     $BUILD/bin/xsgwctl -c $D/xsgw.yaml status
MSG
wait "$XPID"
