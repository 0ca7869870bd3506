#!/usr/bin/env bash
# Installs what apedge's tests need and are not Go modules: Mosquitto, the real MQTT
# broker the end-to-end tests in hil-tests/ start; PostgreSQL, whose server binaries
# (initdb, postgres) package pgtest runs as throwaway clusters for central's store tests
# and hil-tests; and Chromium, the headless browser the dashboard test (agent/console)
# drives. As root it installs with apt-get; otherwise it names the packages to install
# and fails.
set -euo pipefail

need=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || need+=(chromium)
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || command -v initdb >/dev/null 2>&1 || need+=(postgresql)

if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "apedge tests need: ${need[*]}. Install them (Debian/Ubuntu: sudo apt-get install -y ${need[*]}) and run make test again." >&2
  exit 1
fi
echo "installing ${need[*]} for the tests..." >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
echo "installed ${need[*]}" >&2
