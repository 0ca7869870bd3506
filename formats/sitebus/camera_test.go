package sitebus_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apedge/apedge/formats/sitebus"
)

// validCameraStatus is a status as the bridge publishes it for a camera that is online.
const validCameraStatus = `{"name":"front door, outside","verdict":"online","since":"2026-11-22T23:00:00Z","checkedAt":"2026-11-22T23:10:00Z",` +
	`"transport":"tcp","codec":"h264","profile":"Main","level":"3.1","width":1280,"height":720,"fps":25,"bitrateKbps":2100.5,"lossPct":0.2,` +
	`"keyframeIntervalS":2,"firstFrameMs":180,"lastKeyframe":"2026-11-22T23:09:59Z","picture":{"state":"ok","at":"2026-11-22T23:05:00Z","mean":112.5,"spread":40.1,"change":6.2}}`

// jpegOf is a JPEG-looking payload of n bytes (SOI, then filler).
func jpegOf(n int) []byte {
	b := bytes.Repeat([]byte{0x42}, n)
	b[0], b[1] = 0xFF, 0xD8
	return b
}

// thumbnailJSON is a thumbnail message's data with jpeg as its picture.
func thumbnailJSON(jpeg []byte) []byte {
	return []byte(`{"at":"2026-11-22T23:05:00Z","jpeg":"` + base64.StdEncoding.EncodeToString(jpeg) + `"}`)
}

func TestDecodeCameraStatus(t *testing.T) {
	tests := []struct {
		name    string
		data    string
		wantErr string // "" accepts
		check   func(t *testing.T, st *sitebus.CameraStatus)
	}{
		{name: "online, every figure", data: validCameraStatus, check: func(t *testing.T, st *sitebus.CameraStatus) {
			if st.Verdict != sitebus.CameraOnline || st.Codec != "h264" || st.Width != 1280 || st.Height != 720 || st.FPS != 25 ||
				st.BitrateKbps != 2100.5 || st.LossPct != 0.2 || st.Picture.State != sitebus.PictureOK || st.Name != "front door, outside" ||
				!st.Since.Equal(time.Date(2026, 11, 22, 23, 0, 0, 0, time.UTC)) {
				t.Errorf("decoded %+v", st)
			}
		}},
		{name: "unknown, no picture", data: `{"verdict":"unknown","lossPct":0,"picture":{"state":"none","why":"ffmpeg is not installed"}}`,
			check: func(t *testing.T, st *sitebus.CameraStatus) {
				if st.Verdict != sitebus.CameraUnknown || st.Picture.State != sitebus.PictureNone || st.Picture.Why != "ffmpeg is not installed" {
					t.Errorf("decoded %+v", st)
				}
			}},
		{name: "offline, seen online, flapping", data: `{"verdict":"offline","reason":"connect: connection refused","seen":"online","repeats":3,"lossPct":0,"picture":{"state":"frozen"}}`,
			check: func(t *testing.T, st *sitebus.CameraStatus) {
				if st.Verdict != sitebus.CameraOffline || st.Seen != sitebus.CameraOnline || st.Repeats != 3 || st.Reason == "" {
					t.Errorf("decoded %+v", st)
				}
			}},
		{name: "h265 at the largest size", data: `{"verdict":"degraded","codec":"h265","width":16384,"height":16384,"fps":1000,"lossPct":100,"picture":{"state":"black"}}`},
		{name: "every picture state", data: `{"verdict":"frozen","picture":{"state":"covered"}}`},
		{name: "unknown verdict name", data: `{"verdict":"on fire","picture":{"state":"ok"}}`, wantErr: `verdict "on fire"`},
		{name: "seen may not be unknown", data: `{"verdict":"online","seen":"unknown","picture":{"state":"ok"}}`, wantErr: `seen "unknown"`},
		{name: "no picture state", data: `{"verdict":"online"}`, wantErr: `picture ""`},
		{name: "codec", data: `{"verdict":"online","codec":"mjpeg","picture":{"state":"ok"}}`, wantErr: `codec "mjpeg"`},
		{name: "size", data: `{"verdict":"online","width":16385,"height":1,"picture":{"state":"ok"}}`, wantErr: "size 16385x1"},
		{name: "fps", data: `{"verdict":"online","fps":1000.5,"picture":{"state":"ok"}}`, wantErr: "fps or bitrate"},
		{name: "loss", data: `{"verdict":"online","lossPct":-1,"picture":{"state":"ok"}}`, wantErr: "loss -1%"},
		{name: "keyframe interval", data: `{"verdict":"online","keyframeIntervalS":-1,"picture":{"state":"ok"}}`, wantErr: "negative"},
		{name: "too long", data: `{"verdict":"online","reason":"` + strings.Repeat("x", sitebus.MaxMessage) + `","picture":{"state":"ok"}}`, wantErr: "bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, err := sitebus.DecodeCameraStatus([]byte(tc.data))
			if tc.wantErr != "" {
				if err == nil || !errors.Is(err, sitebus.ErrMessage) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("DecodeCameraStatus = %+v, %v; want an ErrMessage saying %q", st, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.check != nil {
				tc.check(t, st)
			}
			roundTrip(t, st, func(b []byte) (any, error) { return sitebus.DecodeCameraStatus(b) })
		})
	}
}

func TestDecodeCameraEvent(t *testing.T) {
	since := `"since":"2026-11-22T23:00:00Z"`
	tests := []struct {
		name, kind, data string
		wantErr          string
	}{
		{"offline from online", sitebus.CameraOffline, `{"previous":"online","reason":"connect: connection refused",` + since + `,"lossPct":0}`, ""},
		{"online from unknown, with figures", sitebus.CameraOnline,
			`{"previous":"unknown",` + since + `,"codec":"h265","width":640,"height":480,"fps":10,"bitrateKbps":300,"lossPct":0}`, ""},
		{"degraded, flapping", sitebus.CameraDegraded, `{"previous":"online","reason":"fps 3 under 10",` + since + `,"repeats":4,"fps":3,"lossPct":7.5}`, ""},
		{"auth failed", sitebus.CameraAuthFailed, `{"previous":"offline","reason":"401 Unauthorized",` + since + `}`, ""},
		{"stalled", sitebus.CameraStalled, `{"previous":"online",` + since + `}`, ""},
		{"frozen", sitebus.CameraFrozen, `{"previous":"degraded",` + since + `}`, ""},
		{"kind unknown is no verdict to report", sitebus.CameraUnknown, `{"previous":"online",` + since + `}`, "not a verdict"},
		{"kind from another class", "card-read", `{"previous":"online",` + since + `}`, "not a verdict"},
		{"previous", sitebus.CameraOnline, `{"previous":"",` + since + `}`, `previous ""`},
		{"no since", sitebus.CameraOnline, `{"previous":"offline"}`, "no since"},
		{"repeats", sitebus.CameraOffline, `{"previous":"online",` + since + `,"repeats":-1}`, "negative repeats"},
		{"figures", sitebus.CameraDegraded, `{"previous":"online",` + since + `,"lossPct":101}`, "loss 101%"},
		{"not an object", sitebus.CameraOnline, `"online"`, "camera event"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev, err := sitebus.DecodeCameraEvent(tc.kind, []byte(tc.data))
			if tc.wantErr != "" {
				if err == nil || !errors.Is(err, sitebus.ErrMessage) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("DecodeCameraEvent(%q) = %+v, %v; want an ErrMessage saying %q", tc.kind, ev, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !ev.Since.Equal(time.Date(2026, 11, 22, 23, 0, 0, 0, time.UTC)) || ev.Previous == "" {
				t.Errorf("decoded %+v", ev)
			}
			roundTrip(t, ev, func(b []byte) (any, error) { return sitebus.DecodeCameraEvent(tc.kind, b) })
		})
	}
	if !sitebus.CameraVerdict(sitebus.CameraAuthFailed) || sitebus.CameraVerdict(sitebus.CameraUnknown) || sitebus.CameraVerdict("") {
		t.Error("CameraVerdict: auth-failed is a verdict an event carries; unknown and nothing are not")
	}
}

func TestDecodeCameraThumbnail(t *testing.T) {
	tests := []struct {
		name    string
		data    []byte
		wantLen int // of the JPEG; 0 refuses
	}{
		{"small", thumbnailJSON(jpegOf(600)), 600},
		{"the largest", thumbnailJSON(jpegOf(sitebus.MaxThumbnail)), sitebus.MaxThumbnail},
		{"one byte too large", thumbnailJSON(jpegOf(sitebus.MaxThumbnail + 1)), 0},
		{"not a JPEG", thumbnailJSON([]byte("GIF89a....")), 0},
		{"empty", thumbnailJSON(nil), 0},
		{"too long a message", thumbnailJSON(jpegOf(sitebus.MaxMessage)), 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			th, err := sitebus.DecodeCameraThumbnail(tc.data)
			if tc.wantLen == 0 {
				if err == nil || !errors.Is(err, sitebus.ErrMessage) {
					t.Fatalf("DecodeCameraThumbnail accepted %d bytes of JPEG (%v)", len(th.JPEG), err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(th.JPEG) != tc.wantLen || !th.At.Equal(time.Date(2026, 11, 22, 23, 5, 0, 0, time.UTC)) {
				t.Errorf("decoded %d bytes at %v", len(th.JPEG), th.At)
			}
		})
	}
	// The largest thumbnail still fits a site-bus message once wrapped in one.
	data := thumbnailJSON(jpegOf(sitebus.MaxThumbnail))
	m := sitebus.Message{Time: time.Date(2026, 11, 22, 23, 5, 0, 0, time.UTC), Boot: strings.Repeat("b", 64), Seq: 1 << 62,
		Kind: sitebus.CameraThumbnailKind, Data: data}
	if b := m.Encode(); len(b) > sitebus.MaxMessage {
		t.Errorf("a message with the largest thumbnail is %d bytes, more than MaxMessage %d", len(b), sitebus.MaxMessage)
	} else if _, err := sitebus.Decode(b); err != nil {
		t.Errorf("a message with the largest thumbnail: %v", err)
	}
}

// roundTrip checks that v, accepted by decode, encodes to what decode accepts again
// and encodes the same.
func roundTrip(t *testing.T, v any, decode func([]byte) (any, error)) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	again, err := decode(b)
	if err != nil {
		t.Fatalf("decode(Marshal(v)) for %s: %v", b, err)
	}
	b2, err := json.Marshal(again)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, b2) {
		t.Fatalf("decode(Marshal(v)) changed it:\n%s\n%s", b, b2)
	}
}

// TestBadCameraCorpus checks that every file in testdata/bad/{camerastatus,cameraevent,
// camerathumbnail} is refused (camera events as kind offline, a verdict, so that it is
// the data that is refused).
func TestBadCameraCorpus(t *testing.T) {
	decoders := []struct {
		kind   string
		decode func([]byte) (any, error)
	}{
		{"camerastatus", func(b []byte) (any, error) { return sitebus.DecodeCameraStatus(b) }},
		{"cameraevent", func(b []byte) (any, error) { return sitebus.DecodeCameraEvent(sitebus.CameraOffline, b) }},
		{"camerathumbnail", func(b []byte) (any, error) { return sitebus.DecodeCameraThumbnail(b) }},
	}
	for _, d := range decoders {
		for _, f := range badFiles(t, d.kind) {
			t.Run(d.kind+"/"+filepath.Base(f), func(t *testing.T) {
				v, err := d.decode(readFile(t, f))
				if err == nil {
					t.Fatalf("accepted as %+v", v)
				}
				if !errors.Is(err, sitebus.ErrMessage) {
					t.Fatalf("error %v is not ErrMessage", err)
				}
			})
		}
	}
}

func FuzzDecodeCameraStatus(f *testing.F) {
	f.Add([]byte(validCameraStatus))
	f.Add([]byte(`{"verdict":"unknown","lossPct":0,"picture":{"state":"none","why":"ffmpeg is not installed"}}`))
	for _, p := range badFiles(f, "camerastatus") {
		f.Add(readFile(f, p))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := sitebus.DecodeCameraStatus(data)
		if err != nil {
			if !errors.Is(err, sitebus.ErrMessage) {
				t.Fatalf("error %v is not ErrMessage", err)
			}
			return
		}
		if st.Verdict != sitebus.CameraUnknown && !sitebus.CameraVerdict(st.Verdict) || st.Seen != "" && !sitebus.CameraVerdict(st.Seen) ||
			st.Width < 0 || st.Height < 0 || st.FPS < 0 || st.LossPct < 0 || st.LossPct > 100 || st.Repeats < 0 {
			t.Fatalf("accepted %+v", st)
		}
		roundTrip(t, st, func(b []byte) (any, error) { return sitebus.DecodeCameraStatus(b) })
	})
}

func FuzzDecodeCameraEvent(f *testing.F) {
	f.Add(sitebus.CameraOffline, []byte(`{"previous":"online","reason":"connect: connection refused","since":"2026-11-22T23:00:00Z","lossPct":0}`))
	f.Add(sitebus.CameraOnline, []byte(`{"previous":"unknown","since":"2026-11-22T23:00:00Z","codec":"h264","width":640,"height":480,"fps":10,"lossPct":0}`))
	for _, p := range badFiles(f, "cameraevent") {
		f.Add(sitebus.CameraDegraded, readFile(f, p))
	}
	f.Fuzz(func(t *testing.T, kind string, data []byte) {
		ev, err := sitebus.DecodeCameraEvent(kind, data)
		if err != nil {
			if !errors.Is(err, sitebus.ErrMessage) {
				t.Fatalf("error %v is not ErrMessage", err)
			}
			return
		}
		if !sitebus.CameraVerdict(kind) || ev.Since.IsZero() || ev.Repeats < 0 || ev.Previous != sitebus.CameraUnknown && !sitebus.CameraVerdict(ev.Previous) {
			t.Fatalf("accepted %q %+v", kind, ev)
		}
		roundTrip(t, ev, func(b []byte) (any, error) { return sitebus.DecodeCameraEvent(kind, b) })
	})
}

func FuzzDecodeCameraThumbnail(f *testing.F) {
	f.Add(thumbnailJSON(jpegOf(600)))
	for _, p := range badFiles(f, "camerathumbnail") {
		f.Add(readFile(f, p))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		th, err := sitebus.DecodeCameraThumbnail(data)
		if err != nil {
			if !errors.Is(err, sitebus.ErrMessage) {
				t.Fatalf("error %v is not ErrMessage", err)
			}
			return
		}
		if len(th.JPEG) < 4 || len(th.JPEG) > sitebus.MaxThumbnail || th.JPEG[0] != 0xFF || th.JPEG[1] != 0xD8 {
			t.Fatalf("accepted a thumbnail of %d bytes starting % x", len(th.JPEG), th.JPEG[:min(len(th.JPEG), 2)])
		}
	})
}
