#!/bin/sh
# make lint: no global symbol of our programs may share a name with one a
# linked library exports. The dynamic linker resolves a library's own calls
# to the program's definition (symbol interposition): a sip-front function
# once named sip_strans_init silently replaced libre's and broke every
# server transaction.
#
# The deliberate interpositions: tcp_accept in the sip-front, libre's TCP
# connections' guard (sip-front/sf_tcp.c); rand_u32 and rand_bytes, libre's
# randomness from the kernel's pool (shared/rerand.c).
ALLOWED="tcp_accept rand_u32 rand_bytes"
set -e
BUILD=${1:-build}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for l in re strophe lmdb yaml; do
	f=$(ls /usr/lib/*/lib$l.so 2>/dev/null | head -1)
	[ -n "$f" ] && nm -D --defined-only "$(readlink -f "$f")"
done | awk '{print $3}' | sort -u > "$tmp/theirs"
nm --defined-only "$BUILD"/bin/* | awk '$2 == "T" {print $3}' |
	sort -u > "$tmp/ours"
printf '%s\n' $ALLOWED | sort > "$tmp/allowed"
clash=$(comm -12 "$tmp/ours" "$tmp/theirs" | comm -23 - "$tmp/allowed")
# ... and it only works if libre calls them through its PLT (a libre linked
# with -Bsymbolic-functions would bypass them without a word)
re=$(readlink -f "$(ls /usr/lib/*/libre.so | head -1)")
for s in $ALLOWED; do
	if ! objdump -d "$re" | grep -q "call.*<$s@plt>"; then
		echo "check-symbols: libre does not call $s through its PLT:" \
			"our definition would be bypassed" >&2
		exit 1
	fi
done
if [ -n "$clash" ]; then
	echo "check-symbols: also exported by a linked library:" >&2
	echo "$clash" >&2
	exit 1
fi
echo "check-symbols: no clash with libre, libstrophe, lmdb, yaml"
