#!/bin/bash
# Start a throw-away Kamailio (Debian package, 5.6.x) on loopback as
# registrar + proxy + PRESENCE SERVER, no authentication:
#   REGISTER                 -> save("location"), usrloc in memory; every
#                               binding change (created / refreshed /
#                               unregistered / expired) is turned into an
#                               Event: reg PUBLISH by pua_reginfo, sent to
#                               Kamailio itself -> reginfo NOTIFYs (RFC 3680)
#   SUBSCRIBE Event: presence | reg | dialog (any R-URI, in-dialog or not)
#                            -> handle_subscribe(), subscriptions in memory
#   PUBLISH                  -> handle_publish() (PIDF, reginfo, dialog-info),
#                               presentities in memory
#   INVITE                   -> record_route + dlg_manage(): pua_dialoginfo
#                               PUBLISHes dialog-info for the caller (From)
#                               and the callee (To) -> dialog NOTIFYs
#                               (RFC 4235); relayed with lookup("location")
#   other requests to the local domain -> lookup("location") and relay
#   in-dialog requests       -> loose_route and relay
# Packages: kamailio, kamailio-presence-modules (db_text from the base
# package holds pua's table: pua has no DB-less mode; presence has none of its
# tables in use: subs_db_mode 0, publ_cache 2).
# Config, db_text tables, pid file, control socket and log live under DIR.
#
# Usage:  kam_presence_start.sh DIR        -> prints the Kamailio main PID
# Env overrides (defaults in brackets):
#   SIP_BIND [127.0.0.1]   SIP_PORT [5060]  (UDP and TCP)
#   SIP_DOMAIN [127.0.0.1] the local domain: pua_reginfo publishes
#                     sip:USER@SIP_DOMAIN (usrloc keeps no domain), so
#                     watchers SUBSCRIBE sip:USER@SIP_DOMAIN (presence compares
#                     user@host and ignores the port). R-URIs with this host
#                     and no port (or SIP_PORT) are looked up in the location
#                     table. A name other than SIP_BIND is aliased WITH the
#                     port only (a port-less alias matches every port, see below).
#   KAM_MAX_EXPIRES [3600]  registrar max_expires (granted Expires is capped)
#   KAM_MIN_EXPIRES [0]     registrar min_expires
#   KAM_DEFAULT_EXPIRES [600, or KAM_MAX_EXPIRES if smaller]
#   KAM_SUBS_MAX_EXPIRES [3600]  presence max_expires (SUBSCRIBE Expires cap)
#   KAM_UL_TIMER [60]  usrloc timer_interval: how often expired bindings are
#                     removed; each removal is a reginfo NOTIFY with
#                     event="expired", so a binding that is not refreshed
#                     shows up to this many seconds late
#   KAM_CLEAN_PERIOD [100]  presence clean_period: how often expired
#                     publications and subscriptions are removed (and their
#                     NOTIFYs sent)
#   KAM_DEBUG [2]     2=info (the xlog lines below), 3=debug
#   KAM_LOG_BODIES [0]  1 = also log every NOTIFY/PUBLISH body Kamailio sends
#   KAM_START_TIMEOUT [20]  seconds to wait for Kamailio to answer
# One UDP worker (children=1), not configurable: pua PUBLISHes to this same
# server, and two workers handling PUBLISHes for one presentity race on its
# ETag (412 "No E_Tag match", a dialog state gets lost).
# Stop with kamailio_stop.sh DIR. Inspect with
#   kamcmd -s unix:DIR/kamailio_ctl ul.dump            (grep "AoR: alice")
#   kamcmd -s unix:DIR/kamailio_ctl presence.presentity_list   (may be empty)
#
# Log lines in DIR/kamailio.log (grep them):
#   REQ <method> from=<From URI> to=<To URI> ruri=<R-URI> event=<Event hdr or
#       <null>> src=<ip>:<port>/<proto>        one per request received,
#       including the PUBLISHes pua sends to itself (src = SIP_BIND:SIP_PORT)
#   REGISTER aor=<tU> expires=<Expires hdr or <null>> contact=<Contact hdr body>
#   REGISTER saved aor=<tU> granted=<seconds granted to this Contact, 0 if
#       removed> bindings=<number of contacts of the AoR>
#   SUB <event> <pres uri> from=<fu> expires=<hdr> -> handle_subscribe rc=<rc>
#   PUB <event> <pres uri> ctype=<type> expires=<hdr> etag=<SIP-If-Match>
#       -> handle_publish rc=<rc>
#   SEND <method> ruri=<R-URI> to=<To URI> event=<Event> state=<Subscription-State
#       or <null>> ctype=<Content-Type or <null>> len=<body length>
#       one per request Kamailio generates itself (tm event_route
#       [tm:local-request]): every NOTIFY of presence, every PUBLISH of pua.
#       Only the first transmission is logged, not retransmissions.
#   SEND-BODY [<body>]    after SEND, with KAM_LOG_BODIES=1 (multi-line)
#   LOOKUP <rU> -> <new R-URI>        LOOKUP <rU> not found (404)
#   RPL <code> <reason> for <method> from <ip>:<port>   every reply received
#       (relayed ones, and the 200/481 answering its own NOTIFYs/PUBLISHes)
set -euo pipefail

DIR=${1:?usage: $0 DIR}
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
BIND=${SIP_BIND:-127.0.0.1}
PORT=${SIP_PORT:-5060}
DOMAIN=${SIP_DOMAIN:-127.0.0.1}
MAX_EXPIRES=${KAM_MAX_EXPIRES:-3600}
MIN_EXPIRES=${KAM_MIN_EXPIRES:-0}
DEF_EXPIRES=600
[ "$MAX_EXPIRES" -gt 0 ] && [ "$MAX_EXPIRES" -lt "$DEF_EXPIRES" ] && DEF_EXPIRES=$MAX_EXPIRES
DEF_EXPIRES=${KAM_DEFAULT_EXPIRES:-$DEF_EXPIRES}
SUBS_MAX_EXPIRES=${KAM_SUBS_MAX_EXPIRES:-3600}
UL_TIMER=${KAM_UL_TIMER:-60}
CLEAN_PERIOD=${KAM_CLEAN_PERIOD:-100}
DEBUG=${KAM_DEBUG:-2}
LOG_BODIES=${KAM_LOG_BODIES:-0}
TIMEOUT=${KAM_START_TIMEOUT:-20}
MODDIR=/usr/lib/x86_64-linux-gnu/kamailio/modules
[ -d "$MODDIR" ] || MODDIR=$(dirname "$(dpkg -L kamailio | grep '/modules/tm.so$' | head -1)")
DBTEXT=/usr/share/kamailio/dbtext/kamailio

if [ -f "$DIR/kamailio.pid.started" ] && kill -0 "$(cat "$DIR/kamailio.pid.started")" 2>/dev/null; then
    echo "kamailio already running in $DIR with PID $(cat "$DIR/kamailio.pid.started")" >&2
    exit 1
fi
for m in presence presence_xml presence_reginfo presence_dialoginfo pua pua_reginfo pua_dialoginfo dialog db_text; do
    [ -f "$MODDIR/$m.so" ] || {
        echo "missing Kamailio module $m.so (apt-get install kamailio-presence-modules)" >&2; exit 1; }
done
[ -f "$DBTEXT/version" ] && [ -f "$DBTEXT/pua" ] || { echo "missing $DBTEXT/{version,pua}" >&2; exit 1; }

# db_text tables: pua stores its publications there (its db_mode 0 keeps them
# in memory and only syncs on a timer). Fresh copies on every start.
rm -rf "$DIR/db"
mkdir -p "$DIR/db"
cp "$DBTEXT/version" "$DBTEXT/pua" "$DIR/db/"

# An alias without a port matches EVERY port of that host: alias="127.0.0.1"
# would make the UAs' contacts (127.0.0.1:5062...) "myself", and loose_route()
# then treats in-dialog requests as strict-routed and loops them (404). So
# aliases here always carry the port; port-less R-URIs of the local domain are
# recognised by comparing the domain as a string instead.
DOMAIN_ALIAS="# $DOMAIN: the listen address, aliased below with its port"
[ "$DOMAIN" != "$BIND" ] && DOMAIN_ALIAS="alias=\"$DOMAIN:$PORT\""
BODYLOG="# KAM_LOG_BODIES=0"
[ "$LOG_BODIES" = 1 ] && BODYLOG="if (\$cl > 0) xlog(\"L_INFO\", \"SEND-BODY [\$rb]\\n\");"

cat > "$DIR/kamailio.cfg" <<EOF
#!KAMAILIO
# generated by kam_presence_start.sh: loopback registrar + proxy + presence
# server (presence, reg and dialog event packages), no authentication
#!substdef "!DOMAIN!$DOMAIN!g"
#!substdef "!SIPADDR!$BIND:$PORT!g"
debug=$DEBUG
log_stderror=yes
log_prefix="{\$mt \$rm \$ci} "
memdbg=5
memlog=5
# one UDP worker: see the pua ETag race in the header of kam_presence_start.sh
children=1
tcp_children=1
auto_aliases=no
dns=no
rev_dns=no
use_dns_cache=off
listen=udp:$BIND:$PORT
listen=tcp:$BIND:$PORT
$DOMAIN_ALIAS
alias="$BIND:$PORT"
alias="localhost:$PORT"
server_header="Server: kamailio-presence-testbed"
user_agent_header="User-Agent: kamailio-presence-testbed"

mpath="$MODDIR/"
loadmodule "kex.so"
loadmodule "corex.so"
loadmodule "tm.so"
loadmodule "tmx.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "xlog.so"
loadmodule "sanity.so"
loadmodule "ctl.so"
loadmodule "db_text.so"
loadmodule "dialog.so"
loadmodule "presence.so"
loadmodule "presence_xml.so"
loadmodule "presence_reginfo.so"
loadmodule "presence_dialoginfo.so"
loadmodule "pua.so"
loadmodule "pua_reginfo.so"
loadmodule "pua_dialoginfo.so"

modparam("ctl", "binrpc", "unix:$DIR/kamailio_ctl")
modparam("usrloc", "db_mode", 0)
modparam("usrloc", "timer_interval", $UL_TIMER)
modparam("registrar", "max_expires", $MAX_EXPIRES)
modparam("registrar", "min_expires", $MIN_EXPIRES)
modparam("registrar", "default_expires", $DEF_EXPIRES)
modparam("rr", "append_fromtag", 1)
modparam("tm", "fr_timer", 5000)
modparam("tm", "fr_inv_timer", 30000)

# presence: subscriptions and presentities in memory, no DB at all
modparam("presence", "server_address", "sip:SIPADDR")
modparam("presence", "subs_db_mode", 0)
modparam("presence", "publ_cache", 2)
modparam("presence", "max_expires", $SUBS_MAX_EXPIRES)
modparam("presence", "clean_period", $CLEAN_PERIOD)
# PIDF: no XCAP authorization rules, every watcher is allowed
modparam("presence_xml", "force_active", 1)
# pua (the PUBLISH client used by pua_reginfo and pua_dialoginfo): its
# table lives in db_text; every PUBLISH it sends goes to this server,
# whatever port the From/To URIs of a call carry
modparam("pua", "db_url", "text://$DIR/db")
modparam("pua", "outbound_proxy", "sip:SIPADDR")
modparam("pua_reginfo", "default_domain", "DOMAIN")
modparam("pua_reginfo", "server_address", "sip:reginfo@SIPADDR")
modparam("pua_reginfo", "outbound_proxy", "sip:SIPADDR")
modparam("pua_dialoginfo", "include_callid", 1)
modparam("pua_dialoginfo", "include_tags", 1)
modparam("pua_dialoginfo", "include_localremote", 1)

request_route {
    xlog("L_INFO", "REQ \$rm from=\$fu to=\$tu ruri=\$ru event=\$hdr(Event) src=\$si:\$sp/\$pr\n");
    if (!mf_process_maxfwd_header("10")) {
        sl_send_reply("483", "Too Many Hops");
        exit;
    }
    if (!sanity_check("17895", "7")) {
        xlog("L_WARN", "malformed request from \$si:\$sp\n");
        exit;
    }
    if (has_totag()) {
        # in-dialog SUBSCRIBE (refresh, Expires: 0) of a subscription this
        # server holds: to handle_subscribe() whatever the R-URI says
        # (uri==myself is false for sip:alice@DOMAIN without the port)
        if (is_method("SUBSCRIBE") && route(PRESEVENT)) {
            route(PRESENCE);
        }
        if (loose_route()) {
            route(RELAY);
        }
        if (is_method("ACK")) {
            if (t_check_trans()) route(RELAY);
            exit;
        }
        sl_send_reply("404", "Not here");
        exit;
    }
    if (is_method("CANCEL")) {
        if (t_check_trans()) route(RELAY);
        exit;
    }
    # retransmissions of relayed requests are absorbed here
    if (!is_method("ACK")) t_check_trans();

    remove_hf("Route");
    if (is_method("OPTIONS") && uri==myself && \$rU==\$null) {
        sl_send_reply("200", "Keepalive");
        exit;
    }
    if (is_method("REGISTER")) {
        route(REGISTRAR);
    }
    if (is_method("PUBLISH")) {
        route(PRESENCE);
    }
    if (is_method("SUBSCRIBE") && \$hdr(Event) =~ "^presence\\\\.winfo") {
        # a presence.winfo SUBSCRIBE crashes Kamailio 5.6 (SIGSEGV)
        sl_send_reply("489", "Bad Event");
        exit;
    }
    if (is_method("SUBSCRIBE") && route(PRESEVENT)) {
        route(PRESENCE);
    }
    # other SUBSCRIBEs (foreign event packages) and INVITEs stay on the path
    if (is_method("INVITE|SUBSCRIBE")) record_route();
    if (is_method("INVITE")) {
        # pua_dialoginfo publishes every dialog the dialog module tracks
        dlg_manage();
    }
    route(LOCALURI);
    if (\$var(local_ruri) == 1) {
        if (\$rU==\$null) {
            sl_send_reply("484", "Address Incomplete");
            exit;
        }
        \$var(user) = \$rU;
        if (!lookup("location")) {
            xlog("L_INFO", "LOOKUP \$var(user) not found (404)\n");
            send_reply("404", "Not Found");
            exit;
        }
        xlog("L_INFO", "LOOKUP \$var(user) -> \$ru\n");
    }
    route(RELAY);
}

# true for the event packages this server is the notifier for
route[PRESEVENT] {
    if (\$hdr(Event) =~ "^(presence|reg|dialog)[[:space:]]*(;.*)?\$") return 1;
    return -1;
}

route[REGISTRAR] {
    xlog("L_INFO", "REGISTER aor=\$tU expires=\$hdr(Expires) contact=\$ct\n");
    if (!save("location")) {
        xlog("L_INFO", "REGISTER failed aor=\$tU\n");
        sl_reply_error();
        exit;
    }
    # granted = seconds left on the binding of this request's Contact
    # (0 when it was removed, e.g. Expires: 0)
    \$var(granted) = 0;
    \$var(n) = 0;
    if (reg_fetch_contacts("location", "\$tu", "reg")) {
        \$var(n) = \$ulc(reg=>count);
        \$var(i) = 0;
        while (\$var(i) < \$var(n)) {
            if (\$(ulc(reg=>addr)[\$var(i)]) == \$(ct{nameaddr.uri})) {
                \$var(granted) = \$(ulc(reg=>expires)[\$var(i)]) - \$Ts;
            }
            \$var(i) = \$var(i) + 1;
        }
        reg_free_contacts("reg");
    }
    xlog("L_INFO", "REGISTER saved aor=\$tU granted=\$var(granted) bindings=\$var(n)\n");
    exit;
}

route[PRESENCE] {
    if (!t_newtran()) {
        sl_reply_error();
        exit;
    }
    if (is_method("PUBLISH")) {
        handle_publish();
        \$var(rc) = \$rc;
        xlog("L_INFO", "PUB \$hdr(Event) \$ru ctype=\$cT expires=\$hdr(Expires) etag=\$hdr(SIP-If-Match) -> handle_publish rc=\$var(rc)\n");
    } else {
        handle_subscribe();
        \$var(rc) = \$rc;
        xlog("L_INFO", "SUB \$hdr(Event) \$ru from=\$fu expires=\$hdr(Expires) -> handle_subscribe rc=\$var(rc)\n");
    }
    t_release();
    exit;
}

# \$var(local_ruri) = 1 when the R-URI is this server's domain: myself
# (host:port aliases) or sip:user@DOMAIN with no port or with our port
route[LOCALURI] {
    \$var(local_ruri) = 0;
    if (uri==myself) {
        \$var(local_ruri) = 1;
    } else if (\$rd == "DOMAIN" && (\$(ru{uri.port}) == "" || \$(ru{uri.port}) == "$PORT")) {
        \$var(local_ruri) = 1;
    }
}

route[RELAY] {
    if (!t_relay()) sl_reply_error();
    exit;
}

# requests Kamailio generates itself: presence's NOTIFYs, pua's PUBLISHes
event_route[tm:local-request] {
    xlog("L_INFO", "SEND \$rm ruri=\$ru to=\$tu event=\$hdr(Event) state=\$hdr(Subscription-State) ctype=\$cT len=\$cl\n");
    $BODYLOG
}

onreply_route {
    xlog("L_INFO", "RPL \$rs \$rr for \$rm from \$si:\$sp\n");
}
EOF

if ! kamailio -c -f "$DIR/kamailio.cfg" -L "$MODDIR" >"$DIR/kamailio.check" 2>&1; then
    echo "kamailio config check failed:" >&2; tail -20 "$DIR/kamailio.check" >&2; exit 1
fi

t0=$(date +%s.%N)
# -DD: do not daemonize (this PID is the main process, workers are its
# children); -E: log to stderr; -Y: runtime dir; small memory pools.
setsid kamailio -f "$DIR/kamailio.cfg" -L "$MODDIR" -DD -E -Y "$DIR" -P "$DIR/kamailio.pid" \
    -m 64 -M 8 -w "$DIR" >"$DIR/kamailio.log" 2>&1 </dev/null &
PID=$!
echo "$PID" > "$DIR/kamailio.pid.started"

udp_open() { ss -Hlun "sport = :$PORT" 2>/dev/null | grep -q "$BIND:$PORT"; }
tcp_open() { (exec 3<>"/dev/tcp/$BIND/$PORT") 2>/dev/null; }
ctl_ok() { [ -S "$DIR/kamailio_ctl" ] && timeout 2 kamcmd -s "unix:$DIR/kamailio_ctl" core.version >/dev/null 2>&1; }
deadline=$(( $(date +%s) + TIMEOUT ))
while ! { udp_open && tcp_open && ctl_ok; }; do
    if ! kill -0 "$PID" 2>/dev/null; then
        echo "kamailio exited early; log:" >&2; tail -20 "$DIR/kamailio.log" >&2; exit 1
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
        echo "kamailio not answering after ${TIMEOUT}s (udp/tcp $BIND:$PORT, kamcmd core.version); log:" >&2
        tail -20 "$DIR/kamailio.log" >&2
        kill "$PID" 2>/dev/null || true
        exit 1
    fi
    sleep 0.05
done
t1=$(date +%s.%N)
printf 'kamailio-presence up in %.2fs on udp+tcp %s:%s (domain %s, max_expires %s), ctl unix:%s/kamailio_ctl\n' \
    "$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b-a}')" "$BIND" "$PORT" "$DOMAIN" "$MAX_EXPIRES" "$DIR" >&2
echo "$PID"
