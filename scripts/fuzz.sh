#!/bin/sh
# make fuzz: build the libFuzzer targets with clang and run each briefly
# (FUZZ_SECONDS each). Crashes are written to build-fuzz/.
set -e
export LC_ALL=C # string lengths in bytes
FUZZ_SECONDS=${FUZZ_SECONDS:-30}
B=build-fuzz
mkdir -p $B
F="-g -O1 -fsanitize=fuzzer,address,undefined -DHAVE_INTTYPES_H -DHAVE_STDBOOL_H -DHAVE_INET6 -D_GNU_SOURCE -Ishared -Itranslator $(pkg-config --cflags libre libstrophe)"

# frames, every message decoder, every record decoder and key parser
# (store.c for the record and key helpers, which needs log.c and util.c)
clang $F -o $B/fuzz_frame tests/fuzz/fuzz_frame.c \
	shared/frame.c shared/msg.c shared/keys.c shared/msgrec.c \
	shared/callrec.c shared/outrec.c shared/presrec.c shared/rxrec.c \
	shared/store.c shared/log.c shared/util.c \
	$(pkg-config --libs libre lmdb)
clang $F -o $B/fuzz_jsdp tests/fuzz/fuzz_jsdp.c translator/jsdp_sdp.c translator/jsdp_jingle.c \
	$(pkg-config --libs libre libstrophe)

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
frame() { # type; the payload on stdin
	p=$B/payload.tmp
	cat > $p
	n=$(wc -c < $p)
	b 0 3 $(($1 >> 8)) $(($1 & 255)) 0 0 $((n >> 8 & 255)) $((n & 255)) 0 0 0 0 0 0 0 0
	cat $p
	rm -f $p
}
C=$B/corpus-frame
{ u32 2; u32 100; u64 5; u64 0; } | frame 1 > $C/hello
frame 2 < /dev/null > $C/ready
u64 42 | frame 7 > $C/ack
{ u64 1; u32 200; str "OK"; } | frame 9 > $C/out_done
str "<message to='a@b'><body>hi</body></message>" | frame 258 > $C/xmpp_in
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
b 0 0 0 0 0 0 1 0 2 0 0 0 0 0 0 0 9 > $C/key_deadline
b 0 0 0 2 0 0 0 0 0 0 0 7 > $C/key_outbox
{ printf 'salice@localhost'; b 0; printf 'sid1'; } > $C/key_callkey

$B/fuzz_frame -max_total_time="$FUZZ_SECONDS" -max_len=4096 $B/corpus-frame -artifact_prefix=$B/
$B/fuzz_jsdp -max_total_time="$FUZZ_SECONDS" -max_len=8192 $B/corpus-jsdp -artifact_prefix=$B/
