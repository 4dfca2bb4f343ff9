#!/bin/sh
# Installs the Debian packages xsgw builds, runs and tests with.
# Only Debian's archive is used; nothing is fetched from anywhere else.
set -e
PKGS="build-essential pkg-config clang libclang-rt-14-dev
libre-dev libstrophe-dev liblmdb-dev lmdb-utils libyaml-dev libcmocka-dev
prosody kamailio sip-tester baresip-core python3-slixmpp python3-pytest"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0
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
