#!/bin/sh
# make fuzz: build the libFuzzer targets with clang and run each briefly.
set -e
FUZZ_SECONDS=${FUZZ_SECONDS:-30}
B=build-fuzz
mkdir -p $B
F="-g -O1 -fsanitize=fuzzer,address,undefined -DHAVE_INTTYPES_H -DHAVE_STDBOOL_H -DHAVE_INET6 -D_GNU_SOURCE -Ishared $(pkg-config --cflags libre)"
clang $F -o $B/fuzz_frame tests/fuzz/fuzz_frame.c shared/frame.c shared/msgrec.c shared/store.c shared/log.c shared/util.c \
	$(pkg-config --libs libre lmdb)
mkdir -p $B/corpus
$B/fuzz_frame -max_total_time="$FUZZ_SECONDS" -max_len=4096 $B/corpus
