package camera

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"syscall"
	"time"

	"github.com/apedge/apedge/devices/rtsp"
	"github.com/apedge/apedge/internal/clock"
)

// Stage is how far a check got.
type Stage string

// Stages of a check.
const (
	StageConnect  Stage = "connect"
	StageAuth     Stage = "auth"
	StageDescribe Stage = "describe"
	StageSetup    Stage = "setup"
	StageMedia    Stage = "media"
)

// Target is a camera to check and how.
type Target struct {
	// URL is the stream; Credentials, when set, win over any in the URL.
	URL         string
	Credentials *rtsp.Credentials
	Transport   rtsp.Transport
	// Timeout bounds each step of the session.
	Timeout time.Duration
	// Sample is how long media is read; a check with no media, or with RTP
	// timestamps that do not move, reads on to StallAfter before it ends.
	Sample, StallAfter time.Duration
}

// Figures are what a check measured of the stream.
type Figures struct {
	Codec, Profile, Level string
	Width, Height         int
	Packets, Lost         uint64
	LossPct               float64
	Frames, Keyframes     int
	FPS, BitrateKbps      float64
	// KeyframeInterval is the time between keyframes, by RTP timestamps.
	KeyframeInterval time.Duration
	// FirstFrame is the time from PLAY to the first keyframe, zero if none came.
	FirstFrame time.Duration
	// LastKeyframe is when the last keyframe came.
	LastKeyframe time.Time
}

// Result is one check of a camera.
type Result struct {
	// Stage is how far the check got; Err, when set, is why it went no further
	// (at StageMedia: the session broke while media was read). Err never holds a
	// credential.
	Stage Stage
	Err   error
	// Transport is how media came (tcp, udp).
	Transport string
	Stats     Figures
	// Read is how long media was read; Silent how long the last packet was before the
	// check's end; TimestampsStill how long the RTP timestamps had not moved at it.
	Read, Silent, TimestampsStill time.Duration
	// Keyframe is the last whole keyframe with its parameter sets (Annex B), for a
	// thumbnail; nil if none came.
	Keyframe []byte
	// Picture is the verdict on the latest thumbnail (set by the caller).
	Picture Picture
	// Started and Ended are when the check began and ended.
	Started, Ended time.Time
}

// Budget is the most time a check of t may take: each step's time for the
// connection and its requests (twice, for a fallback from UDP to TCP), the longest
// sample (the sample, and on to the stall time) and the TEARDOWN. A caller bounds a
// check by it, so that a hung camera is let go and a sample is never cut short.
func Budget(t Target) time.Duration {
	return 12*t.Timeout + t.Sample + t.StallAfter + 2*time.Second
}

// Check checks one camera: a short session (connect, OPTIONS, DESCRIBE, SETUP,
// PLAY, enough media to judge, TEARDOWN), each step bounded by t.Timeout and the
// whole by ctx. It never returns an error: what went wrong is the Result's.
func Check(ctx context.Context, t Target, clk clock.Clock, log *slog.Logger) *Result {
	w := OpenWatch(ctx, t, clk, log)
	defer w.Close(ctx)
	return w.Sample(ctx)
}

// Watch is a session kept open with a camera, judged a sample at a time.
type Watch struct {
	t       Target
	clk     clock.Clock
	s       *rtsp.Session
	track   rtsp.Track
	started time.Time
	sampled bool    // a sample has been read
	failed  *Result // why the session did not open
}

// OpenWatch opens a session with the camera and plays its first video track. A
// failure is kept for Sample to return.
func OpenWatch(ctx context.Context, t Target, clk clock.Clock, log *slog.Logger) *Watch {
	clk = clock.Or(clk)
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	w := &Watch{t: t, clk: clk, started: clk.Now()}
	fail := func(st Stage, err error) *Watch {
		w.failed = &Result{Started: w.started, Ended: clk.Now(), Stage: st, Err: plain(err)}
		return w
	}
	s, err := rtsp.Dial(ctx, t.URL, rtsp.Options{Credentials: t.Credentials, Transport: t.Transport,
		StepTimeout: t.Timeout, Clock: clk, Log: log, UDPSilence: min(2*time.Second, t.Sample)})
	if err != nil {
		return fail(stageOf(err, StageDescribe), err)
	}
	w.s, w.track = s, s.Tracks()[0]
	if err := s.Play(ctx, w.track); err != nil {
		if errors.Is(err, rtsp.ErrNoMedia) && ctx.Err() == nil { // set up, and silent
			w.failed = &Result{Started: w.started, Ended: clk.Now(), Stage: StageMedia, Transport: string(rtsp.TransportUDP),
				Read: min(2*time.Second, t.Sample), Silent: min(2*time.Second, t.Sample)}
			return w
		}
		return fail(stageOf(err, StageSetup), err)
	}
	return w
}

// Sample reads one sample of media (on to the stall time when none comes or its
// timestamps do not move) and returns what it measured. After a failure it returns
// the failure.
func (w *Watch) Sample(ctx context.Context) *Result {
	if w.failed != nil {
		return w.failed
	}
	t, clk := w.t, w.clk
	r := &Result{Started: w.started, Stage: StageMedia, Transport: string(w.s.Transport())}
	// The first sample's time to the first keyframe is from PLAY (packets may have
	// come while Play waited for them); a later one's from its own start.
	from := clk.Now()
	if !w.sampled {
		from, w.sampled = w.s.PlayedAt(), true
	}
	w.started = clk.Now()
	defer func() { r.Ended = clk.Now() }()
	in, err := rtsp.NewInspector(w.track, from)
	if err != nil {
		r.Err = err
		w.failed = r
		return r
	}
	start := time.Now()
	end := start.Add(t.Sample)
	stallEnd := start.Add(t.Sample + t.StallAfter) // the most a sample reads
	var last time.Time
	dl := &readDeadline{parent: ctx}
	defer dl.stop()
	for {
		p, err := w.s.ReadPacket(dl.at(end))
		if err == nil {
			in.Packet(p.RTP, p.At)
			last = time.Now()
			continue
		}
		if ctx.Err() != nil {
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				// Cut short by the check's own limit: not a sample to judge.
				r.Err = errors.New("the check ran out of its time before the sample was read")
				w.failed = r
			}
			break
		}
		if !errors.Is(err, rtsp.ErrNoMedia) {
			r.Err = plain(err)
			w.failed = r
			break
		}
		// The sample is read. Quiet at its end (no media, or timestamps that do not
		// move, for a second or more), read on until the quiet has lasted the stall
		// time, or has ended, before saying so.
		now := time.Now()
		st := in.Stats(clk.Now())
		quiet := now.Sub(start)
		if !last.IsZero() {
			quiet = max(now.Sub(last), seconds(st.SinceTimestampChanged))
		}
		if quiet >= time.Second && quiet < t.StallAfter {
			next := now.Add(t.StallAfter - quiet + 50*time.Millisecond)
			if next.After(stallEnd) {
				next = stallEnd
			}
			if next.After(now) {
				end = next
				continue
			}
		}
		break
	}
	now := time.Now()
	r.Read = now.Sub(start)
	if last.IsZero() {
		r.Silent = r.Read
	} else {
		r.Silent = now.Sub(last)
	}
	st := in.Stats(clk.Now())
	r.Stats = figuresOf(st)
	if st.Packets > 0 {
		r.TimestampsStill = seconds(st.SinceTimestampChanged)
	}
	r.Keyframe = in.Keyframe()
	return r
}

// readDeadline is one context for the reads until end, and a new one only when end
// moves: not a timer for every packet.
type readDeadline struct {
	parent, ctx context.Context
	cancel      context.CancelFunc
	end         time.Time
}

func (d *readDeadline) at(end time.Time) context.Context {
	if d.ctx == nil || !end.Equal(d.end) {
		d.stop()
		d.ctx, d.cancel = context.WithDeadline(d.parent, end)
		d.end = end
	}
	return d.ctx
}

func (d *readDeadline) stop() {
	if d.cancel != nil {
		d.cancel()
	}
}

// Close tears the session down.
func (w *Watch) Close(ctx context.Context) {
	if w.s != nil {
		w.s.Close(ctx)
	}
}

// figuresOf keeps what the verdicts and the site bus need of the inspector's stats.
func figuresOf(st rtsp.Stats) Figures {
	return Figures{Codec: st.Codec, Profile: st.Profile, Level: st.Level, Width: st.Width, Height: st.Height,
		Packets: uint64(st.Packets), Lost: uint64(st.LostPackets), LossPct: st.LossPercent,
		Frames: int(st.Frames), Keyframes: int(st.Keyframes), FPS: st.FPS, BitrateKbps: st.BitrateKbps,
		KeyframeInterval: seconds(st.KeyframeInterval), FirstFrame: seconds(st.TimeToFirstKeyframe),
		LastKeyframe: st.LastKeyframe}
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// stageOf says at which stage err ended a session, def when the error says no more.
func stageOf(err error, def Stage) Stage {
	var op *net.OpError
	switch {
	case errors.Is(err, rtsp.ErrAuth):
		return StageAuth
	case errors.As(err, &op) && op.Op == "dial": // the client wraps the dialler's error
		return StageConnect
	}
	return def
}

// plain rewords err for a person: the cause, without the library's layers where a
// word says it better.
func plain(err error) error {
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return errors.New("connection refused: the camera is off, or not listening on that port")
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return errors.New("the camera's address cannot be reached")
	case errors.Is(err, syscall.ECONNRESET):
		return errors.New("the camera reset the connection")
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("no answer in time: %w", err)
	}
	return err
}
