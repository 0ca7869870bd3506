#!/usr/bin/python3
"""A real RTSP camera for apedge's interoperability tests (hil-tests/gstreamer_test.go).

It serves a live test picture (videotestsrc) encoded with x264enc or x265enc and
packetised by rtph264pay (RFC 6184) or rtph265pay (RFC 7798) through GStreamer's
gst-rtsp-server, a server no one at apedge wrote. Debian packages: python3-gi,
gir1.2-gst-rtsp-server-1.0 and gstreamer1.0-plugins-base/good/ugly/bad, installed
by scripts/test-deps.sh. Run it with /usr/bin/python3 (the system Python, which has gi).

It prints one line "READY rtsp://127.0.0.1:PORT/PATH" on stdout once it listens, logs
to stderr, and exits when stdin closes or on SIGTERM or SIGINT.

    gst-rtsp-server.py --port 0 --codec h265 --width 320 --height 240 --fps 15 \
        --user admin --password secret --protocols tcp
"""

import argparse
import os
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402

ROLE = "apedge-test"


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, default=0, help="TCP port; 0 picks a free one")
    p.add_argument("--codec", choices=("h264", "h265"), default="h264")
    p.add_argument("--width", type=int, default=320)
    p.add_argument("--height", type=int, default=240)
    p.add_argument("--fps", type=int, default=10)
    p.add_argument("--bitrate", type=int, default=0, help="kbit/s; 0 scales with the size")
    p.add_argument("--path", default="/cam")
    p.add_argument("--user", default="")
    p.add_argument("--password", default="")
    p.add_argument("--realm", default="apedge-test")
    p.add_argument("--protocols", choices=("tcp", "udp", "both"), default="both")
    a = p.parse_args(argv)
    if bool(a.user) != bool(a.password):
        p.error("--user and --password go together")
    if a.width <= 0 or a.height <= 0 or a.fps <= 0 or a.port < 0:
        p.error("--width, --height and --fps must be positive, --port not negative")
    if not a.path.startswith("/"):
        a.path = "/" + a.path
    if a.bitrate <= 0:
        # About 0.1 bit per pixel per frame (640x480@10: 300 kbit/s), the encoders'
        # target; videotestsrc's ball on black needs far less (some 60 kbit/s).
        a.bitrate = max(64, a.width * a.height * a.fps // 10000)
    return a


def launch_line(a):
    """The media pipeline; pay0 is the one stream gst-rtsp-server serves."""
    src = (
        "videotestsrc is-live=true pattern=ball ! "
        "video/x-raw,format=I420,width={w},height={h},framerate={f}/1 ! "
    ).format(w=a.width, h=a.height, f=a.fps)
    if a.codec == "h264":
        enc = (
            "x264enc tune=zerolatency speed-preset=ultrafast key-int-max={f} "
            "bitrate={b} threads=1 ! "
            "rtph264pay name=pay0 pt=96 config-interval=1"
        )
    else:
        enc = (
            "x265enc tune=zerolatency speed-preset=ultrafast key-int-max={f} "
            "bitrate={b} option-string=pools=1:frame-threads=1 ! "
            "rtph265pay name=pay0 pt=96 config-interval=1"
        )
    return "( " + src + enc.format(f=a.fps, b=a.bitrate) + " )"


def main(argv):
    a = parse_args(argv)
    Gst.init(None)
    loop = GLib.MainLoop()

    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(a.port))

    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(launch_line(a))
    factory.set_shared(True)
    protocols = {
        "tcp": GstRtsp.RTSPLowerTrans.TCP,
        "udp": GstRtsp.RTSPLowerTrans.UDP,
        "both": GstRtsp.RTSPLowerTrans.TCP | GstRtsp.RTSPLowerTrans.UDP,
    }[a.protocols]
    factory.set_protocols(protocols)

    if a.user:
        auth = GstRtspServer.RTSPAuth()
        auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
        auth.set_realm(a.realm)
        token = GstRtspServer.RTSPToken()
        token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, ROLE)
        auth.add_digest(a.user, a.password, token)
        server.set_auth(auth)
        # Without a default token an unauthenticated client has no role, so the
        # factory refuses it with 401 and the Digest challenge.
        perms = Gst.Structure.new_from_string(
            ROLE + ", media.factory.access=(boolean)true, media.factory.construct=(boolean)true"
        )
        factory.add_role_from_structure(perms)

    server.get_mount_points().add_factory(a.path, factory)
    if server.attach(None) == 0:
        print("gst-rtsp-server.py: cannot listen on port %d" % a.port, file=sys.stderr)
        return 1

    def stop(*_):
        loop.quit()
        return GLib.SOURCE_REMOVE

    def on_stdin(fd, cond):
        if cond & (GLib.IO_HUP | GLib.IO_ERR):
            return stop()
        try:
            data = os.read(fd, 4096)
        except OSError:
            data = b""
        if not data:
            return stop()
        return GLib.SOURCE_CONTINUE

    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, stop)
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGINT, stop)
    GLib.io_add_watch(sys.stdin.fileno(), GLib.PRIORITY_DEFAULT,
                      GLib.IO_IN | GLib.IO_HUP | GLib.IO_ERR, on_stdin)

    print("READY rtsp://127.0.0.1:%d%s" % (server.get_bound_port(), a.path), flush=True)
    print("gst-rtsp-server.py: %s %dx%d@%d %s auth=%s" % (
        a.codec, a.width, a.height, a.fps, a.protocols, "digest" if a.user else "none"),
        file=sys.stderr, flush=True)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
