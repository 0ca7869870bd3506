package camera

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"math"
	"os/exec"
	"time"
)

// Picture verdicts, as the site-bus vocabulary names them.
const (
	PictureNone    = "none"
	PictureOK      = "ok"
	PictureBlack   = "black"
	PictureCovered = "covered"
	PictureFrozen  = "frozen"
)

// Thresholds of the picture verdicts, on luma from 0 to 255 over a grid of
// gridW x gridH cells. A black picture is dark and flat; a covered one is flat (a
// hand, tape, a lens cap lit from the side, a wall); a frozen one differs from the
// thumbnail before by less than the noise of a live sensor. Encoding noise on a
// still scene moves a cell's mean by well under 2; the clock most cameras burn into
// the picture, a person, a change of light move some cell by far more. So a picture
// is frozen when no cell moved by frozenChange or more: the largest change is the
// measure, not the mean one, which a small overlay would not move.
const (
	gridW, gridH   = 32, 24
	blackMean      = 20.0
	flatSpread     = 6.0
	frozenChange   = 2.5
	thumbnailWidth = 320
)

// Picture is the verdict on a camera's latest thumbnail.
type Picture struct {
	State string
	// Why says why there is none.
	Why string
	At  time.Time
	// Mean and Spread are the luma mean and standard deviation of the grid's cells;
	// Change the largest absolute difference of a cell from the thumbnail before.
	Mean, Spread, Change float64
}

// Thumbnail is a small JPEG of a keyframe.
type Thumbnail struct {
	At   time.Time
	JPEG []byte
	grid []float64
}

// Thumbnailer makes thumbnails with ffmpeg, from keyframes a check already has: no
// second session with the camera, and no credential on ffmpeg's command line.
type Thumbnailer struct {
	// FFmpeg is the program's path, empty when it is not to be used.
	FFmpeg string
	// Missing says why there is no FFmpeg, for the tile.
	Missing string
}

// NewThumbnailer finds ffmpeg by name or path ("off": no thumbnails).
func NewThumbnailer(name string) *Thumbnailer {
	if name == "off" {
		return &Thumbnailer{Missing: "thumbnails are off on this bridge (cameraChecks.ffmpeg: off)"}
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return &Thumbnailer{Missing: "ffmpeg is not installed on this box, so there are no pictures (the checks do not need it)"}
	}
	return &Thumbnailer{FFmpeg: p}
}

// Make decodes keyframe (Annex B, of codec h264 or h265) with ffmpeg into a JPEG
// thumbnailWidth wide, within ctx.
func (t *Thumbnailer) Make(ctx context.Context, codec string, keyframe []byte, at time.Time) (*Thumbnail, error) {
	if t.FFmpeg == "" {
		return nil, errors.New("camera: " + t.Missing)
	}
	format := map[string]string{"h264": "h264", "h265": "hevc"}[codec]
	if format == "" || len(keyframe) == 0 {
		return nil, fmt.Errorf("camera: no keyframe of a known codec to make a picture of")
	}
	cmd := exec.CommandContext(ctx, t.FFmpeg, "-hide_banner", "-loglevel", "error", "-nostdin",
		"-f", format, "-i", "pipe:0", "-frames:v", "1", "-vf", fmt.Sprintf("scale=%d:-2", thumbnailWidth),
		"-f", "image2pipe", "-c:v", "mjpeg", "-q:v", "6", "pipe:1")
	cmd.Stdin = bytes.NewReader(keyframe)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("camera: ffmpeg: %v: %s", err, firstLine(errb.String()))
	}
	img, err := jpeg.Decode(bytes.NewReader(out.Bytes()))
	if err != nil {
		return nil, fmt.Errorf("camera: ffmpeg's picture: %w", err)
	}
	return &Thumbnail{At: at, JPEG: out.Bytes(), grid: lumaGrid(img)}, nil
}

func firstLine(s string) string {
	if i := bytes.IndexByte([]byte(s), '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}

// lumaGrid returns the mean luma of each cell of a gridW x gridH grid over img.
func lumaGrid(img image.Image) []float64 {
	b := img.Bounds()
	sum := make([]float64, gridW*gridH)
	n := make([]int, gridW*gridH)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		gy := (y - b.Min.Y) * gridH / max(b.Dy(), 1)
		for x := b.Min.X; x < b.Max.X; x++ {
			gx := (x - b.Min.X) * gridW / max(b.Dx(), 1)
			var l float64
			if yc, ok := img.(*image.YCbCr); ok {
				l = float64(yc.Y[yc.YOffset(x, y)])
			} else {
				r, g, bb, _ := img.At(x, y).RGBA()
				l = (0.299*float64(r) + 0.587*float64(g) + 0.114*float64(bb)) / 257
			}
			sum[gy*gridW+gx] += l
			n[gy*gridW+gx]++
		}
	}
	for i := range sum {
		if n[i] > 0 {
			sum[i] /= float64(n[i])
		}
	}
	return sum
}

// JudgePicture judges thumbnail th, given the one before it (nil if none).
func JudgePicture(th, prev *Thumbnail) Picture {
	p := Picture{State: PictureOK, At: th.At}
	var sum float64
	for _, v := range th.grid {
		sum += v
	}
	p.Mean = sum / float64(len(th.grid))
	var sq float64
	for _, v := range th.grid {
		sq += (v - p.Mean) * (v - p.Mean)
	}
	p.Spread = math.Sqrt(sq / float64(len(th.grid)))
	if prev != nil && len(prev.grid) == len(th.grid) {
		for i, v := range th.grid {
			p.Change = max(p.Change, math.Abs(v-prev.grid[i]))
		}
	}
	switch {
	case p.Mean < blackMean && p.Spread < flatSpread:
		p.State = PictureBlack
	case p.Spread < flatSpread:
		p.State = PictureCovered
	case prev != nil && p.Change < frozenChange:
		p.State = PictureFrozen
	}
	return p
}
