#!/bin/sh
# make fuzz: build the libFuzzer targets with clang and run each briefly
# (FUZZ_SECONDS each). Crashes are written to build-fuzz/.
set -e
FUZZ_SECONDS=${FUZZ_SECONDS:-30}
B=build-fuzz
mkdir -p $B
F="-g -O1 -fsanitize=fuzzer,address,undefined -DHAVE_INTTYPES_H -DHAVE_STDBOOL_H -DHAVE_INET6 -D_GNU_SOURCE -Ishared -Itranslator $(pkg-config --cflags libre libstrophe)"

clang $F -o $B/fuzz_frame tests/fuzz/fuzz_frame.c shared/frame.c shared/msgrec.c shared/callrec.c shared/store.c shared/log.c shared/util.c \
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

$B/fuzz_frame -max_total_time="$FUZZ_SECONDS" -max_len=4096 $B/corpus-frame -artifact_prefix=$B/
$B/fuzz_jsdp -max_total_time="$FUZZ_SECONDS" -max_len=8192 $B/corpus-jsdp -artifact_prefix=$B/
