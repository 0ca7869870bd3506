#!/usr/bin/env bash
# Installs what apedge's tests need and are not Go modules: Mosquitto, the real MQTT
# broker the end-to-end tests in hil-tests/ start; PostgreSQL, whose server binaries
# (initdb, postgres) package pgtest runs as throwaway clusters for central's store tests
# and hil-tests; Chromium, the headless browser the dashboard test (agent/console)
# drives; GStreamer's RTSP server through PyGObject for Debian's /usr/bin/python3
# (python3-gi, gir1.2-gst-rtsp-server-1.0) with the base, good, ugly and bad plugins
# (videotestsrc, x264enc, x265enc, rtph264pay, rtph265pay) and gstreamer1.0-tools, the
# real camera that hil-tests' interoperability tests run (hil-tests/testdata/
# gst-rtsp-server.py); and FFmpeg, optional for apedge itself (thumbnails), whose
# ffprobe `make bench` measures the camera check against. As root it installs with
# apt-get; otherwise it names the packages to install and fails.
set -euo pipefail

need=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || need+=(chromium)
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || command -v initdb >/dev/null 2>&1 || need+=(postgresql)
# The system Python, not whichever python3 is first on PATH (pyenv, a virtualenv).
[ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import gi' >/dev/null 2>&1 || need+=(python3-gi)
[ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import gi; gi.require_version("GstRtspServer", "1.0")' >/dev/null 2>&1 || need+=(gir1.2-gst-rtsp-server-1.0)
command -v gst-inspect-1.0 >/dev/null 2>&1 || need+=(gstreamer1.0-tools)
gst() { command -v gst-inspect-1.0 >/dev/null 2>&1 && gst-inspect-1.0 --exists "$1" >/dev/null 2>&1; }
gst videotestsrc || need+=(gstreamer1.0-plugins-base)
gst rtph264pay && gst rtph265pay || need+=(gstreamer1.0-plugins-good)
gst x264enc || need+=(gstreamer1.0-plugins-ugly)
gst x265enc || need+=(gstreamer1.0-plugins-bad)
command -v ffprobe >/dev/null 2>&1 || need+=(ffmpeg)

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
