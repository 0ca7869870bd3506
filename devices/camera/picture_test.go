package camera

import (
	"bytes"
	"context"
	"image/jpeg"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// gops splits an Annex-B H.264 fixture into its GOPs: each begins at an SPS, which
// the fixtures repeat before every IDR.
func gops(t *testing.T, name string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "rtsp", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var starts []int
	for i := 0; i+4 < len(b); i++ {
		if b[i] == 0 && b[i+1] == 0 && b[i+2] == 1 && b[i+3]&0x1f == 7 {
			s := i
			if s > 0 && b[s-1] == 0 {
				s--
			}
			starts = append(starts, s)
		}
	}
	var out [][]byte
	for i, s := range starts {
		e := len(b)
		if i+1 < len(starts) {
			e = starts[i+1]
		}
		out = append(out, b[s:e])
	}
	if len(out) < 2 {
		t.Fatalf("%s: %d GOPs", name, len(out))
	}
	return out
}

func thumbnailer(t *testing.T) *Thumbnailer {
	t.Helper()
	th := NewThumbnailer("ffmpeg")
	if th.FFmpeg == "" {
		t.Fatalf("%s: make test installs ffmpeg (scripts/test-deps.sh)", th.Missing)
	}
	return th
}

func TestPictureVerdicts(t *testing.T) {
	th := thumbnailer(t)
	ctx := context.Background()
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	thumb := func(name string, gop int) *Thumbnail {
		t.Helper()
		tn, err := th.Make(ctx, "h264", gops(t, name)[gop], at)
		if err != nil {
			t.Fatal(err)
		}
		img, err := jpeg.Decode(bytes.NewReader(tn.JPEG))
		if err != nil || img.Bounds().Dx() != thumbnailWidth || img.Bounds().Dy() != 240 {
			t.Fatalf("thumbnail of %s: %v, %v", name, img.Bounds(), err)
		}
		return tn
	}
	moving0, moving1 := thumb("h264-640x480-10fps.h264", 0), thumb("h264-640x480-10fps.h264", 1)
	for _, c := range []struct {
		name     string
		th, prev *Thumbnail
		state    string
	}{
		{"a moving scene, first picture", moving0, nil, PictureOK},
		{"a moving scene, a second later", moving1, moving0, PictureOK},
		{"the same picture again", moving0, moving0, PictureFrozen},
		{"black", thumb("h264-640x480-black.h264", 0), moving0, PictureBlack},
		{"covered", thumb("h264-640x480-covered.h264", 0), moving0, PictureCovered},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := JudgePicture(c.th, c.prev)
			if p.State != c.state {
				t.Errorf("JudgePicture = %s (mean %.1f, spread %.1f, change %.2f), want %s", p.State, p.Mean, p.Spread, p.Change, c.state)
			}
		})
	}
}

func TestThumbnailerMissing(t *testing.T) {
	for _, name := range []string{"off", "/nonexistent/ffmpeg"} {
		th := NewThumbnailer(name)
		if th.FFmpeg != "" || th.Missing == "" {
			t.Errorf("%s: %+v", name, th)
		}
		if _, err := th.Make(context.Background(), "h264", []byte{0, 0, 1}, time.Time{}); err == nil {
			t.Errorf("%s: Make without ffmpeg gave no error", name)
		}
	}
}

func TestThumbnailOfGarbage(t *testing.T) {
	th := thumbnailer(t)
	if _, err := th.Make(context.Background(), "h264", bytes.Repeat([]byte{0, 0, 1, 0x65, 0xff}, 100), time.Time{}); err == nil {
		t.Error("a thumbnail of garbage")
	}
}
