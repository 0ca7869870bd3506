package rtsp

import (
	"embed"
	"fmt"
	"io/fs"
	"strings"
)

// The fixtures: Annex-B elementary streams made once with ffmpeg by
// testdata/make-fixtures.sh (which says how), embedded so that the simulator can serve
// them from the binary at run time.
const (
	// FixtureH264 is H.264 Main, 640x480, 10 fps, 4 s, a GOP of 10 frames with SPS and
	// PPS before every IDR.
	FixtureH264 = "h264-640x480-10fps.h264"
	// FixtureH265 is H.265 Main, 640x480, 10 fps, 4 s, a GOP of 10 with VPS, SPS and
	// PPS before every IRAP picture.
	FixtureH265 = "h265-640x480-10fps.h265"
	// FixtureH264High is H.264 High, 320x180, 10 fps, 1 s, parameter sets before the
	// first IDR only.
	FixtureH264High = "h264-320x180-high.h264"
	// FixtureH265Small is H.265 Main, 320x180 (coded 320x184, cropped by its
	// conformance window), 10 fps, 1 s.
	FixtureH265Small = "h265-320x180.h265"
	// FixtureH264Black is 2 s of a black 640x480 picture, H.264 Main, 10 fps.
	FixtureH264Black = "h264-640x480-black.h264"
	// FixtureH264Covered is 2 s of a flat brown 640x480 picture (a lens covered),
	// H.264 Main, 10 fps.
	FixtureH264Covered = "h264-640x480-covered.h264"
)

//go:embed testdata/*.h264 testdata/*.h265
var fixtureFS embed.FS

// Fixture returns a copy of the fixture named name (one of the Fixture constants).
func Fixture(name string) ([]byte, error) {
	if name == "" || strings.ContainsAny(name, `/\`) {
		return nil, fmt.Errorf("rtsp: fixture %q: not a fixture name", name)
	}
	b, err := fs.ReadFile(fixtureFS, "testdata/"+name)
	if err != nil {
		return nil, fmt.Errorf("rtsp: fixture %q: %w", name, err)
	}
	return b, nil
}

// Fixtures lists the names of the embedded fixtures.
func Fixtures() []string {
	return []string{FixtureH264, FixtureH265, FixtureH264High, FixtureH265Small, FixtureH264Black, FixtureH264Covered}
}
