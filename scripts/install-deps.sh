#!/bin/sh
# Installs the Debian packages xsgw builds, runs and tests with, and the
# test-only npm package (stanza, a real XMPP client library) in tests/js.
# Only Debian's archive and the npm registry are used.
set -e
HERE=$(cd "$(dirname "$0")/.." && pwd)
npm_deps() {
	[ -d "$HERE/tests/js/node_modules/stanza" ] && return 0
	if ! command -v npm >/dev/null; then
		# Debian's nodejs comes without npm (other builds bundle it)
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
			--no-install-recommends npm >/dev/null
	fi
	echo "install-deps: npm ci in tests/js" >&2
	(cd "$HERE/tests/js" && npm ci --no-audit --no-fund >/dev/null)
}
PKGS="build-essential pkg-config clang clang-format libclang-rt-14-dev
libre-dev libstrophe-dev libexpat1-dev liblmdb-dev lmdb-utils libyaml-dev
libcmocka-dev prosody ejabberd kamailio kamailio-presence-modules sip-tester baresip-core python3-slixmpp
python3-pytest nodejs faketime dnsmasq-base"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing="$missing $p"
done
if [ -z "$missing" ]; then
	npm_deps
	exit 0
fi
if [ "$(id -u)" != 0 ]; then
	echo "install-deps: missing packages:$missing (run as root)" >&2
	exit 1
fi
echo "install-deps: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
# policy-rc.d keeps the packaged prosody/kamailio services from starting.
printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
chmod +x /usr/sbin/policy-rc.d
apt-get install -y -q --no-install-recommends $missing >/dev/null
rm -f /usr/sbin/policy-rc.d
npm_deps
