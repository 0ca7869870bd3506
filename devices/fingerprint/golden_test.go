package fingerprint

import (
	"bytes"
	"context"
	"io"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"
)

// golden is what a conversation of testdata/frames is: how to make a simulated
// module answer it, what the host does in it, and what the module holds after.
type golden struct {
	sim   SimOptions
	term  Options
	setup func(t *testing.T, s *Sim)
	host  func(t *testing.T, ctx context.Context, term *Terminal)
	after func(t *testing.T, s *Sim)
}

const finger = "X100001/right-index"

// step helpers for golden.host.
func must(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func capture(t *testing.T, ctx context.Context, term *Terminal, b Buffer) {
	t.Helper()
	must(t, "CaptureImage", term.CaptureImage(ctx))
	must(t, "Image2Tz", term.Image2Tz(ctx, b))
}

var goldens = map[string]golden{
	"as608-basic-flow.hex": {
		setup: func(t *testing.T, s *Sim) {
			s.PlaceFinger(finger)
			s.PutTemplate(1, finger)
			s.SetScore(finger, 0x38)
		},
		host: func(t *testing.T, ctx context.Context, term *Terminal) {
			must(t, "VerifyPassword", term.VerifyPassword(ctx))
			capture(t, ctx, term, CharBuffer1)
			slot, score, err := term.Search(ctx, CharBuffer1, 0, 10)
			if err != nil || slot != 1 || score != 0x38 {
				t.Errorf("Search = %d, %d, %v; want 1, 56", slot, score, err)
			}
		},
	},
	"t6-readsyspara.hex": {
		sim: SimOptions{Capacity: 100, SystemID: 0x2EC8},
		setup: func(t *testing.T, s *Sim) {
			// The capture's status register says the password was verified and an
			// image taken.
			s.Handle(CmdVfyPwd(0).Payload())
			s.PlaceFinger(finger)
			s.Handle(CmdGenImg().Payload())
		},
		host: func(t *testing.T, ctx context.Context, term *Terminal) {
			p, err := term.ReadSysParams(ctx)
			want := SysParams{StatusRegister: 0x000C, SystemID: 0x2EC8, Capacity: 100, SecurityLevel: 3,
				Address: DefaultAddress, PacketSizeCode: 2, PacketSize: 128, BaudMultiple: 6, Baud: 57600}
			if err != nil || p != want {
				t.Errorf("ReadSysParams = %+v, %v; want %+v", p, err, want)
			}
		},
	},
	"t6-templatenum.hex": {
		setup: func(t *testing.T, s *Sim) { s.PutTemplate(5, finger) },
		host: func(t *testing.T, ctx context.Context, term *Terminal) {
			if n, err := term.TemplateCount(ctx); err != nil || n != 1 {
				t.Errorf("TemplateCount = %d, %v", n, err)
			}
		},
	},
	"t6-enrol.hex": {
		setup: func(t *testing.T, s *Sim) { s.PlaceFinger(finger) },
		host: func(t *testing.T, ctx context.Context, term *Terminal) {
			capture(t, ctx, term, CharBuffer1)
			capture(t, ctx, term, CharBuffer2)
			must(t, "CreateModel", term.CreateModel(ctx))
			must(t, "Store", term.Store(ctx, CharBuffer1, 0))
		},
		after: func(t *testing.T, s *Sim) {
			if got := s.Slots(); !reflect.DeepEqual(got, map[int]string{0: finger}) {
				t.Errorf("library %v", got)
			}
		},
	},
	"t6-match.hex": {
		setup: func(t *testing.T, s *Sim) { s.PlaceFinger(finger); s.SetScore(finger, 275) },
		host: func(t *testing.T, ctx context.Context, term *Terminal) {
			capture(t, ctx, term, CharBuffer1)
			capture(t, ctx, term, CharBuffer2)
			if score, err := term.Match(ctx); err != nil || score != 275 {
				t.Errorf("Match = %d, %v", score, err)
			}
		},
	},
	"t6-search.hex": {
		setup: func(t *testing.T, s *Sim) {
			s.PutTemplate(0, "X100002/left-thumb")
			s.PutTemplate(1, finger)
			s.SetScore(finger, 0x50)
			s.PlaceFinger(finger)
		},
		host: func(t *testing.T, ctx context.Context, term *Terminal) {
			capture(t, ctx, term, CharBuffer1)
			slot, score, err := term.Search(ctx, CharBuffer1, 1, 16)
			if err != nil || slot != 1 || score != 0x50 {
				t.Errorf("Search = %d, %d, %v; want 1, 80", slot, score, err)
			}
		},
	},
	"t6-delete.hex": {
		setup: func(t *testing.T, s *Sim) { s.PutTemplate(1, finger); s.PutTemplate(2, "X2/left-index") },
		host: func(t *testing.T, ctx context.Context, term *Terminal) {
			must(t, "Delete", term.Delete(ctx, 1, 1))
		},
		after: func(t *testing.T, s *Sim) {
			if got := s.Slots(); !reflect.DeepEqual(got, map[int]string{2: "X2/left-index"}) {
				t.Errorf("library %v", got)
			}
		},
	},
	"t6-empty.hex": {
		setup: func(t *testing.T, s *Sim) { s.PutTemplate(0, finger); s.PutTemplate(199, finger) },
		host:  func(t *testing.T, ctx context.Context, term *Terminal) { must(t, "Empty", term.Empty(ctx)) },
		after: func(t *testing.T, s *Sim) {
			if got := s.Slots(); len(got) != 0 {
				t.Errorf("library %v", got)
			}
		},
	},
	"r503-aura.hex": {
		sim:  SimOptions{LED: LEDAura},
		term: Options{LED: LEDAura},
		host: func(t *testing.T, ctx context.Context, term *Terminal) {
			must(t, "SetAura", term.SetAura(ctx, Aura{Control: AuraOff, Speed: 0x80, Color: AuraRed}))
		},
		after: func(t *testing.T, s *Sim) {
			if a := s.State().Aura; a != (Aura{AuraOff, 0x80, AuraRed, 0}) {
				t.Errorf("aura %+v", a)
			}
		},
	},
}

// TestGoldenFramesDecode: every frame of testdata/frames is a good packet, a
// command from the host or an acknowledgement from the module, and each file
// is in the table above.
func TestGoldenFramesDecode(t *testing.T) {
	for _, f := range glob(t, "frames/*.hex", len(goldens)) {
		if _, ok := goldens[filepath.Base(f)]; !ok {
			t.Errorf("%s is not in goldens", f)
		}
		for i, st := range readSteps(t, f) {
			p, err := Decode(st.b, DefaultAddress)
			want := PIDAck
			if st.host {
				want = PIDCommand
			}
			if err != nil || p.PID != want {
				t.Errorf("%s frame %d: %v, %v", f, i, p, err)
			}
		}
	}
}

// replay is a module that answers a conversation: it reads each frame the host
// writes and compares it with the conversation's, byte for byte, then writes the
// module's frames after it.
func replay(t *testing.T, steps []step) *end {
	host, module := pipes()
	var wg sync.WaitGroup
	wg.Go(func() {
		for i, st := range steps {
			if !st.host {
				if _, err := module.Write(st.b); err != nil {
					t.Errorf("frame %d: %v", i, err)
					return
				}
				continue
			}
			got := make([]byte, len(st.b))
			if _, err := io.ReadFull(module, got); err != nil {
				t.Errorf("frame %d: the host wrote no more: %v", i, err)
				return
			}
			if !bytes.Equal(got, st.b) {
				t.Errorf("frame %d: the host wrote\n% X\nwant\n% X", i, got, st.b)
			}
		}
	})
	t.Cleanup(func() {
		host.Close()
		module.Close()
		wg.Wait()
	})
	return host
}

// TestGoldenDriver: what the Terminal writes is the conversation's commands,
// byte for byte, and it reads the conversation's replies as they mean.
func TestGoldenDriver(t *testing.T) {
	for name, g := range goldens {
		t.Run(name, func(t *testing.T) {
			port := replay(t, readSteps(t, filepath.Join("testdata", "frames", name)))
			to := g.term
			to.Timeout = time.Second
			term := NewTerminal(port, to)
			defer term.Close()
			g.host(t, t.Context(), term)
			if bad := term.Bad(); len(bad) != 0 {
				t.Errorf("bad frames %v", bad)
			}
		})
	}
}

// TestGoldenSim: what the simulated module answers the conversation's commands
// is the conversation's replies, byte for byte.
func TestGoldenSim(t *testing.T) {
	for name, g := range goldens {
		t.Run(name, func(t *testing.T) {
			sim := NewSim(g.sim)
			if g.setup != nil {
				g.setup(t, sim)
			}
			host, module := pipes()
			serve(t, sim, module, func() { host.Close() })
			for i, st := range readSteps(t, filepath.Join("testdata", "frames", name)) {
				if st.host {
					if _, err := host.Write(st.b); err != nil {
						t.Fatalf("frame %d: %v", i, err)
					}
					continue
				}
				if got := readN(t, host, len(st.b), time.Second); !bytes.Equal(got, st.b) {
					t.Errorf("frame %d: the module answered\n% X\nwant\n% X", i, got, st.b)
				}
			}
			if g.after != nil {
				g.after(t, sim)
			}
		})
	}
}
