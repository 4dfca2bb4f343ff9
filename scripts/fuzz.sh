#!/bin/sh
# make fuzz: build the libFuzzer targets with clang and run each for
# FUZZ_SECONDS (default 30; FUZZ_SECONDS=600 make fuzz for the 10-minute
# runs), one after the other, then print per target its executions and
# whether it crashed. Exit status 1 if any target crashed.
#
#   fuzz_frame    frame_parse, every msg_dec_* (msg.h), every record decoder
#                 (msgrec, callrec, outrec, presrec, rxrec, regrec, phonerec,
#                 subrec, watchrec) and key
#                 parser (keys.h), key_regkey's length contract; the
#                 xmpp-front's and sip-front's frame parsing is these same
#                 decoders
#   fuzz_jsdp     SDP -> struct jsdp -> Jingle and SDP (offer and answer),
#                 Jingle -> struct jsdp -> SDP and Jingle
#   fuzz_tr_sip   SIP requests and responses into the translator
#                 (tr_from_sip_request/response) over a store with a call in
#                 every state and a SIP account in every registration state
#                 (tests/fuzz/tr_harness.h)
#   fuzz_tr_xmpp  stanzas into the translator (tr_from_xmpp), same harness
#   fuzz_tcpframe the sip-front's SIP-over-TCP framer (sf_tcpframe.c): fed
#                 whole and in pieces alike; libre never fails on what it
#                 passes on
#   fuzz_pidf     the presence bodies (tr_pidf.c): reginfo, dialog-info,
#                 PIDF; a PIDF read and written back reads the same
#   fuzz_xstream  the xmpp-front's stream parser (xmpp-front/xstream.h): the
#                 same reports fed whole, in random pieces, and resumed by a
#                 primed parser
#   fuzz_xsasl    the client sessions' SCRAM-SHA-1 (xmpp-front/xsasl.c): a
#                 server's first and final messages
#   fuzz_xparse   the translator's stanza parser (shared/xparse.c): the same
#                 tree as libstrophe's parser builds, and the one parser
#                 still good after any input
#
# FUZZ_TARGETS="tr_sip tr_xmpp" runs only those. Crashes are written to
# build-fuzz/<target>-crash-*; the corpus grown is kept in
# build-fuzz/corpus-<target> (seeds: tests/fuzz/seeds-*, and below).
# FUZZ_BUILD=dir builds and runs in dir instead of build-fuzz.
set -e
export LC_ALL=C # string lengths in bytes
FUZZ_SECONDS=${FUZZ_SECONDS:-30}
FUZZ_TARGETS=${FUZZ_TARGETS:-frame jsdp tr_sip tr_xmpp pidf xstream tcpframe xsasl xparse}
B=${FUZZ_BUILD:-build-fuzz}
mkdir -p $B $B/obj
F="-g -O1 -fsanitize=fuzzer,address,undefined -DHAVE_INTTYPES_H -DHAVE_STDBOOL_H -DHAVE_INET6 -D_GNU_SOURCE -Ishared -Itranslator $(pkg-config --cflags libre libstrophe lmdb yaml-0.1)"

# frames, every message decoder, every record decoder and key parser
# (store.c for the record and key helpers, which needs log.c and util.c)
clang $F -o $B/fuzz_frame tests/fuzz/fuzz_frame.c \
	shared/frame.c shared/msg.c shared/keys.c shared/msgrec.c \
	shared/callrec.c shared/outrec.c shared/presrec.c shared/rxrec.c \
	shared/regrec.c shared/phonerec.c shared/watchrec.c shared/store.c \
	shared/log.c shared/util.c \
	$(pkg-config --libs libre lmdb)
clang $F -o $B/fuzz_jsdp tests/fuzz/fuzz_jsdp.c translator/jsdp_sdp.c translator/jsdp_jingle.c \
	$(pkg-config --libs libre libstrophe)
clang $F -Ixmpp-front -o $B/fuzz_xstream tests/fuzz/fuzz_xstream.c \
	xmpp-front/xstream.c $(pkg-config --libs libre libstrophe expat)
clang $F -Isip-front -o $B/fuzz_tcpframe tests/fuzz/fuzz_tcpframe.c \
	sip-front/sf_tcpframe.c $(pkg-config --libs libre)
clang $F -Ixmpp-front -o $B/fuzz_xsasl tests/fuzz/fuzz_xsasl.c \
	xmpp-front/xsasl.c $(pkg-config --libs libre libcrypto)
clang $F -o $B/fuzz_xparse tests/fuzz/fuzz_xparse.c shared/xparse.c \
	shared/util.c shared/log.c $(pkg-config --libs libre libstrophe expat)

# the translator without its main (as the Makefile's libtranslator) and all
# of shared/ (translator/*.c: tr_reg.c, tr_regrec.c, tr_reg_form.c and
# tr_digest.c too; tr_digest.c needs libcrypto for SHA-256), compiled once
# for both translator targets; store_commit is wrapped so that every
# iteration's transaction is aborted
TR_OBJS=
for c in translator/*.c shared/*.c tests/fuzz/tr_harness.c; do
	[ "$c" = translator/translator.c ] && continue
	o=$B/obj/$(echo "$c" | tr / _ | sed 's/\.c$/.o/')
	clang $F -Itests/fuzz -c -o "$o" "$c"
	TR_OBJS="$TR_OBJS $o"
done
for t in tr_sip tr_xmpp pidf; do
	clang $F -Itests/fuzz -Wl,--wrap=store_commit -o $B/fuzz_$t \
		tests/fuzz/fuzz_$t.c $TR_OBJS \
		$(pkg-config --libs libre libstrophe lmdb yaml-0.1 expat libcrypto)
done

mkdir -p $B/corpus-frame $B/corpus-jsdp
# seeds: the real SDPs (first byte 0/1: SDP as initiator/responder)
for f in tests/data/sdp/*.sdp; do
	n=$(basename "$f" .sdp)
	{ printf '\000'; cat "$f"; } > "$B/corpus-jsdp/$n"
	{ printf '\001'; cat "$f"; } > "$B/corpus-jsdp/$n-r"
done
printf '\002%s' "<jingle xmlns='urn:xmpp:jingle:1'><content name='a' senders='both'><description xmlns='urn:xmpp:jingle:apps:rtp:1' media='audio'><payload-type id='0' name='PCMU' clockrate='8000'/></description><transport xmlns='urn:xmpp:jingle:transports:ice-udp:1' ufrag='u' pwd='p'><candidate component='1' foundation='1' generation='0' id='c' ip='127.0.0.1' network='0' port='4000' priority='1' protocol='udp' type='host'/></transport></content></jingle>" > $B/corpus-jsdp/jingle

# seeds for fuzz_frame: frames (frame.h, msg.h), records and keys (keys.h)
b() { for x; do printf "\\$(printf %03o "$x")"; done; }
u32() { b 1 $(($1 >> 24 & 255)) $(($1 >> 16 & 255)) $(($1 >> 8 & 255)) $(($1 & 255)); }
u64() { b 2 0 0 0 0; u32 "$1" | tail -c 4; }
str() { n=${#1}; b 3 0 0 $((n >> 8 & 255)) $((n & 255)); printf %s "$1"; }
strs() { i=0; while [ $i -lt "$1" ]; do str "$2"; i=$((i + 1)); done; }
blob() { # a string field of the bytes on stdin
	p=$B/blob.tmp
	cat > $p
	n=$(wc -c < $p)
	b 3 0 0 $((n >> 8 & 255)) $((n & 255))
	cat $p
	rm -f $p
}
FV=$(sed -n 's/^#define FRAME_VERSION \([0-9]*\).*/\1/p' shared/frame.h)
frame() { # type; the payload on stdin
	p=$B/payload.tmp
	cat > $p
	n=$(wc -c < $p)
	b 0 "$FV" $(($1 >> 8)) $(($1 & 255)) 0 0 $((n >> 8 & 255)) $((n & 255)) 0 0 0 0 0 0 0 0
	cat $p
	rm -f $p
}
C=$B/corpus-frame
{ u32 2; u32 100; u64 5; u64 0; } | frame 1 > $C/hello
frame 2 < /dev/null > $C/ready
u64 42 | frame 7 > $C/ack
{ u64 1; u32 200; str "OK"; } | frame 9 > $C/out_done
frame 10 < /dev/null > $C/restart
u32 2 | frame 11 > $C/fd_store
str "<message to='a@b'><body>hi</body></message>" | frame 258 > $C/xmpp_in
{ str erin@localhost/desk; str sm1; u32 3; u32 2; str "<presence/>"; } | frame 262 > $C/client_sm
{ u64 3; str "udp 127.0.0.1:5060"; str "MESSAGE sip:a@b SIP/2.0"; } | frame 513 > $C/sip_in_request
{ u64 1; u32 200; str "OK"; str ""; } | frame 514 > $C/sip_in_response
{ u64 7; u32 1; str MESSAGE; str sip:b@x; str ""; str z9hG4bK1; str "To: <sip:b@x>"; str hi; } | frame 515 > $C/sip_out_request
{ u64 1; u64 2; str "udp 1.2.3.4:5060"; str "INVITE sip:a@b SIP/2.0"; u64 3; u32 180; str Ringing; str ""; str ""; } | frame 516 > $C/sip_out_response
{ str sip-front; u32 1; u32 1; u64 5; u32 0; str ""; } | frame 770 > $C/ctl_worker
{ b 2; u32 1; u32 1; u64 1; u64 2; u64 0; u32 0; u32 0; strs 13 x; } > $C/msgrec2
{ b 1; u32 1; u32 1; u32 1; u64 1; u64 2; u64 0; u32 0; u32 0; u32 1; strs 15 x; } > $C/msgrec1
{ b 6; u32 2; u32 2; u64 1; u64 2; u64 3; strs 15 y; u32 1; u32 2; u32 1; strs 2 z
  u64 0; u64 4; strs 2 w; u32 180; strs 2 v; u64 1; u32 1; str ""; u32 0; u32 1; str ""; } > $C/callrec6
{ b 2; u32 1; u64 9; u32 259; { u64 9; str "<message/>"; } | blob; } > $C/outrec
{ b 1; u32 5; u64 99; } > $C/presrec
{ b 1; u64 5; u64 99; } > $C/rxrec
# the presence records, as their encoders write them
clang $(echo "$F" | sed 's/fuzzer,//') -o $B/seed_records \
	tests/fuzz/seed_records.c shared/phonerec.c \
	shared/watchrec.c shared/frame.c shared/store.c shared/log.c \
	shared/util.c $(pkg-config --libs libre lmdb)
$B/seed_records $C
b 0 0 0 0 0 0 1 0 2 0 0 0 0 0 0 0 9 > $C/key_deadline
b 0 0 0 2 0 0 0 0 0 0 0 7 > $C/key_outbox
{ printf 'salice@localhost'; b 0; printf 'sid1'; } > $C/key_callkey
# regrec 1: state .. history in regrec.c's order (REGISTERED, a proxy, a
# Service-Route); then one with an IQ owed (LINKING)
regrec() { # state iq_kind password ha1 proxy routes
	b 1; u32 "$1"; u64 1; u64 2; u64 3; str dave@localhost
	str sip:dave@127.0.0.1:5070; str ""; str "$3"; str "$4"; str "$5"
	str Dave; u32 600; u32 600; u64 9; str xsgw-reg-1; str ft; str xa1
	u32 2; u64 7; u32 600; u32 1; u32 200; str OK; u32 0; u32 "$2"
	str reg-1; str dave@localhost/res; str "$6"; u32 1; str "1 linked"
}
regrec 2 0 pw "" "127.0.0.1:5080;transport=udp" "<sip:sr.example.net;lr>" > $C/regrec-registered
regrec 1 1 "" 0123456789abcdef0123456789abcdef "" "" > $C/regrec-linking
printf 'jdave@localhost' > $C/key_regkey
printf 'cxa0123456789abcdef' > $C/key_regkey_contact


# seeds for fuzz_xstream: 3 bytes of settings (limits, header put before
# the rest or not, split seed, where to resume), then the stream
C=$B/corpus-xstream
mkdir -p $C
STREAM_HDR="<?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:component:accept' from='gw.localhost' id='s1'>"
STANZAS="<handshake/>
<message from='alice@localhost/res' to='bob@gw.localhost' type='chat' id='m1' xml:lang='en'><body>h\303\251llo &amp; &lt;x&gt;</body><active xmlns='http://jabber.org/protocol/chatstates'/></message> <presence/><iq type='get' id='q'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>"
{ b 54 7 3; printf "$STREAM_HDR$STANZAS</stream:stream>"; } > $C/component
{ b 126 2 1; printf "$STANZAS"; } > $C/stanzas
{ b 77 5 0; printf "<a xmlns:p='urn:p' p:x='1'><b xmlns=''><c>t<![CDATA[<]]></c></b></a><stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>"; } > $C/ns
{ b 66 1 2; printf '<m><a><a><a><a><a><a>x</a></a></a></a></a></a></m><m/>'; } > $C/deep
{ b 65 3 0; printf '<message><body>0123456789012345678901234567890123456789</body></message><p/>'; } > $C/big
{ b 54 0 0; printf "<!DOCTYPE a [<!ENTITY e 'x'>]>$STREAM_HDR&e;"; } > $C/doctype

# seed for fuzz_xsasl: RFC 5802's server-first, NUL, server-final
mkdir -p $B/corpus-xsasl
{ printf 'r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096'
  b 0; printf 'v=rmF9pqV8S7suAoZWja4dJRkFsKQ='; } > $B/corpus-xsasl/rfc5802

mkdir -p $B/corpus-tr_sip $B/corpus-tr_xmpp $B/corpus-tcpframe $B/corpus-pidf \
	$B/corpus-xparse
SEEDS_frame=
SEEDS_jsdp=tests/fuzz/seeds-jsdp
SEEDS_tr_sip=tests/fuzz/seeds-sip
SEEDS_tr_xmpp=tests/fuzz/seeds-xmpp
SEEDS_xstream=
SEEDS_tcpframe=tests/fuzz/seeds-sip
SEEDS_pidf=tests/fuzz/seeds-pidf
SEEDS_xsasl=
SEEDS_xparse="tests/fuzz/seeds-xmpp tests/fuzz/seeds-pidf"
LEN_frame=4096
LEN_jsdp=8192
LEN_tr_sip=16384
LEN_tr_xmpp=16384
LEN_xstream=8192
LEN_tcpframe=16384
LEN_pidf=8192
LEN_xsasl=2000
LEN_xparse=8192
DICT_tr_sip=-dict=tests/fuzz/sip.dict
DICT_tr_xmpp=-dict=tests/fuzz/xmpp.dict
DICT_xstream=-dict=tests/fuzz/xstream.dict
DICT_tcpframe=-dict=tests/fuzz/sip.dict
DICT_pidf=-dict=tests/fuzz/xmpp.dict
DICT_xparse=-dict=tests/fuzz/xmpp.dict

summary=$B/summary.txt
: > $summary
failed=0
for t in $FUZZ_TARGETS; do
	eval "seeds=\$SEEDS_$t len=\$LEN_$t dict=\$DICT_$t"
	log=$B/fuzz_$t.log
	echo "== fuzz_$t: $FUZZ_SECONDS s (log: $log)"
	# -close_fd_mask=2: the translator's own log lines are not wanted;
	# libFuzzer and the sanitizers still report on a copy of stderr
	rc=0
	$B/fuzz_$t -max_total_time="$FUZZ_SECONDS" -max_len="$len" $dict \
		-timeout=30 -print_final_stats=1 -close_fd_mask=2 \
		-artifact_prefix=$B/fuzz_$t- $B/corpus-$t $seeds \
		> "$log" 2>&1 || rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	secs=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
	if [ "$rc" = 0 ]; then
		verdict="no crash"
	else
		verdict="CRASH (exit $rc): $(grep -m 1 -o "Test unit written to .*" "$log" || echo see $log)"
		failed=1
		tail -n 60 "$log"
	fi
	printf '%-13s %12s execs (%s/s) in %s s: %s\n' "fuzz_$t" "${execs:-?}" \
		"${secs:-?}" "$FUZZ_SECONDS" "$verdict" | tee -a $summary
done
echo "== summary ($summary)"
cat $summary
exit $failed
