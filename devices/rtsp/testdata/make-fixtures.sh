#!/bin/sh
# make-fixtures.sh remakes the Annex-B fixtures of package rtsp (the simulator serves
# them, embedded by fixtures.go; the tests read them) with ffmpeg's lavfi test sources.
# Run it from anywhere: it writes into the directory it lives in. The files are small
# (a few seconds at 10 fps) and committed; remake them only to change what they hold,
# and check the result with ffprobe -show_streams.
#
#   h264-640x480-10fps.h264    H.264 Main, 640x480, 10 fps, 4 s, GOP 10, SPS/PPS before every IDR
#   h265-640x480-10fps.h265    H.265 Main, the same, VPS/SPS/PPS before every IRAP
#   h264-320x180-high.h264     H.264 High, 320x180, 1 s
#   h265-320x180.h265          H.265 Main, coded 320x184, conformance window cropping to 320x180
#   h264-640x480-black.h264    a black picture, 2 s
#   h264-640x480-covered.h264  a flat brown picture (a covered lens), 2 s
set -eu
cd "$(dirname "$0")"
command -v ffmpeg >/dev/null || { echo "make-fixtures.sh: ffmpeg is not installed" >&2; exit 1; }
ff() { ffmpeg -hide_banner -loglevel error -y "$@"; }

ff -f lavfi -i testsrc2=size=640x480:rate=10 -t 4 -c:v libx264 -profile:v main -preset veryfast \
	-g 10 -keyint_min 10 -sc_threshold 0 -bf 0 -pix_fmt yuv420p -b:v 250k -maxrate 300k -bufsize 300k \
	-x264-params repeat-headers=1 -f h264 h264-640x480-10fps.h264
ff -f lavfi -i testsrc2=size=640x480:rate=10 -t 4 -c:v libx265 -preset veryfast -pix_fmt yuv420p -b:v 250k \
	-x265-params keyint=10:min-keyint=10:scenecut=0:bframes=0:repeat-headers=1:log-level=error \
	-f hevc h265-640x480-10fps.h265
ff -f lavfi -i testsrc2=size=320x180:rate=10 -t 1 -c:v libx264 -profile:v high -preset veryfast \
	-g 10 -bf 0 -pix_fmt yuv420p -b:v 100k -f h264 h264-320x180-high.h264
ff -f lavfi -i testsrc2=size=320x180:rate=10 -t 1 -c:v libx265 -preset veryfast -pix_fmt yuv420p \
	-x265-params keyint=10:bframes=0:log-level=error -f hevc h265-320x180.h265
ff -f lavfi -i color=c=black:size=640x480:rate=10 -t 2 -c:v libx264 -profile:v main -preset veryfast \
	-g 10 -bf 0 -pix_fmt yuv420p -x264-params repeat-headers=1 -f h264 h264-640x480-black.h264
ff -f lavfi -i "color=c=0x6b4a2e:size=640x480:rate=10" -t 2 -c:v libx264 -profile:v main -preset veryfast \
	-g 10 -bf 0 -pix_fmt yuv420p -x264-params repeat-headers=1 -f h264 h264-640x480-covered.h264
