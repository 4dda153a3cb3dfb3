#!/usr/bin/env bash
# Install everything the hub needs on a fresh Debian machine; safe to run again (idempotent).
#   - the hub itself and its dev tools:  python3 -m pip install -e '.[dev]'
#   - Java 17+ and Maven (apt) if missing: Kafka runs on Java, its jars come from Maven Central
#   - redis-server (apt) if missing
#   - mosquitto (apt) if missing: the MQTT broker of `hub mqtt-bridge`; its system service is not
#     used (`hub stack up` runs its own on 127.0.0.1:HUB_MQTT_PORT)
#   - chromium and chromium-driver (apt) if missing: the console's browser test
#   - the Kafka broker jars, cached under .hub/kafka/libs/<version> (python3 -m hub stack install)
# Prints what it did. Nothing is started here; `hub stack up` does that.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "install: $*"; }

APT_UPDATED=0
apt_install() {
    if ! command -v apt-get >/dev/null; then
        say "ERROR: $* missing and no apt-get here; install it by hand"; exit 1
    fi
    say "apt-get install -y $*"
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" >/tmp/hub-apt.log 2>&1; then
        if [ "$APT_UPDATED" = 0 ]; then
            say "apt-get install failed; running apt-get update and retrying"
            apt-get update >/tmp/hub-apt.log 2>&1 || true
            APT_UPDATED=1
        fi
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" >/tmp/hub-apt.log 2>&1 \
            || { tail -20 /tmp/hub-apt.log; say "ERROR: could not install $* (root? network?)"; exit 1; }
    fi
}

# 1. The Python package. Debian's own python3 refuses system-wide pip installs (PEP 668).
PIP_FLAGS=(-q --root-user-action=ignore)
if python3 -c 'import os,sys,sysconfig; sys.exit(0 if os.path.exists(os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED")) else 1)' \
    && [ -z "${VIRTUAL_ENV:-}" ]; then
    PIP_FLAGS+=(--break-system-packages)
fi
say "python3 -m pip install -e '.[dev]' ($(python3 --version))"
python3 -m pip install "${PIP_FLAGS[@]}" -e '.[dev]'

# 2. System packages, only when missing.
command -v java >/dev/null || apt_install openjdk-17-jre-headless
command -v mvn >/dev/null || apt_install maven
command -v redis-server >/dev/null || apt_install redis-server
# Debian puts the broker in /usr/sbin. policy-rc.d usually keeps the package's service from starting
# in containers; if it did start, it holds 1883 where `hub stack up` runs ours: stop it.
if ! { command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ]; }; then
    apt_install mosquitto
    if command -v service >/dev/null && service mosquitto status >/dev/null 2>&1; then
        say "stopping the distribution's mosquitto service (hub stack up runs its own)"
        service mosquitto stop >/dev/null 2>&1 || true
    fi
fi
# The console's browser test drives Debian's Chromium with its matching chromedriver.
{ command -v chromium >/dev/null && command -v chromedriver >/dev/null; } \
    || apt_install chromium chromium-driver
say "java: $(java -version 2>&1 | head -1); maven: $(mvn -v 2>/dev/null | head -1 | sed 's/\x1b\[[0-9;]*m//g'); $(redis-server --version | cut -d' ' -f1-3)"

# 3. Kafka jars (downloads only the first time) and a check that everything is usable.
python3 -m hub stack install
say "done"
