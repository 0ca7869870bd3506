package rtsp

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apedge/apedge/internal/clock"
	"github.com/apedge/apedge/internal/clock/clocktest"
	"github.com/apedge/apedge/internal/wait"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

// simEpoch is the day the simulator's test clocks start on, far from any day the
// tests run.
var simEpoch = time.Date(2026, 11, 22, 22, 0, 0, 0, time.UTC)

// simFast is a clock running speed times as fast as real time, so that seconds of a
// camera's stream pass in a fraction of one.
func simFast(speed float64) clock.Clock {
	c := clock.Scaled(nil, simEpoch, speed)
	c.Run()
	return c
}

// startSim starts a simulated camera on a loopback port for the test's duration and
// checks that it shuts down.
func startSim(t *testing.T, o SimOptions) (*SimCamera, string) {
	t.Helper()
	s, err := NewSimCamera(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	u, err := s.Start(ctx, "")
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		select {
		case <-s.Done():
		case <-time.After(5 * time.Second):
			t.Error("the simulator did not shut down")
		}
	})
	return s, u
}

// simClient speaks raw RTSP to the simulator with the package's codec.
type simClient struct {
	t    *testing.T
	c    net.Conn
	br   *bufio.Reader
	rd   *Reader
	cseq int
	url  string
	// auth, if set, answers a 401 once with these credentials.
	auth *Credentials
	nc   int
}

func dialSim(t *testing.T, u string) *simClient {
	t.Helper()
	c, err := net.DialTimeout("tcp", strings.TrimPrefix(u[:strings.LastIndex(u, "/")], "rtsp://"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	br := bufio.NewReader(c)
	rd := NewReader(br)
	rd.Channels = map[uint8]bool{0: true, 1: true}
	return &simClient{t: t, c: c, br: br, rd: rd, url: u}
}

// send writes a request.
func (c *simClient) send(method, u string, h Header) error {
	c.cseq++
	c.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	return WriteRequest(c.c, &Request{Method: method, URL: u, Header: h}, c.cseq)
}

// do sends a request and returns its response, skipping any frames before it, and
// answering a 401 once if c.auth is set.
func (c *simClient) do(method, u string, h Header) *Response {
	c.t.Helper()
	r, err := c.try(method, u, h)
	if err != nil {
		c.t.Fatalf("%s: %v", method, err)
	}
	return r
}

func (c *simClient) try(method, u string, h Header) (*Response, error) {
	if err := c.send(method, u, h); err != nil {
		return nil, err
	}
	r, err := c.response()
	if err == nil && r.Status == 401 && c.auth != nil {
		cs, err := ParseChallenges(r.Header.Values("WWW-Authenticate"))
		if err != nil || len(cs) == 0 {
			return nil, fmt.Errorf("401 without a usable challenge: %v", err)
		}
		c.nc++
		a, err := cs[0].Authorize(*c.auth, method, u, c.nc, "")
		if err != nil {
			return nil, err
		}
		if err := c.send(method, u, append(h, [2]string{"Authorization", a})); err != nil {
			return nil, err
		}
		return c.response()
	}
	return r, err
}

// response reads up to the response to the last request.
func (c *simClient) response() (*Response, error) {
	c.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		m, err := c.rd.Read()
		if err != nil {
			return nil, err
		}
		if r, ok := m.(*Response); ok {
			if r.CSeq() != c.cseq {
				return nil, fmt.Errorf("response CSeq %d to request %d", r.CSeq(), c.cseq)
			}
			return r, nil
		}
	}
}

// setupTCP sets up TCP-interleaved transport and returns the session ID and SSRC.
func (c *simClient) setupTCP() (string, uint32) {
	c.t.Helper()
	r := c.do("SETUP", c.url+"/trackID=0", Header{{"Transport", "RTP/AVP/TCP;unicast;interleaved=0-1"}})
	if r.Status != 200 {
		c.t.Fatalf("SETUP: %d", r.Status)
	}
	id, _, _ := strings.Cut(r.Header.Get("Session"), ";")
	return id, transportSSRC(c.t, r.Header.Get("Transport"))
}

// play plays the session and returns the RTP-Info seq and rtptime.
func (c *simClient) play(session string) (uint16, uint32) {
	c.t.Helper()
	r := c.do("PLAY", c.url+"/", Header{{"Session", session}, {"Range", "npt=0.000-"}})
	if r.Status != 200 {
		c.t.Fatalf("PLAY: %d", r.Status)
	}
	var seq, ts uint64
	for _, p := range strings.Split(r.Header.Get("RTP-Info"), ";") {
		k, v, _ := strings.Cut(p, "=")
		switch k {
		case "seq":
			seq, _ = strconv.ParseUint(v, 10, 16)
		case "rtptime":
			ts, _ = strconv.ParseUint(v, 10, 32)
		}
	}
	if r.Header.Get("Range") == "" {
		c.t.Error("PLAY answered without Range")
	}
	return uint16(seq), uint32(ts)
}

func transportSSRC(t *testing.T, tr string) uint32 {
	t.Helper()
	for _, p := range strings.Split(tr, ";") {
		if v, ok := strings.CutPrefix(p, "ssrc="); ok {
			n, err := strconv.ParseUint(v, 16, 32)
			if err != nil {
				t.Fatalf("Transport %s: %v", tr, err)
			}
			return uint32(n)
		}
	}
	t.Fatalf("Transport %s without ssrc", tr)
	return 0
}

// simRead is what readRTP saw.
type simRead struct {
	pkts     []*rtp.Packet
	rtcp     [][]byte
	requests []*Request
}

// readRTP reads interleaved frames until n RTP packets have come, or until stop says so
// after a frame, the connection ends or the deadline passes; the error is the
// connection's.
func (c *simClient) readRTP(n int, timeout time.Duration, stop func(*simRead) bool) (simRead, error) {
	c.t.Helper()
	var out simRead
	c.c.SetReadDeadline(time.Now().Add(timeout))
	for len(out.pkts) < n {
		m, err := c.rd.Read()
		if err != nil {
			return out, err
		}
		switch m := m.(type) {
		case *Frame:
			if m.Channel == 1 {
				out.rtcp = append(out.rtcp, m.Payload)
				if stop != nil && stop(&out) {
					return out, nil
				}
				continue
			}
			var p rtp.Packet
			if err := p.Unmarshal(m.Payload); err != nil {
				c.t.Fatalf("an RTP packet pion cannot read: %v", err)
			}
			out.pkts = append(out.pkts, &p)
			if stop != nil && stop(&out) {
				return out, nil
			}
		case *Request:
			out.requests = append(out.requests, m)
		}
	}
	return out, nil
}

// frames groups packets by timestamp, in order.
func simFrames(pkts []*rtp.Packet) [][]*rtp.Packet {
	var out [][]*rtp.Packet
	for i, p := range pkts {
		if i == 0 || p.Timestamp != pkts[i-1].Timestamp {
			out = append(out, nil)
		}
		out[len(out)-1] = append(out[len(out)-1], p)
	}
	return out
}

// simNALTypes lists the NAL unit types an RTP payload carries (RFC 6184 section 5.2,
// RFC 7798 section 4.4), the fragment's type for an FU.
func simNALTypes(codec string, pl []byte) []uint8 {
	if len(pl) < 3 {
		return nil
	}
	if codec == CodecH265 {
		switch t := pl[0] >> 1 & 0x3f; t {
		case 48:
			var out []uint8
			for b := pl[2:]; len(b) >= 3; {
				n := int(binary.BigEndian.Uint16(b))
				if n == 0 || 2+n > len(b) {
					break
				}
				out = append(out, b[2]>>1&0x3f)
				b = b[2+n:]
			}
			return out
		case 49:
			return []uint8{pl[2] & 0x3f}
		default:
			return []uint8{t}
		}
	}
	switch t := pl[0] & 0x1f; t {
	case 24:
		var out []uint8
		for b := pl[1:]; len(b) >= 3; {
			n := int(binary.BigEndian.Uint16(b))
			if n == 0 || 2+n > len(b) {
				break
			}
			out = append(out, b[2]&0x1f)
			b = b[2+n:]
		}
		return out
	case 28:
		return []uint8{pl[1] & 0x1f}
	default:
		return []uint8{t}
	}
}

// simHasKeyframe says whether a frame's packets carry an IDR or IRAP picture.
func simHasKeyframe(codec string, frame []*rtp.Packet) bool {
	for _, p := range frame {
		for _, t := range simNALTypes(codec, p.Payload) {
			if codec == CodecH264 && t == 5 || codec == CodecH265 && t >= 16 && t <= 21 {
				return true
			}
		}
	}
	return false
}

// simFirstNAL finds the first NAL unit of type typ in an Annex-B stream, by looking
// for start codes (independently of the simulator's parser).
func simFirstNAL(codec string, b []byte, typ uint8) []byte {
	for i := 0; ; {
		j := bytes.Index(b[i:], []byte{0, 0, 1})
		if j < 0 {
			return nil
		}
		start := i + j + 3
		end := len(b)
		if k := bytes.Index(b[start:], []byte{0, 0, 1}); k >= 0 {
			end = start + k
		}
		nal := bytes.TrimRight(b[start:end], "\x00")
		t := nal[0] & 0x1f
		if codec == CodecH265 {
			t = nal[0] >> 1 & 0x3f
		}
		if t == typ {
			return nal
		}
		i = start
	}
}

func TestFixtures(t *testing.T) {
	for _, name := range Fixtures() {
		b, err := Fixture(name)
		if err != nil || len(b) < 1000 || !bytes.HasPrefix(b, []byte{0, 0, 0, 1}) {
			t.Errorf("%s: %d bytes, %v", name, len(b), err)
		}
		b[0] = 0xff // a copy: the next caller gets the file as it is
		if again, _ := Fixture(name); again[0] != 0 {
			t.Errorf("%s: Fixture hands out the embedded bytes themselves", name)
		}
	}
	for _, bad := range []string{"", "nope.h264", "../sim.go", "bad/request-http"} {
		if _, err := Fixture(bad); err == nil {
			t.Errorf("Fixture(%q) succeeded", bad)
		}
	}
}

// TestSimMedia: each fixture is cut into its pictures and GOPs, as ffprobe counts them
// (40 frames with a keyframe every 10 in the 4 s files), and packetised under the MTU.
func TestSimMedia(t *testing.T) {
	tests := []struct {
		codec, fixture string
		aus            int
		gops           []int
	}{
		{CodecH264, FixtureH264, 40, []int{0, 10, 20, 30}},
		{CodecH265, FixtureH265, 40, []int{0, 10, 20, 30}},
		{CodecH264, FixtureH264High, 10, []int{0}},
		{CodecH265, FixtureH265Small, 10, []int{0}},
		{CodecH264, FixtureH264Black, 20, []int{0, 10}},
		{CodecH264, FixtureH264Covered, 20, []int{0, 10}},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			b, err := Fixture(tt.fixture)
			if err != nil {
				t.Fatal(err)
			}
			m, err := simParseMedia(tt.codec, b)
			if err != nil {
				t.Fatal(err)
			}
			if len(m.aus) != tt.aus || fmt.Sprint(m.gops) != fmt.Sprint(tt.gops) {
				t.Errorf("%d access units, GOPs at %v; want %d, %v", len(m.aus), m.gops, tt.aus, tt.gops)
			}
			for i, au := range m.aus {
				for _, pl := range au.payloads {
					if len(pl) > simMTU {
						t.Fatalf("access unit %d: a payload of %d bytes", i, len(pl))
					}
				}
			}
			if !bytes.Equal(m.sps, simFirstNAL(tt.codec, b, map[string]uint8{CodecH264: 7, CodecH265: 33}[tt.codec])) {
				t.Error("the SDP's SPS is not the fixture's first")
			}
		})
	}
	for _, bad := range [][]byte{nil, []byte("not annex b"), {0, 0, 1, 0x67}, {0, 0, 1, 0x41, 0x80, 0, 0, 1, 0x68, 1}} {
		if _, err := simParseMedia(CodecH264, bad); err == nil {
			t.Errorf("%q: parsed", bad)
		}
	}
	if _, err := NewSimCamera(SimOptions{Codec: CodecH265, Fixture: mustFixture(t, FixtureH264)}); err == nil {
		t.Error("an H.264 fixture was served as H.265")
	}
}

func mustFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := Fixture(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSimParseTransports(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"RTP/AVP/TCP;unicast;interleaved=0-1", "tcp 0-1"},
		{"RTP/AVP/TCP;unicast", "tcp 0-1"},
		{"RTP/AVP/TCP;unicast;interleaved=4-5;mode=play", "tcp 4-5"},
		{"RTP/AVP;unicast;client_port=5000-5001", "udp 5000-5001"},
		{"RTP/AVP/UDP;unicast;client_port=6000", "udp 6000-6001"},
		{"RTP/AVP;multicast;client_port=5000-5001, RTP/AVP/TCP;interleaved=2-3", "tcp 2-3"},
		{"RTP/AVP;unicast;client_port=5000-5001,RTP/AVP/TCP;unicast;interleaved=0-1", "udp 5000-5001 tcp 0-1"},
		{"RTP/AVP;unicast", ""},
		{"RTP/AVP;unicast;client_port=0-1", ""},
		{"RTP/AVP;unicast;client_port=70000-70001", ""},
		{"RTP/AVP/TCP;interleaved=300-301", ""},
		{"RTP/SAVP;unicast;client_port=5000-5001", ""},
		{"", ""},
	}
	for _, tt := range tests {
		var got []string
		for _, tr := range simParseTransports(tt.in) {
			if tr.tcp {
				got = append(got, fmt.Sprintf("tcp %d-%d", tr.rtpCh, tr.rtcpCh))
			} else {
				got = append(got, fmt.Sprintf("udp %d-%d", tr.rtpPort, tr.rtcpPort))
			}
		}
		if strings.Join(got, " ") != tt.want {
			t.Errorf("%q: %q, want %q", tt.in, strings.Join(got, " "), tt.want)
		}
	}
}

// TestSimDescribe: OPTIONS lists the methods, and DESCRIBE's SDP parses with ParseTracks
// into the fixture's codec, a control URL under Content-Base and the fixture's
// parameter sets.
func TestSimDescribe(t *testing.T) {
	t.Parallel()
	tests := []struct {
		codec, fixture string
		types          []uint8
	}{
		{CodecH264, FixtureH264, []uint8{7, 8}},
		{CodecH265, FixtureH265, []uint8{32, 33, 34}},
		{CodecH264, FixtureH264High, []uint8{7, 8}},
		{CodecH265, FixtureH265Small, []uint8{32, 33, 34}},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			fx := mustFixture(t, tt.fixture)
			_, u := startSim(t, SimOptions{Codec: tt.codec, Fixture: fx})
			c := dialSim(t, u)
			r := c.do("OPTIONS", u, nil)
			for _, m := range []string{"OPTIONS", "DESCRIBE", "SETUP", "PLAY", "TEARDOWN", "GET_PARAMETER"} {
				if !strings.Contains(r.Header.Get("Public"), m) {
					t.Errorf("Public %q lacks %s", r.Header.Get("Public"), m)
				}
			}
			r = c.do("DESCRIBE", u, Header{{"Accept", "application/sdp"}})
			if r.Status != 200 || r.Header.Get("Content-Type") != "application/sdp" || r.Header.Get("Content-Base") != u+"/" {
				t.Fatalf("DESCRIBE: %d, %v", r.Status, r.Header)
			}
			for _, want := range []string{"a=framerate:10", "a=control:trackID=0"} {
				if !bytes.Contains(r.Body, []byte(want)) {
					t.Errorf("SDP lacks %s:\n%s", want, r.Body)
				}
			}
			tracks, err := ParseTracks(r.Body, BaseURL(r, u))
			if err != nil {
				t.Fatal(err)
			}
			tr := tracks[0]
			if len(tracks) != 1 || tr.Codec != tt.codec || tr.ClockRate != 90000 || tr.PayloadType != 96 || tr.Control != u+"/trackID=0" {
				t.Fatalf("tracks %+v", tracks)
			}
			if len(tr.ParameterSets) != len(tt.types) {
				t.Fatalf("%d parameter sets, want %d", len(tr.ParameterSets), len(tt.types))
			}
			for i, typ := range tt.types {
				if !bytes.Equal(tr.ParameterSets[i], simFirstNAL(tt.codec, fx, typ)) {
					t.Errorf("parameter set %d is not the fixture's first NAL unit of type %d", i, typ)
				}
			}
			if tt.codec == CodecH264 && !bytes.Contains(r.Body, []byte("packetization-mode=1")) {
				t.Error("no packetization-mode=1")
			}
			if r := c.do("DESCRIBE", strings.TrimSuffix(u, "stream1")+"other", nil); r.Status != 404 {
				t.Errorf("DESCRIBE of another path: %d", r.Status)
			}
			if r := c.do("PAUSE", u, Header{{"Session", "X"}}); r.Status != 501 {
				t.Errorf("PAUSE: %d", r.Status)
			}
		})
	}
}

// TestSimPlayTCP: SETUP over TCP, then PLAY, gives interleaved RTP pion reads: one
// SSRC, contiguous sequence numbers from RTP-Info's, timestamps 9000 apart (10 fps at
// 90 kHz), a marker on each frame's last packet, a keyframe first, and frames paced in
// real time.
func TestSimPlayTCP(t *testing.T) {
	t.Parallel()
	for _, codec := range []string{CodecH264, CodecH265} {
		t.Run(codec, func(t *testing.T) {
			t.Parallel()
			s, u := startSim(t, SimOptions{Codec: codec})
			c := dialSim(t, u)
			id, ssrc := c.setupTCP()
			seq0, ts0 := c.play(id)
			began := time.Now()
			// 11 frames, the last one begun: a second of video
			got, err := c.readRTP(1<<20, 5*time.Second, func(r *simRead) bool { return len(simFrames(r.pkts)) == 12 })
			if err != nil {
				t.Fatal(err)
			}
			took := time.Since(began)
			pkts := got.pkts[:len(got.pkts)-1]
			frames := simFrames(pkts)
			for i, p := range pkts {
				if p.Version != 2 || p.PayloadType != 96 || p.SSRC != ssrc || p.SequenceNumber != seq0+uint16(i) {
					t.Fatalf("packet %d: %v", i, p.Header)
				}
			}
			if pkts[0].Timestamp != ts0 {
				t.Errorf("first timestamp %d, RTP-Info said %d", pkts[0].Timestamp, ts0)
			}
			for i, f := range frames {
				if f[0].Timestamp != ts0+uint32(9000*i) {
					t.Errorf("frame %d: timestamp %d, want %d", i, f[0].Timestamp, ts0+uint32(9000*i))
				}
				for j, p := range f {
					if p.Marker != (j == len(f)-1) {
						t.Errorf("frame %d packet %d: marker %v", i, j, p.Marker)
					}
				}
			}
			if fps := float64(len(frames)-1) * 90000 / float64(frames[len(frames)-1][0].Timestamp-ts0); fps != 10 {
				t.Errorf("%v fps by timestamps", fps)
			}
			if !simHasKeyframe(codec, frames[0]) || !simHasKeyframe(codec, frames[10]) || simHasKeyframe(codec, frames[1]) {
				t.Error("keyframes not where the GOP of 10 puts them")
			}
			if took < 900*time.Millisecond || took > 3*time.Second {
				t.Errorf("a second of video came in %v", took)
			}
			if r := c.do("TEARDOWN", u+"/", Header{{"Session", id}}); r.Status != 200 {
				t.Errorf("TEARDOWN: %d", r.Status)
			}
			wait.For(t, 2*time.Second, "counters", func() (bool, string) {
				n := s.Counters()
				return n.Sessions == 1 && n.Plays == 1 && n.Teardowns == 1 && n.PacketsSent >= int64(len(pkts)) && n.FramesSent >= 11, fmt.Sprintf("%+v", n)
			})
		})
	}
}

// simUDPPair listens on two consecutive loopback UDP ports.
func simUDPPair(t *testing.T) (*net.UDPConn, *net.UDPConn) {
	t.Helper()
	for range 50 {
		a, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		p := a.LocalAddr().(*net.UDPAddr).Port
		b, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: p + 1})
		if err != nil {
			a.Close()
			continue
		}
		t.Cleanup(func() { a.Close(); b.Close() })
		return a, b
	}
	t.Fatal("no two consecutive UDP ports")
	return nil, nil
}

// TestSimUDP: SETUP over UDP answers with the server's ports, RTP comes to the
// client's port from the server's, sender reports to its RTCP port, and a receiver
// report sent to the server's RTCP port is counted.
func TestSimUDP(t *testing.T) {
	t.Parallel()
	s, u := startSim(t, SimOptions{Codec: CodecH265, SenderReports: true, Clock: simFast(10)})
	rtpc, rtcpc := simUDPPair(t)
	cp := rtpc.LocalAddr().(*net.UDPAddr).Port
	c := dialSim(t, u)
	r := c.do("SETUP", u+"/trackID=0", Header{{"Transport", fmt.Sprintf("RTP/AVP;unicast;client_port=%d-%d", cp, cp+1)}})
	if r.Status != 200 {
		t.Fatalf("SETUP: %d", r.Status)
	}
	tr := r.Header.Get("Transport")
	var sp0, sp1 int
	for _, p := range strings.Split(tr, ";") {
		if v, ok := strings.CutPrefix(p, "server_port="); ok {
			fmt.Sscanf(v, "%d-%d", &sp0, &sp1)
		}
	}
	if !strings.Contains(tr, fmt.Sprintf("client_port=%d-%d", cp, cp+1)) || sp0 == 0 || sp1 != sp0+1 {
		t.Fatalf("Transport %s", tr)
	}
	ssrc := transportSSRC(t, tr)
	id, _, _ := strings.Cut(r.Header.Get("Session"), ";")
	seq0, _ := c.play(id)
	buf := make([]byte, 2048)
	rtpc.SetReadDeadline(time.Now().Add(5 * time.Second))
	for i := range 20 {
		n, from, err := rtpc.ReadFromUDP(buf)
		if err != nil {
			t.Fatal(err)
		}
		var p rtp.Packet
		if err := p.Unmarshal(buf[:n]); err != nil || p.SSRC != ssrc || p.SequenceNumber != seq0+uint16(i) || from.Port != sp0 {
			t.Fatalf("packet %d from %v: %v, %v", i, from, p.Header, err)
		}
	}
	// a sender report comes within 5 s of the camera's clock (half a second here)
	rtcpc.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, from, err := rtcpc.ReadFromUDP(buf)
	if err != nil {
		t.Fatal(err)
	}
	pkts, err := rtcp.Unmarshal(buf[:n])
	if sr, ok := pkts[0].(*rtcp.SenderReport); err != nil || !ok || sr.SSRC != ssrc || sr.PacketCount == 0 || from.Port != sp1 {
		t.Fatalf("RTCP %v from %v, %v", pkts, from, err)
	}
	rr, _ := (&rtcp.ReceiverReport{SSRC: 1, Reports: []rtcp.ReceptionReport{{SSRC: ssrc, LastSequenceNumber: uint32(seq0) + 19}}}).Marshal()
	if _, err := rtcpc.WriteToUDP(rr, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: sp1}); err != nil {
		t.Fatal(err)
	}
	wait.For(t, 3*time.Second, "the receiver report counted", func() (bool, string) {
		n := s.Counters()
		return n.ReceiverReports == 1, fmt.Sprintf("%+v", n)
	})
}

// TestSimAuth: Basic, Digest MD5 with and without qop and SHA-256 are accepted with
// the right password, and a wrong one is refused with a fresh challenge, through the
// client side's own Challenge.Authorize.
func TestSimAuth(t *testing.T) {
	t.Parallel()
	good := Credentials{"admin", "cam-pass:1"}
	bad := Credentials{"admin", "guess"}
	tests := []struct {
		name       string
		auth       string
		faults     Faults
		challenges []string // the schemes and algorithms of the 401, in order
		cred       Credentials
		pick       int // which challenge to answer
		want       int
	}{
		{"basic", AuthBasic, Faults{}, []string{"Basic"}, good, 0, 200},
		{"basic wrong password", AuthBasic, Faults{}, []string{"Basic"}, bad, 0, 401},
		{"digest", AuthDigest, Faults{}, []string{"Digest/auth"}, good, 0, 200},
		{"digest wrong password", AuthDigest, Faults{}, []string{"Digest/auth"}, bad, 0, 401},
		{"digest without qop", AuthDigestNoQop, Faults{}, []string{"Digest/"}, good, 0, 200},
		{"digest without qop, alias", "digest-nocqop", Faults{}, []string{"Digest/"}, good, 0, 200},
		{"sha-256", AuthDigestSHA256, Faults{}, []string{"Digest/SHA-256/auth", "Digest/MD5/auth"}, good, 0, 200},
		{"sha-256 camera, MD5 answer", AuthDigestSHA256, Faults{}, []string{"Digest/SHA-256/auth", "Digest/MD5/auth"}, good, 1, 200},
		{"sha-256 wrong password", AuthDigestSHA256, Faults{}, []string{"Digest/SHA-256/auth", "Digest/MD5/auth"}, bad, 0, 401},
		{"wrong-password fault", AuthDigest, Faults{WrongPassword: true}, []string{"Digest/auth"}, good, 0, 401},
		{"wrong-password fault, no auth", AuthNone, Faults{WrongPassword: true}, []string{"Basic"}, good, 0, 401},
		{"digest-only fault", AuthBasic, Faults{DigestOnly: true}, []string{"Digest/auth"}, good, 0, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, u := startSim(t, SimOptions{User: good.User, Password: good.Password, Auth: tt.auth, Faults: tt.faults})
			c := dialSim(t, u)
			r := c.do("DESCRIBE", u, nil)
			if r.Status != 401 {
				t.Fatalf("DESCRIBE without credentials: %d", r.Status)
			}
			var got []string
			values := r.Header.Values("WWW-Authenticate")
			cs, err := ParseChallenges(values)
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range values { // as offered, not as ParseChallenges ranks them
				one, _ := ParseChallenges([]string{v})
				d := one[0].Scheme
				if d == "Digest" {
					if one[0].Algorithm != "" {
						d += "/" + one[0].Algorithm
					}
					d += "/" + strings.Join(one[0].Qop, ",")
				}
				got = append(got, d)
			}
			if strings.Join(got, " ") != strings.Join(tt.challenges, " ") {
				t.Fatalf("challenges %q, want %q", got, tt.challenges)
			}
			a, err := cs[tt.pick].Authorize(tt.cred, "DESCRIBE", u, 1, "")
			if err != nil {
				t.Fatal(err)
			}
			r = c.do("DESCRIBE", u, Header{{"Authorization", a}})
			if r.Status != tt.want {
				t.Fatalf("DESCRIBE with credentials: %d, want %d", r.Status, tt.want)
			}
			if tt.want == 401 {
				again, _ := ParseChallenges(r.Header.Values("WWW-Authenticate"))
				if len(again) != len(cs) || (cs[0].Scheme == "Digest" && again[0].Nonce == cs[0].Nonce) {
					t.Errorf("refused without a fresh challenge: %v", r.Header.Values("WWW-Authenticate"))
				}
				if n := s.Counters(); n.AuthFailures != 1 || n.Challenges != 2 {
					t.Errorf("counters %+v", n)
				}
				return
			}
			if len(r.Body) == 0 {
				t.Error("no SDP")
			}
			// every request but OPTIONS needs the credentials
			if r := c.do("SETUP", u+"/trackID=0", Header{{"Transport", "RTP/AVP/TCP;unicast;interleaved=0-1"}}); r.Status != 401 {
				t.Errorf("SETUP without credentials: %d", r.Status)
			}
			if r := c.do("OPTIONS", u, nil); r.Status != 200 {
				t.Errorf("OPTIONS: %d", r.Status)
			}
		})
	}
}

// TestSimAuthRefusals: Basic is refused by a Digest camera and under DigestOnly, and a
// stale nonce gets stale=TRUE and a fresh one, with which the same credentials pass.
func TestSimAuthRefusals(t *testing.T) {
	t.Parallel()
	cred := Credentials{"admin", "12345"}
	basic, _ := (Challenge{Scheme: "Basic"}).Authorize(cred, "DESCRIBE", "", 1, "")
	for _, o := range []SimOptions{{Auth: AuthDigest}, {Auth: AuthBasic, Faults: Faults{DigestOnly: true}}} {
		o.User, o.Password = cred.User, cred.Password
		_, u := startSim(t, o)
		c := dialSim(t, u)
		if r := c.do("DESCRIBE", u, Header{{"Authorization", basic}}); r.Status != 401 || strings.Contains(strings.Join(r.Header.Values("WWW-Authenticate"), " "), "Basic") {
			t.Errorf("%+v: Basic answered %d, %v", o, r.Status, r.Header.Values("WWW-Authenticate"))
		}
	}

	clk := clocktest.Running(simEpoch)
	s, u := startSim(t, SimOptions{User: cred.User, Password: cred.Password, Auth: AuthDigest, NonceLifetime: 30 * time.Second, Clock: clk})
	c := dialSim(t, u)
	r := c.do("DESCRIBE", u, nil)
	cs, _ := ParseChallenges(r.Header.Values("WWW-Authenticate"))
	a, _ := cs[0].Authorize(cred, "DESCRIBE", u, 1, "")
	if r := c.do("DESCRIBE", u, Header{{"Authorization", a}}); r.Status != 200 {
		t.Fatalf("DESCRIBE: %d", r.Status)
	}
	clk.Add(time.Minute)
	a, _ = cs[0].Authorize(cred, "DESCRIBE", u, 2, "")
	r = c.do("DESCRIBE", u, Header{{"Authorization", a}})
	if r.Status != 401 || !strings.Contains(r.Header.Get("WWW-Authenticate"), "stale=TRUE") {
		t.Fatalf("an expired nonce: %d %v", r.Status, r.Header.Values("WWW-Authenticate"))
	}
	fresh, _ := ParseChallenges(r.Header.Values("WWW-Authenticate"))
	a, _ = fresh[0].Authorize(cred, "DESCRIBE", u, 1, "")
	if r := c.do("DESCRIBE", u, Header{{"Authorization", a}}); r.Status != 200 || fresh[0].Nonce == cs[0].Nonce {
		t.Fatalf("with the fresh nonce: %d", r.Status)
	}
	if n := s.Counters(); n.StaleNonces != 1 || n.AuthFailures != 0 {
		t.Errorf("counters %+v", n)
	}
	// a nonce never issued, with the right password, is stale too; a wrong password is not
	forged := Challenge{Scheme: "Digest", Realm: "IP Camera", Nonce: "0123", Qop: []string{"auth"}}
	a, _ = forged.Authorize(cred, "DESCRIBE", u, 1, "")
	if r := c.do("DESCRIBE", u, Header{{"Authorization", a}}); r.Status != 401 || !strings.Contains(r.Header.Get("WWW-Authenticate"), "stale=TRUE") {
		t.Errorf("an unknown nonce: %d %v", r.Status, r.Header.Values("WWW-Authenticate"))
	}
	a, _ = fresh[0].Authorize(Credentials{"admin", "wrong"}, "DESCRIBE", u, 2, "")
	if r := c.do("DESCRIBE", u, Header{{"Authorization", a}}); r.Status != 401 || strings.Contains(r.Header.Get("WWW-Authenticate"), "stale") {
		t.Errorf("a wrong password: %d %v", r.Status, r.Header.Values("WWW-Authenticate"))
	}
}

// TestSimTransportFaults: UDPOnly refuses interleaved TCP with 461 and TCPOnly UDP, and
// each takes the transport it serves from a list of alternatives.
func TestSimTransportFaults(t *testing.T) {
	t.Parallel()
	tcp := "RTP/AVP/TCP;unicast;interleaved=0-1"
	udp := "RTP/AVP;unicast;client_port=40000-40001"
	tests := []struct {
		name   string
		faults Faults
		offer  string
		want   int
		chosen string
	}{
		{"udp-only, TCP", Faults{UDPOnly: true}, tcp, 461, ""},
		{"udp-only, UDP", Faults{UDPOnly: true}, udp, 200, "RTP/AVP;unicast;client_port=40000-40001;server_port="},
		{"udp-only, TCP or UDP", Faults{UDPOnly: true}, tcp + "," + udp, 200, "RTP/AVP;unicast;client_port="},
		{"tcp-only, UDP", Faults{TCPOnly: true}, udp, 461, ""},
		{"tcp-only, UDP or TCP", Faults{TCPOnly: true}, udp + "," + tcp, 200, "RTP/AVP/TCP;unicast;interleaved=0-1;ssrc="},
		{"healthy, multicast", Faults{}, "RTP/AVP;multicast;port=5000-5001", 461, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, u := startSim(t, SimOptions{Faults: tt.faults})
			c := dialSim(t, u)
			r := c.do("SETUP", u+"/trackID=0", Header{{"Transport", tt.offer}})
			if r.Status != tt.want || !strings.HasPrefix(r.Header.Get("Transport"), tt.chosen) {
				t.Errorf("SETUP: %d, Transport %q", r.Status, r.Header.Get("Transport"))
			}
		})
	}
}

// TestSimOff: an Off camera refuses connections and drops those it had; switched on
// again it answers on the same address.
func TestSimOff(t *testing.T) {
	t.Parallel()
	s, u := startSim(t, SimOptions{})
	c := dialSim(t, u)
	if r := c.do("OPTIONS", u, nil); r.Status != 200 {
		t.Fatal(r.Status)
	}
	s.Set(Faults{Off: true})
	if !s.Faults().Off {
		t.Fatal("Faults() does not say Off")
	}
	if _, err := c.try("OPTIONS", u, nil); err == nil {
		t.Error("a connection survived the camera going off")
	}
	addr := strings.TrimPrefix(u[:strings.LastIndex(u, "/")], "rtsp://")
	if nc, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		nc.Close()
		t.Fatal("an Off camera took a connection")
	}
	s.Set(Faults{})
	wait.Until(t, 5*time.Second, "the camera to listen again", func() bool {
		nc, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			nc.Close()
		}
		return err == nil
	})
	c = dialSim(t, u)
	if r := c.do("OPTIONS", u, nil); r.Status != 200 {
		t.Errorf("OPTIONS after switching on: %d", r.Status)
	}
}

// TestSimSessionTimeout: with a 1 s timeout a session whose client sends nothing is
// ended (its connection closed) after about a second, and one kept alive by
// GET_PARAMETER and by RTCP receiver reports goes on.
func TestSimSessionTimeout(t *testing.T) {
	t.Parallel()
	t.Run("silent", func(t *testing.T) {
		t.Parallel()
		s, u := startSim(t, SimOptions{SessionTimeout: time.Second})
		c := dialSim(t, u)
		r := c.do("SETUP", u+"/trackID=0", Header{{"Transport", "RTP/AVP/TCP;unicast;interleaved=0-1"}})
		id, timeout, _ := strings.Cut(r.Header.Get("Session"), ";")
		if timeout != "timeout=1" {
			t.Errorf("Session %q", r.Header.Get("Session"))
		}
		c.play(id)
		began := time.Now()
		got, err := c.readRTP(1<<20, 5*time.Second, nil)
		took := time.Since(began)
		if err == nil || errors.Is(err, ErrMessage) || took < 800*time.Millisecond || took > 3*time.Second {
			t.Errorf("the session ended after %v with %v", took, err)
		}
		if len(got.pkts) == 0 {
			t.Error("no media before the timeout")
		}
		if n := s.Counters(); n.TimedOut != 1 || n.KeepAlives != 0 {
			t.Errorf("counters %+v", n)
		}
	})
	t.Run("kept alive", func(t *testing.T) {
		t.Parallel()
		s, u := startSim(t, SimOptions{SessionTimeout: time.Second})
		c := dialSim(t, u)
		id, ssrc := c.setupTCP()
		c.play(id)
		began := time.Now()
		for i := 0; time.Since(began) < 2200*time.Millisecond; i++ {
			// reading for 300 ms, stopping between frames
			from := time.Now()
			if _, err := c.readRTP(1<<20, 5*time.Second, func(*simRead) bool { return time.Since(from) > 300*time.Millisecond }); err != nil {
				t.Fatalf("after %v: %v", time.Since(began), err)
			}
			if i%2 == 0 {
				if r := c.do("GET_PARAMETER", u+"/", Header{{"Session", id}}); r.Status != 200 {
					t.Fatalf("GET_PARAMETER: %d", r.Status)
				}
			} else {
				rr, _ := (&rtcp.ReceiverReport{SSRC: 1, Reports: []rtcp.ReceptionReport{{SSRC: ssrc}}}).Marshal()
				c.c.Write(append([]byte{'$', 1, byte(len(rr) >> 8), byte(len(rr))}, rr...))
			}
		}
		if got, err := c.readRTP(5, 2*time.Second, nil); err != nil || len(got.pkts) < 5 {
			t.Fatalf("after 2.2 s of keep-alives: %d packets, %v", len(got.pkts), err)
		}
		wait.For(t, 2*time.Second, "keep-alives counted", func() (bool, string) {
			n := s.Counters()
			return n.TimedOut == 0 && n.KeepAlives >= 3 && n.ReceiverReports >= 2, fmt.Sprintf("%+v", n)
		})
	})
}

// TestSimGarbage: under Garbage the stream carries garbage and requests of the
// camera's own between frames, and still parses with the interleaved Reader, which
// counts its resynchronisations; the client's answers to those requests are taken.
func TestSimGarbage(t *testing.T) {
	t.Parallel()
	s, u := startSim(t, SimOptions{Clock: simFast(10), Faults: Faults{Garbage: true}})
	c := dialSim(t, u)
	id, ssrc := c.setupTCP()
	seq0, _ := c.play(id)
	var pkts []*rtp.Packet
	var requests []*Request
	c.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for len(simFrames(pkts)) < 50 {
		m, err := c.rd.Read()
		if err != nil {
			t.Fatalf("after %d packets: %v", len(pkts), err)
		}
		switch m := m.(type) {
		case *Frame:
			var p rtp.Packet
			if err := p.Unmarshal(m.Payload); err != nil || p.SSRC != ssrc || p.SequenceNumber != seq0+uint16(len(pkts)) {
				t.Fatalf("packet %d: %v, %v", len(pkts), p.Header, err)
			}
			pkts = append(pkts, &p)
		case *Request:
			requests = append(requests, m)
			if m.Header.Get("Session") != id || m.CSeq() != len(requests) {
				t.Errorf("server request %+v", m)
			}
			if err := WriteResponse(c.c, &Response{Status: 200, Header: Header{{"Session", id}}}, m.CSeq()); err != nil {
				t.Fatal(err)
			}
		case *Response:
			t.Errorf("an unasked-for response %+v", m)
		}
	}
	if len(requests) < 2 || requests[0].Method != "GET_PARAMETER" || requests[1].Method != "OPTIONS" {
		t.Errorf("server requests %v", requests)
	}
	n := s.Counters()
	if c.rd.Resyncs < 10 || c.rd.Skipped == 0 || int64(c.rd.Skipped) > n.GarbageBytes || n.ServerRequests < int64(len(requests)) {
		t.Errorf("reader resynced %d times over %d bytes; counters %+v", c.rd.Resyncs, c.rd.Skipped, n)
	}
}

// TestSimMediaFaults: each fault changes the media as it says, set at construction or
// while the session runs.
func TestSimMediaFaults(t *testing.T) {
	t.Parallel()
	// play sets up and plays a session on a camera running ten times as fast as real
	// time.
	play := func(t *testing.T, f Faults) (*SimCamera, *simClient, uint16) {
		s, u := startSim(t, SimOptions{Clock: simFast(10), Faults: f, Seed: 7})
		c := dialSim(t, u)
		id, _ := c.setupTCP()
		seq0, _ := c.play(id)
		return s, c, seq0
	}
	t.Run("low fps", func(t *testing.T) {
		t.Parallel()
		_, c, _ := play(t, Faults{FPS: 2})
		got, err := c.readRTP(1<<20, 5*time.Second, func(r *simRead) bool { return len(simFrames(r.pkts)) == 6 })
		if err != nil {
			t.Fatal(err)
		}
		frames := simFrames(got.pkts)
		for i := 1; i < len(frames); i++ {
			if d := frames[i][0].Timestamp - frames[i-1][0].Timestamp; d != 45000 {
				t.Errorf("frame %d: %d after the last, want 45000 (2 fps)", i, d)
			}
		}
		for i := 1; i < len(got.pkts); i++ {
			if got.pkts[i].SequenceNumber != got.pkts[i-1].SequenceNumber+1 {
				t.Fatalf("a sequence gap at packet %d: frames left out are not losses", i)
			}
		}
	})
	t.Run("loss", func(t *testing.T) {
		t.Parallel()
		lost := func() []uint16 {
			s, c, seq0 := play(t, Faults{LossPct: 25})
			got, err := c.readRTP(150, 10*time.Second, nil)
			if err != nil {
				t.Fatal(err)
			}
			var gaps []uint16 // as offsets from RTP-Info's seq
			next := seq0
			for _, p := range got.pkts {
				for ; next != p.SequenceNumber; next++ {
					gaps = append(gaps, next-seq0)
				}
				next++
			}
			if n := s.Counters(); n.PacketsDropped < int64(len(gaps)) {
				t.Errorf("%d gaps, %d dropped", len(gaps), n.PacketsDropped)
			}
			return gaps
		}
		a, b := lost(), lost()
		if pct := 100 * float64(len(a)) / float64(150+len(a)); pct < 15 || pct > 35 {
			t.Errorf("%.0f%% lost, want about 25%%", pct)
		}
		if fmt.Sprint(a) != fmt.Sprint(b) {
			t.Errorf("the same seed lost different packets:\n%v\n%v", a, b)
		}
	})
	t.Run("frozen timestamps, set while playing", func(t *testing.T) {
		t.Parallel()
		s, c, _ := play(t, Faults{})
		if _, err := c.readRTP(10, 5*time.Second, nil); err != nil {
			t.Fatal(err)
		}
		s.Set(Faults{FrozenTimestamps: true})
		got, err := c.readRTP(60, 10*time.Second, nil)
		if err != nil {
			t.Fatal(err)
		}
		tail := got.pkts[30:]
		for i, p := range tail {
			if p.Timestamp != tail[0].Timestamp || (i > 0 && p.SequenceNumber != tail[i-1].SequenceNumber+1) {
				t.Fatalf("packet %d of the tail: %v", i, p.Header)
			}
		}
	})
	t.Run("stall", func(t *testing.T) {
		t.Parallel()
		_, c, _ := play(t, Faults{StallAfter: time.Second})
		got, err := c.readRTP(1<<20, 1500*time.Millisecond, nil) // 15 s of the camera's clock
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("the stream ended with %v", err)
		}
		frames := simFrames(got.pkts)
		if len(frames) < 9 || len(frames) > 11 {
			t.Errorf("%d frames before the stall, want a second's", len(frames))
		}
		if r := c.do("OPTIONS", c.url, nil); r.Status != 200 {
			t.Errorf("a stalled camera's session does not answer: %d", r.Status)
		}
	})
	t.Run("close after", func(t *testing.T) {
		t.Parallel()
		s, c, _ := play(t, Faults{CloseAfter: time.Second})
		got, err := c.readRTP(1<<20, 5*time.Second, nil)
		var ne net.Error
		if err == nil || errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("the connection was not closed: %v", err)
		}
		if n := len(simFrames(got.pkts)); n < 5 || n > 11 {
			t.Errorf("%d frames before the close, want a second's", n)
		}
		if n := s.Counters(); n.Closed != 1 {
			t.Errorf("counters %+v", n)
		}
	})
	t.Run("slow describe", func(t *testing.T) {
		t.Parallel()
		_, u := startSim(t, SimOptions{Faults: Faults{SlowDescribe: 300 * time.Millisecond}})
		c := dialSim(t, u)
		began := time.Now()
		if r := c.do("DESCRIBE", u, nil); r.Status != 200 || time.Since(began) < 300*time.Millisecond {
			t.Errorf("DESCRIBE: %d after %v", r.Status, time.Since(began))
		}
		began = time.Now()
		if r := c.do("OPTIONS", u, nil); r.Status != 200 || time.Since(began) > 250*time.Millisecond {
			t.Errorf("OPTIONS: %d after %v", r.Status, time.Since(began))
		}
	})
	t.Run("sender reports", func(t *testing.T) {
		t.Parallel()
		_, u := startSim(t, SimOptions{Clock: simFast(20), SenderReports: true})
		c := dialSim(t, u)
		id, ssrc := c.setupTCP()
		c.play(id)
		// two reports, 5 s of the camera's clock apart (a quarter of a second here)
		got, err := c.readRTP(1<<20, 10*time.Second, func(r *simRead) bool { return len(r.rtcp) == 2 })
		if err != nil {
			t.Fatal(err)
		}
		var last *rtcp.SenderReport
		for _, b := range got.rtcp {
			pkts, err := rtcp.Unmarshal(b)
			sr, ok := pkts[0].(*rtcp.SenderReport)
			if err != nil || !ok || sr.SSRC != ssrc || sr.PacketCount == 0 {
				t.Fatalf("RTCP %+v, %v", pkts, err)
			}
			if last != nil {
				// the RTP time and the NTP time of a report are the same moment (RFC
				// 3550 section 6.4.1): both move on by the time between reports
				rtpSecs := float64(sr.RTPTime-last.RTPTime) / 90000
				ntpSecs := float64(sr.NTPTime-last.NTPTime) / (1 << 32)
				if sr.PacketCount <= last.PacketCount || ntpSecs < 4.9 || ntpSecs > 6 || rtpSecs-ntpSecs > 0.01 || ntpSecs-rtpSecs > 0.01 {
					t.Errorf("reports %+v then %+v: %.3f s by RTP time, %.3f s by NTP time", last, sr, rtpSecs, ntpSecs)
				}
			}
			last = sr
		}
		if secs := int64(last.NTPTime>>32) - 2208988800 - simEpoch.Unix(); secs < 10 || secs > 60 {
			t.Errorf("NTP time %d s after the camera clock's start, want about 10", secs)
		}
	})
}

// firstPicture plays a session and returns the first frame's payloads.
func firstPicture(t *testing.T, u string, frames int) [][]byte {
	t.Helper()
	c := dialSim(t, u)
	id, _ := c.setupTCP()
	c.play(id)
	got, err := c.readRTP(1<<20, 10*time.Second, func(r *simRead) bool { return len(simFrames(r.pkts)) > frames })
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, f := range simFrames(got.pkts)[:frames] {
		var b []byte
		for _, p := range f {
			b = append(b, p.Payload...)
		}
		out = append(out, b)
	}
	c.do("TEARDOWN", u+"/", Header{{"Session", id}})
	return out
}

// TestSimPictures: consecutive sessions begin at consecutive GOPs, with different
// keyframes, as a live scene does; under FrozenPicture every session and every GOP is
// the first GOP again.
func TestSimPictures(t *testing.T) {
	t.Parallel()
	_, u := startSim(t, SimOptions{Clock: simFast(10)})
	a, b := firstPicture(t, u, 11), firstPicture(t, u, 11)
	if bytes.Equal(a[0], b[0]) {
		t.Error("two sessions began with the same keyframe")
	}
	if bytes.Equal(a[0], a[10]) {
		t.Error("a live session's GOPs repeat the same keyframe")
	}
	_, u = startSim(t, SimOptions{Clock: simFast(10), Faults: Faults{FrozenPicture: true}})
	a, b = firstPicture(t, u, 11), firstPicture(t, u, 11)
	if !bytes.Equal(a[0], b[0]) || !bytes.Equal(a[0], a[10]) || !bytes.Equal(a[1], b[1]) {
		t.Error("a frozen picture changed")
	}
	if bytes.Equal(a[0], a[1]) {
		t.Error("a frozen picture's frames are all the keyframe")
	}
}

// TestSimMaxConns: connections beyond MaxConns are reset at once.
func TestSimMaxConns(t *testing.T) {
	t.Parallel()
	s, u := startSim(t, SimOptions{MaxConns: 1})
	c := dialSim(t, u)
	c.do("OPTIONS", u, nil)
	// the second is reset, as it connects or as it asks
	if d, err := net.DialTimeout("tcp", strings.TrimPrefix(u[:strings.LastIndex(u, "/")], "rtsp://"), 5*time.Second); err == nil {
		defer d.Close()
		d.SetDeadline(time.Now().Add(5 * time.Second))
		WriteRequest(d, &Request{Method: "OPTIONS", URL: u}, 1)
		if r, err := ReadResponse(bufio.NewReader(d)); err == nil {
			t.Errorf("a second connection was served: %d", r.Status)
		}
	}
	if n := s.Counters(); n.Refused != 1 || n.Connections != 1 {
		t.Errorf("counters %+v", n)
	}
	if r := c.do("OPTIONS", u, nil); r.Status != 200 {
		t.Errorf("the first connection: %d", r.Status)
	}
}

// TestSimBadRequests: a request that is not RTSP is answered with 400 and the
// connection closed, and the camera serves the next connection.
func TestSimBadRequests(t *testing.T) {
	t.Parallel()
	_, u := startSim(t, SimOptions{})
	for _, in := range []string{"GET / HTTP/1.1\r\nHost: cam\r\n\r\n", "OPTIONS * RTSP/1.0\r\n\r\n", "\x00\x01\x02\r\n\r\n"} {
		c := dialSim(t, u)
		c.c.Write([]byte(in))
		c.c.SetReadDeadline(time.Now().Add(5 * time.Second))
		r, err := ReadResponse(c.br)
		if err != nil || r.Status != 400 {
			t.Errorf("%q: %+v, %v", in, r, err)
		}
		if _, err := c.br.ReadByte(); err == nil {
			t.Errorf("%q: the connection stayed open", in)
		}
	}
	c := dialSim(t, u)
	if r := c.do("OPTIONS", u, nil); r.Status != 200 {
		t.Errorf("OPTIONS after bad requests: %d", r.Status)
	}
	if r := c.do("PLAY", u, Header{{"Session", "NOPE"}}); r.Status != 454 {
		t.Errorf("PLAY of no session: %d", r.Status)
	}
}

// TestSimShutdown: when its context ends the camera closes every connection and
// session, TCP and UDP, and leaves no goroutine behind.
func TestSimShutdown(t *testing.T) {
	before := runtime.NumGoroutine()
	s, err := NewSimCamera(SimOptions{SenderReports: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	u, err := s.Start(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if u != s.URL() || !strings.HasPrefix(u, "rtsp://127.0.0.1:") || !strings.HasSuffix(u, "/stream1") {
		t.Errorf("URL %s, %s", u, s.URL())
	}
	tc := dialSim(t, u)
	id, _ := tc.setupTCP()
	tc.play(id)
	if _, err := tc.readRTP(3, 5*time.Second, nil); err != nil {
		t.Fatal(err)
	}
	rtpc, _ := simUDPPair(t)
	cp := rtpc.LocalAddr().(*net.UDPAddr).Port
	uc := dialSim(t, u)
	r := uc.do("SETUP", u+"/trackID=0", Header{{"Transport", fmt.Sprintf("RTP/AVP;unicast;client_port=%d-%d", cp, cp+1)}})
	uid, _, _ := strings.Cut(r.Header.Get("Session"), ";")
	uc.play(uid)
	rtpc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, _, err := rtpc.ReadFromUDP(make([]byte, 2048)); err != nil {
		t.Fatal(err)
	}
	idle := dialSim(t, u) // a connection with no session
	idle.do("OPTIONS", u, nil)

	cancel()
	select {
	case <-s.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return")
	}
	for _, c := range []*simClient{tc, uc, idle} {
		c.c.SetReadDeadline(time.Now().Add(5 * time.Second))
		for {
			if _, err := c.br.ReadByte(); err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					t.Error("a connection stayed open")
				}
				break
			}
		}
	}
	wait.For(t, 5*time.Second, "the camera's goroutines to end", func() (bool, string) {
		n := runtime.NumGoroutine()
		return n <= before, fmt.Sprintf("%d goroutines, %d before", n, before)
	})
}

// FuzzSimConn feeds a simulated camera's connection handler arbitrary client bytes
// (requests, interleaved frames, answers, garbage), under each kind of authentication:
// it must not panic, and must end its connection's goroutines once the client is gone.
func FuzzSimConn(f *testing.F) {
	u := "rtsp://127.0.0.1:554/stream1"
	var session bytes.Buffer
	for i, r := range []*Request{
		{Method: "OPTIONS", URL: u},
		{Method: "DESCRIBE", URL: u, Header: Header{{"Accept", "application/sdp"}}},
		{Method: "SETUP", URL: u + "/trackID=0", Header: Header{{"Transport", "RTP/AVP/TCP;unicast;interleaved=0-1"}}},
		{Method: "PLAY", URL: u + "/", Header: Header{{"Session", "X"}}},
		{Method: "GET_PARAMETER", URL: u + "/", Header: Header{{"Session", "X"}}},
		{Method: "TEARDOWN", URL: u + "/", Header: Header{{"Session", "X"}}},
	} {
		WriteRequest(&session, r, i+1)
	}
	for mode := range byte(5) {
		f.Add(append([]byte{mode}, session.Bytes()...))
	}
	f.Add([]byte("\x00SETUP " + u + " RTSP/1.0\r\nCSeq: 1\r\nTransport: RTP/AVP;unicast;client_port=9-10\r\n\r\n$\x01\x00\x04\x80\xc9\x00\x01RTSP/1.0 200 OK\r\nCSeq: 1\r\n\r\n"))
	f.Add([]byte("\x02DESCRIBE " + u + " RTSP/1.0\r\nCSeq: 1\r\nAuthorization: Digest username=\"a\", realm=\"IP Camera\", nonce=\"n\", uri=\"x\", response=\"0\", qop=auth\r\n\r\n"))
	files, _ := filepath.Glob(filepath.Join("testdata", "bad", "request-*"))
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(append([]byte{1}, b...))
		}
	}
	fx := mustFixture(f, FixtureH264High)
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) == 0 {
			return
		}
		auth := []string{AuthNone, AuthBasic, AuthDigest, AuthDigestNoQop, AuthDigestSHA256}[b[0]%5]
		s, err := NewSimCamera(SimOptions{Fixture: fx, Auth: auth, User: "a", Password: "b"})
		if err != nil {
			t.Fatal(err)
		}
		client, server := net.Pipe()
		c := &simConn{s: s, c: server, br: bufio.NewReader(server), done: make(chan struct{})}
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go c.serve(ctx)
		drained := make(chan struct{})
		go func() {
			defer close(drained)
			io.Copy(io.Discard, client)
		}()
		client.SetWriteDeadline(time.Now().Add(5 * time.Second))
		client.Write(b[1:])
		client.Close()
		finished := make(chan struct{})
		go func() {
			<-drained
			s.shutdown()
			s.wg.Wait()
			close(finished)
		}()
		select {
		case <-finished:
		case <-time.After(10 * time.Second):
			t.Fatal("the connection's goroutines did not end after the client left")
		}
	})
}
