package rtsp

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"

	"github.com/apedge/apedge/internal/clock"
)

// Transport is how a session's media comes.
type Transport string

// Transports.
const (
	// TransportAuto tries UDP first and falls back to TCP-interleaved when the camera
	// answers 461 Unsupported Transport or no media comes over UDP (a firewall, a
	// NAT): what gortsplib and ffmpeg do too.
	TransportAuto Transport = "auto"
	TransportTCP  Transport = "tcp"
	TransportUDP  Transport = "udp"
)

// Options configure a Session.
type Options struct {
	// Credentials are the user and password; nil takes them from the URL's user
	// information (URL-decoded).
	Credentials *Credentials
	// Transport is how media is to come (default TransportAuto).
	Transport Transport
	// StepTimeout bounds each step: the connection, each request and its answer
	// (default 5s). A step also ends with its context.
	StepTimeout time.Duration
	// UDPSilence is how long TransportAuto waits for the first packet over UDP
	// before it tries TCP (default 2s).
	UDPSilence time.Duration
	// Clock dates the packets (default the system clock). Deadlines and keep-alives
	// are timed on the monotonic clock, as the device contract has it.
	Clock clock.Clock
	// Log gets the session's steps at debug level; never a credential.
	Log *slog.Logger
	// MaxRedirects bounds the redirects DESCRIBE follows (default 3).
	MaxRedirects int
}

// Errors of a session, tested with errors.Is.
var (
	// ErrAuth: the camera refused the credentials, or asked for some and there were
	// none.
	ErrAuth = errors.New("rtsp: authentication failed")
	// ErrUnsupportedTransport: the camera answered 461 to every transport tried.
	ErrUnsupportedTransport = errors.New("rtsp: unsupported transport")
	// ErrNoMedia: no packet came before the read's deadline.
	ErrNoMedia = errors.New("rtsp: no media")
)

// StatusError is an answer other than 2xx to a request.
type StatusError struct {
	Method string
	Status int
	Reason string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("rtsp: %s answered %d %s", e.Method, e.Status, e.Reason)
}

// Is makes a 401 ErrAuth and a 461 ErrUnsupportedTransport.
func (e *StatusError) Is(target error) bool {
	return target == ErrAuth && e.Status == 401 || target == ErrUnsupportedTransport && e.Status == 461
}

// Packet is one RTP packet of the played track, with when it arrived.
type Packet struct {
	RTP *rtp.Packet
	At  time.Time
}

// Session is one RTSP session with a camera: Dial connects and DESCRIBEs, Play sets
// up one track and plays it, ReadPacket reads its RTP (sending keep-alives and RTCP
// receiver reports as due), Close tears it down. A Session is used by one goroutine.
type Session struct {
	o      Options
	url    *url.URL // without user information: what goes on the wire and in logs
	cred   *Credentials
	log    *slog.Logger
	conn   net.Conn
	br     *bufio.Reader
	rd     *Reader
	cseq   int
	public []string
	tracks []Track

	auth    *Challenge // the challenge answered, reused with a growing nonce count
	authNC  int
	session string
	timeout time.Duration

	transport  Transport
	track      Track
	rtpCh      uint8 // interleaved channels of the played track (TCP)
	udp        *net.UDPConn
	udpRTCP    *net.UDPConn
	srvRTCP    *net.UDPAddr
	srvIP      net.IP
	srvRTPPort int
	queued     []*Packet // packets that came before the answer waited for
	lastKeep   time.Time
	lastRR     time.Time
	rr         receiverStats
	playing    bool
	playedAt   time.Time
	udpBuf     []byte
	badPacket  int
}

// defaults fills in o's defaults.
func (o Options) defaults() Options {
	if o.Transport == "" {
		o.Transport = TransportAuto
	}
	if o.StepTimeout <= 0 {
		o.StepTimeout = 5 * time.Second
	}
	if o.UDPSilence <= 0 {
		o.UDPSilence = 2 * time.Second
	}
	o.Clock = clock.Or(o.Clock)
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.MaxRedirects == 0 {
		o.MaxRedirects = 3
	}
	return o
}

// Redacted returns rawURL with any password replaced by "xxxxx", for logs and
// errors; a URL that does not parse is withheld whole.
func Redacted(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "(a URL that does not parse)"
	}
	return u.Redacted()
}

// Dial connects to the camera at rawURL (rtsp://[user[:password]@]host[:port]/path),
// asks its OPTIONS and DESCRIBEs it, following redirects, answering Basic or Digest
// challenges, each step bounded by o.StepTimeout and ctx.
func Dial(ctx context.Context, rawURL string, o Options) (*Session, error) {
	o = o.defaults()
	u, err := url.Parse(rawURL)
	if err != nil {
		// url's own error repeats the URL, password and all.
		return nil, errors.New("rtsp: the camera's URL does not parse")
	}
	if u.Scheme != "rtsp" || u.Hostname() == "" {
		return nil, fmt.Errorf("rtsp: %s is not rtsp://host[:port]/path", u.Redacted())
	}
	// The options' credentials win, field by field: a user in the URL and a
	// password from a file make one pair.
	s := &Session{o: o}
	if o.Credentials != nil || u.User != nil {
		c := Credentials{}
		if o.Credentials != nil {
			c = *o.Credentials
		}
		if u.User != nil {
			pw, _ := u.User.Password()
			c.User = cmp.Or(c.User, u.User.Username())
			c.Password = cmp.Or(c.Password, pw)
		}
		s.cred = &c
	}
	u.User = nil
	s.url = u
	s.log = o.Log.With("camera", u.String())
	for redirects := 0; ; redirects++ {
		err := s.describe(ctx)
		var moved *redirect
		if !errors.As(err, &moved) {
			if err != nil {
				s.closeConn()
				return nil, err
			}
			return s, nil
		}
		s.closeConn()
		if redirects == o.MaxRedirects {
			return nil, fmt.Errorf("rtsp: more than %d redirects", o.MaxRedirects)
		}
		s.log.Debug("redirected", "to", moved.to.String())
		if moved.to.Host != s.url.Host {
			s.cred = nil // the camera's password is for the camera, not wherever it points
		}
		s.url, s.auth, s.authNC = moved.to, nil, 0
	}
}

// redirect is a 3xx answer to DESCRIBE.
type redirect struct{ to *url.URL }

func (r *redirect) Error() string { return "rtsp: redirected to " + r.to.String() }

// describe connects to s.url, asks OPTIONS and DESCRIBE, and keeps the tracks.
func (s *Session) describe(ctx context.Context) error {
	host := s.url.Host
	if s.url.Port() == "" {
		host = net.JoinHostPort(s.url.Hostname(), "554")
	}
	dctx, cancel := context.WithTimeout(ctx, s.o.StepTimeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(dctx, "tcp", host)
	if err != nil {
		return fmt.Errorf("rtsp: connect: %w", err)
	}
	s.conn, s.br = conn, bufio.NewReaderSize(conn, 4+65535) // the largest interleaved frame, whole
	s.rd = NewReader(s.br)
	if ta, ok := conn.RemoteAddr().(*net.TCPAddr); ok {
		s.srvIP = ta.IP
	}
	res, err := s.do(ctx, &Request{Method: "OPTIONS", URL: s.url.String()})
	// A camera that refuses OPTIONS may still DESCRIBE: only a refused password and a
	// dead connection end the session here.
	if errors.Is(err, ErrAuth) || err != nil && !isStatus(err) {
		return err
	}
	if res != nil {
		for p := range strings.SplitSeq(res.Header.Get("Public"), ",") {
			if p = strings.ToUpper(strings.TrimSpace(p)); p != "" {
				s.public = append(s.public, p)
			}
		}
	}
	res, err = s.do(ctx, &Request{Method: "DESCRIBE", URL: s.url.String(), Header: Header{{"Accept", "application/sdp"}}})
	if err != nil {
		return err
	}
	if res.Status >= 300 {
		loc, perr := s.url.Parse(res.Header.Get("Location"))
		if perr != nil || loc.Scheme != "rtsp" || loc.Hostname() == "" {
			return fmt.Errorf("rtsp: DESCRIBE redirected (%d) to no rtsp URL", res.Status)
		}
		loc.User = nil
		return &redirect{loc}
	}
	if ct := res.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(strings.ToLower(ct), "application/sdp") {
		return fmt.Errorf("rtsp: DESCRIBE answered %q, not an SDP", clip(ct))
	}
	s.tracks, err = ParseTracks(res.Body, BaseURL(res, s.url.String()))
	if err != nil {
		return err
	}
	return nil
}

func isStatus(err error) bool {
	var se *StatusError
	return errors.As(err, &se)
}

// Tracks returns the video tracks the camera offers.
func (s *Session) Tracks() []Track { return s.tracks }

// Public returns the methods the camera's OPTIONS answer listed.
func (s *Session) Public() []string { return s.public }

// PlayedAt is when the camera answered PLAY, by the options' clock.
func (s *Session) PlayedAt() time.Time { return s.playedAt }

// Transport returns how the played track's media comes.
func (s *Session) Transport() Transport { return s.transport }

// Play sets up track t and plays it, over the transport of the options: with
// TransportAuto, UDP first, then TCP on a 461 or when no packet comes within
// UDPSilence (a fresh connection and DESCRIBE, as the camera may have ended the
// session).
func (s *Session) Play(ctx context.Context, t Track) error {
	s.track = t
	switch s.o.Transport {
	case TransportTCP:
		return s.play(ctx, TransportTCP)
	case TransportUDP:
		return s.play(ctx, TransportUDP)
	}
	err := s.play(ctx, TransportUDP)
	if err == nil {
		p, rerr := s.readUDP(ctx, time.Now().Add(s.o.UDPSilence))
		if rerr == nil {
			s.queued = append(s.queued, p)
			return nil
		}
		if ctx.Err() != nil {
			return rerr
		}
		s.log.Debug("no media over UDP; trying TCP", "after", s.o.UDPSilence)
		s.teardown(ctx)
		s.closeConn()
		s.playing, s.session = false, ""
		if err := s.describe(ctx); err != nil {
			return err
		}
		if i := slices.IndexFunc(s.tracks, func(x Track) bool { return x.Codec == t.Codec }); i >= 0 {
			s.track = s.tracks[i]
		}
		err := s.play(ctx, TransportTCP)
		if errors.Is(err, ErrUnsupportedTransport) {
			// A UDP-only camera that sent nothing: the fault is the silence.
			return fmt.Errorf("%w: none over UDP within %s, and TCP refused (461)", ErrNoMedia, s.o.UDPSilence)
		}
		return err
	} else if !errors.Is(err, ErrUnsupportedTransport) {
		return err
	} else {
		s.log.Debug("UDP refused (461); trying TCP")
	}
	return s.play(ctx, TransportTCP)
}

// play sends SETUP over transport tr and PLAY.
func (s *Session) play(ctx context.Context, tr Transport) error {
	var spec string
	switch tr {
	case TransportTCP:
		spec = "RTP/AVP/TCP;unicast;interleaved=0-1"
	case TransportUDP:
		if err := s.listenUDP(); err != nil {
			return err
		}
		p := s.udp.LocalAddr().(*net.UDPAddr).Port
		spec = fmt.Sprintf("RTP/AVP;unicast;client_port=%d-%d", p, p+1)
	}
	req := &Request{Method: "SETUP", URL: s.track.Control, Header: Header{{"Transport", spec}}}
	res, err := s.do(ctx, req)
	if err != nil {
		s.closeUDP()
		return err
	}
	if err := s.setupAnswer(res, tr); err != nil {
		s.closeUDP()
		return err
	}
	s.transport = tr
	playURL := s.url.String()
	if _, err := s.do(ctx, &Request{Method: "PLAY", URL: playURL, Header: Header{{"Range", "npt=0.000-"}}}); err != nil {
		return err
	}
	s.playing, s.playedAt = true, s.o.Clock.Now()
	now := time.Now()
	// The first receiver report is due after half the 5 s interval (RFC 3550
	// section 6.2: the initial interval is halved), the rest every 5 s.
	s.lastKeep, s.lastRR = now, now.Add(-rrEvery/2)
	if tr == TransportUDP {
		// Open the way through a stateful firewall, as ffmpeg does: an empty RTP
		// header and an empty receiver report towards the camera's ports.
		s.punch()
	}
	return nil
}

// setupAnswer reads SETUP's Session and Transport headers.
func (s *Session) setupAnswer(res *Response, tr Transport) error {
	id, params, _ := strings.Cut(res.Header.Get("Session"), ";")
	if s.session = strings.TrimSpace(id); s.session == "" {
		return errors.New("rtsp: SETUP answered with no Session")
	}
	s.timeout = 60 * time.Second // RFC 2326 section 12.37
	for p := range strings.SplitSeq(params, ";") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(p), "timeout="); ok {
			if n, err := strconv.Atoi(v); err == nil && n > 0 && n < 24*3600 {
				s.timeout = time.Duration(n) * time.Second
			}
		}
	}
	ts := res.Header.Get("Transport")
	switch tr {
	case TransportTCP:
		s.rtpCh = 0
		if v := transportParam(ts, "interleaved"); v != "" {
			a, _, _ := strings.Cut(v, "-")
			n, err := strconv.Atoi(a)
			if err != nil || n < 0 || n > 254 {
				return fmt.Errorf("rtsp: SETUP's Transport %q: bad interleaved channels", clip(ts))
			}
			s.rtpCh = uint8(n)
		}
		s.rd.Channels = map[uint8]bool{s.rtpCh: true, s.rtpCh + 1: true}
	case TransportUDP:
		v := transportParam(ts, "server_port")
		_, b, _ := strings.Cut(v, "-")
		a, _, _ := strings.Cut(v, "-")
		rp, err1 := strconv.Atoi(a)
		cp, err2 := strconv.Atoi(b)
		if err1 != nil || rp <= 0 || rp > 65535 {
			return fmt.Errorf("rtsp: SETUP's Transport %q: no server_port", clip(ts))
		}
		if err2 != nil || cp <= 0 || cp > 65535 {
			cp = rp + 1
		}
		s.srvRTCP = &net.UDPAddr{IP: s.srvIP, Port: cp}
		s.srvRTPPort = rp
	}
	return nil
}

// transportParam returns the value of parameter name of a Transport header.
func transportParam(ts, name string) string {
	for p := range strings.SplitSeq(ts, ";") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(p), name+"="); ok {
			return v
		}
	}
	return ""
}

// listenUDP opens an even RTP port and the RTCP port after it.
func (s *Session) listenUDP() error {
	s.closeUDP()
	for range 20 {
		a, err := net.ListenUDP("udp", &net.UDPAddr{})
		if err != nil {
			return fmt.Errorf("rtsp: UDP: %w", err)
		}
		p := a.LocalAddr().(*net.UDPAddr).Port
		if p%2 == 0 && p < 65535 {
			b, err := net.ListenUDP("udp", &net.UDPAddr{Port: p + 1})
			if err == nil {
				s.udp, s.udpRTCP = a, b
				return nil
			}
		}
		a.Close()
	}
	return errors.New("rtsp: UDP: found no free pair of ports")
}

func (s *Session) closeUDP() {
	if s.udp != nil {
		s.udp.Close()
		s.udpRTCP.Close()
		s.udp, s.udpRTCP = nil, nil
	}
}

// punch sends one empty RTP packet and one empty receiver report to the camera.
func (s *Session) punch() {
	if s.srvRTCP == nil {
		return
	}
	hdr, _ := (&rtp.Packet{Header: rtp.Header{Version: 2}}).Marshal()
	s.udp.WriteToUDP(hdr, &net.UDPAddr{IP: s.srvIP, Port: s.srvRTPPort})
	rr, _ := (&rtcp.ReceiverReport{}).Marshal()
	s.udpRTCP.WriteToUDP(rr, s.srvRTCP)
}

// ReadPacket returns the next RTP packet of the played track. It sends the
// keep-alives and receiver reports that are due on the way, answers the camera's
// own requests, and skips what is not the track's RTP. With no packet by ctx's
// deadline it returns an error wrapping ErrNoMedia.
func (s *Session) ReadPacket(ctx context.Context) (*Packet, error) {
	if !s.playing {
		return nil, errors.New("rtsp: ReadPacket before Play")
	}
	if len(s.queued) > 0 {
		p := s.queued[0]
		s.queued = s.queued[1:]
		return p, nil
	}
	for {
		if err := s.keepAlive(ctx); err != nil {
			return nil, err
		}
		deadline := s.lastKeep.Add(s.timeout / 2)
		if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
			deadline = d
		}
		var p *Packet
		var err error
		if s.transport == TransportUDP {
			p, err = s.readUDP(ctx, deadline)
		} else {
			p, err = s.readTCP(ctx, deadline)
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			if ctx.Err() != nil || !time.Now().Before(deadlineOf(ctx)) {
				return nil, fmt.Errorf("%w: nothing for the read's time", ErrNoMedia)
			}
			continue // time for a keep-alive
		}
		if err != nil || p != nil {
			return p, err
		}
	}
}

// interrupt makes a read on c return when ctx ends, until the function it returns
// is called; once that has returned, it never touches c's deadline again (a late
// interruption would cut a later read short).
func interrupt(ctx context.Context, c interface{ SetReadDeadline(time.Time) error }) func() {
	var mu sync.Mutex
	done := false
	stop := context.AfterFunc(ctx, func() {
		mu.Lock()
		defer mu.Unlock()
		if !done {
			c.SetReadDeadline(time.Unix(1, 0))
		}
	})
	return func() {
		stop()
		mu.Lock()
		done = true
		mu.Unlock()
	}
}

// deadlineOf returns ctx's deadline, or the far future.
func deadlineOf(ctx context.Context) time.Time {
	if d, ok := ctx.Deadline(); ok {
		return d
	}
	return time.Unix(1<<40, 0)
}

// readTCP reads the connection until the track's next RTP packet or deadline. It
// returns nil, nil for something that was not one (RTCP, an answer, a server request).
func (s *Session) readTCP(ctx context.Context, deadline time.Time) (*Packet, error) {
	defer interrupt(ctx, s.conn)()
	s.conn.SetReadDeadline(deadline)
	m, err := s.rd.Read()
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%w: %v", ErrNoMedia, ctx.Err())
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return nil, err
		}
		return nil, fmt.Errorf("rtsp: reading media: %w", err)
	}
	return s.handle(m)
}

// handle deals with one thing read from the connection: a packet of the track is
// returned; a server's request is answered; an answer (to a keep-alive) is dropped.
func (s *Session) handle(m any) (*Packet, error) {
	switch m := m.(type) {
	case *Frame:
		if m.Channel == s.rtpCh {
			return s.rtpPacket(m.Payload), nil
		}
		return nil, nil // RTCP from the camera: its sender reports are not needed
	case *Request:
		return nil, s.answerServer(m)
	case *Response:
		if m.Status == 454 { // Session Not Found: the camera dropped the session
			return nil, &StatusError{Method: "keep-alive", Status: m.Status, Reason: m.Reason}
		}
		return nil, nil
	}
	return nil, nil
}

// rtpPacket parses payload as RTP, nil (counted) if it is not.
func (s *Session) rtpPacket(b []byte) *Packet {
	var p rtp.Packet
	if err := p.Unmarshal(b); err != nil {
		s.badPacket++
		return nil
	}
	s.rr.add(&p)
	return &Packet{RTP: &p, At: s.o.Clock.Now()}
}

// BadPackets counts packets on the track's channel or port that were not RTP.
func (s *Session) BadPackets() int { return s.badPacket }

// Resyncs returns the times the interleaved reader skipped garbage, and the bytes.
func (s *Session) Resyncs() (times, bytes int) { return s.rd.Resyncs, s.rd.Skipped }

// answerServer answers a camera's own request (a keep-alive of its own, an
// ANNOUNCE): 200 to OPTIONS and GET_PARAMETER, 501 to anything else.
func (s *Session) answerServer(r *Request) error {
	status, reason := 501, "Not Implemented"
	if r.Method == "OPTIONS" || r.Method == "GET_PARAMETER" {
		status, reason = 200, "OK"
	}
	cseq, err := strconv.Atoi(strings.TrimSpace(r.Header.Get("CSeq")))
	if err != nil {
		return nil // nothing to answer it by
	}
	s.conn.SetWriteDeadline(time.Now().Add(s.o.StepTimeout))
	if err := WriteResponse(s.conn, &Response{Status: status, Reason: reason}, cseq); err != nil {
		return fmt.Errorf("rtsp: answering the camera's %s: %w", r.Method, err)
	}
	return nil
}

// readUDP reads the RTP port until a packet of the track from the camera or deadline.
func (s *Session) readUDP(ctx context.Context, deadline time.Time) (*Packet, error) {
	defer interrupt(ctx, s.udp)()
	if s.udpBuf == nil {
		s.udpBuf = make([]byte, 2048)
	}
	for {
		s.udp.SetReadDeadline(deadline)
		n, from, err := s.udp.ReadFromUDP(s.udpBuf)
		if err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("%w: %v", ErrNoMedia, ctx.Err())
			}
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return nil, err
			}
			return nil, fmt.Errorf("rtsp: reading media: %w", err)
		}
		// Trust nothing because it is local: only the camera's own address speaks
		// for it.
		if s.srvIP != nil && !from.IP.Equal(s.srvIP) {
			s.badPacket++
			continue
		}
		if p := s.rtpPacket(append([]byte(nil), s.udpBuf[:n]...)); p != nil {
			return p, nil
		}
	}
}

// keepAlive sends, when due, a keep-alive within the session's timeout
// (GET_PARAMETER where the camera's Public lists it, else OPTIONS: RFC 2326 section
// 12.37 and what cameras accept) and an RTCP receiver report (RFC 3550 section 6.4.2)
// every 5 s. Over TCP the answer comes among the frames and is read with them; over
// UDP it is read at once.
func (s *Session) keepAlive(ctx context.Context) error {
	now := time.Now()
	if now.Sub(s.lastRR) >= rrEvery {
		s.lastRR = now
		s.sendRR()
	}
	if now.Sub(s.lastKeep) < s.timeout/2 {
		return nil
	}
	s.lastKeep = now
	method := "OPTIONS"
	if slices.Contains(s.public, "GET_PARAMETER") {
		method = "GET_PARAMETER"
	}
	req := &Request{Method: method, URL: s.url.String()}
	if s.transport == TransportUDP {
		// The answer is waited for a step's time, even past the read's deadline
		// (which would cut the session for no fault of the camera's); only a
		// cancelled read cuts it short.
		kctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.o.StepTimeout)
		defer cancel()
		stop := context.AfterFunc(ctx, func() {
			if errors.Is(ctx.Err(), context.Canceled) {
				cancel()
			}
		})
		defer stop()
		_, err := s.do(kctx, req)
		var se *StatusError
		switch {
		case err == nil:
			return nil
		case errors.As(err, &se) && se.Status != 454: // Session Not Found ends it
			return nil // a camera that refuses the keep-alive method still plays
		}
		return err
	}
	return s.send(req)
}

// rrEvery is how often a session sends an RTCP receiver report: RFC 3550 section
// 6.2's minimum interval.
const rrEvery = 5 * time.Second

// sendRR sends a receiver report of the track's packets.
func (s *Session) sendRR() {
	if s.rr.ssrc == 0 && s.rr.received == 0 {
		return
	}
	b, err := s.rr.report().Marshal()
	if err != nil {
		return
	}
	switch s.transport {
	case TransportUDP:
		if s.srvRTCP != nil {
			s.udpRTCP.WriteToUDP(b, s.srvRTCP)
		}
	case TransportTCP:
		f := make([]byte, 4+len(b))
		f[0], f[1] = '$', s.rtpCh+1
		f[2], f[3] = byte(len(b)>>8), byte(len(b))
		copy(f[4:], b)
		s.conn.SetWriteDeadline(time.Now().Add(s.o.StepTimeout))
		s.conn.Write(f)
	}
}

// receiverStats is what a receiver report says (RFC 3550 section 6.4.1).
type receiverStats struct {
	ssrc                   uint32
	started                bool
	base, maxSeq, cycles   uint32
	received, lastExpected uint32
	lastReceived           uint32
}

func (r *receiverStats) add(p *rtp.Packet) {
	seq := uint32(p.SequenceNumber)
	if !r.started || p.SSRC != r.ssrc {
		*r = receiverStats{ssrc: p.SSRC, started: true, base: seq, maxSeq: seq}
	}
	r.received++
	if d := uint16(seq - r.maxSeq); d != 0 && d < 1<<15 {
		if seq < r.maxSeq {
			r.cycles += 1 << 16
		}
		r.maxSeq = seq
	}
}

func (r *receiverStats) report() *rtcp.ReceiverReport {
	ext := r.cycles + r.maxSeq
	expected := ext - r.base + 1
	lost := int64(expected) - int64(r.received)
	lost = max(min(lost, 1<<23-1), 0)
	var fraction uint8
	if ie, ir := expected-r.lastExpected, r.received-r.lastReceived; ie > 0 && ie > ir {
		fraction = uint8((ie - ir) << 8 / ie)
	}
	r.lastExpected, r.lastReceived = expected, r.received
	return &rtcp.ReceiverReport{SSRC: 1, Reports: []rtcp.ReceptionReport{{SSRC: r.ssrc, FractionLost: fraction,
		TotalLost: uint32(lost), LastSequenceNumber: ext}}}
}

// Close tears the session down (TEARDOWN, within a step's time) and closes its
// connection and sockets.
func (s *Session) Close(ctx context.Context) error {
	if s.session != "" { // set up, played or not: the camera's session slots are few
		s.teardown(ctx)
	}
	s.closeConn()
	return nil
}

func (s *Session) teardown(ctx context.Context) {
	if s.conn == nil || s.session == "" {
		return
	}
	tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), min(s.o.StepTimeout, time.Second))
	defer cancel()
	// The answer is waited for (reading past the frames still on their way): a
	// connection closed with them unread is reset, and the reset can reach the
	// camera before it has read the TEARDOWN.
	s.do(tctx, &Request{Method: "TEARDOWN", URL: s.url.String()})
}

func (s *Session) closeConn() {
	if s.conn != nil {
		s.conn.Close()
		s.conn = nil
	}
	s.closeUDP()
	s.playing = false
}

// send writes r with the next CSeq, the session id and any authorization.
func (s *Session) send(r *Request) error {
	s.cseq++
	if s.session != "" {
		r.Header = append(r.Header, [2]string{"Session", s.session})
	}
	r.Header = append(r.Header, [2]string{"User-Agent", "apedge"})
	if s.auth != nil && s.cred != nil {
		s.authNC++
		a, err := s.auth.Authorize(*s.cred, r.Method, r.URL, s.authNC, "")
		if err != nil {
			return err
		}
		r.Header = append(r.Header, [2]string{"Authorization", a})
	}
	s.conn.SetWriteDeadline(time.Now().Add(s.o.StepTimeout))
	return WriteRequest(s.conn, r, s.cseq)
}

// do sends r and returns its answer, answering an authentication challenge once
// (and a stale nonce once more). An answer of 3xx to DESCRIBE is returned as it is;
// any other answer but 2xx is a *StatusError.
func (s *Session) do(ctx context.Context, r *Request) (*Response, error) {
	base := slices.Clone(r.Header)
	for try := 0; ; try++ {
		r.Header = slices.Clone(base)
		if err := s.send(r); err != nil {
			return nil, err
		}
		res, err := s.answer(ctx, s.cseq, r.Method)
		if err != nil {
			return nil, err
		}
		s.log.Debug("rtsp", "method", r.Method, "status", res.Status)
		switch {
		case res.Status >= 200 && res.Status < 300:
			return res, nil
		case res.Status >= 300 && res.Status < 400 && r.Method == "DESCRIBE":
			return res, nil
		case res.Status == 401 && try < 2:
			if s.cred == nil {
				return nil, fmt.Errorf("%w: the camera asks for a password and none is configured", ErrAuth)
			}
			cs, err := ParseChallenges(res.Header.Values("WWW-Authenticate"))
			if err != nil || len(cs) == 0 {
				return nil, fmt.Errorf("%w: %s answered 401 with no challenge apedge can answer", ErrAuth, r.Method)
			}
			stale := strings.Contains(strings.ToLower(strings.Join(res.Header.Values("WWW-Authenticate"), " ")), "stale=true")
			if s.auth != nil && !stale && try > 0 {
				return nil, fmt.Errorf("%w: the camera refused the configured user and password", ErrAuth)
			}
			s.auth, s.authNC = &cs[0], 0
			continue
		case res.Status == 401:
			return nil, fmt.Errorf("%w: the camera refused the configured user and password", ErrAuth)
		}
		return nil, &StatusError{Method: r.Method, Status: res.Status, Reason: clip(res.Reason)}
	}
}

// answer reads until the answer with CSeq cseq, keeping the track's packets that
// come before it and answering the camera's requests; ctx and the step's time bound
// it.
func (s *Session) answer(ctx context.Context, cseq int, method string) (*Response, error) {
	deadline := time.Now().Add(s.o.StepTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	defer interrupt(ctx, s.conn)()
	s.conn.SetReadDeadline(deadline)
	for {
		m, err := s.rd.Read()
		if err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("rtsp: %s: %w", method, ctx.Err())
			}
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return nil, fmt.Errorf("rtsp: %s: no answer within %s", method, s.o.StepTimeout)
			}
			return nil, fmt.Errorf("rtsp: %s: %w", method, err)
		}
		switch m := m.(type) {
		case *Response:
			if c := m.CSeq(); c == cseq || c == -1 {
				return m, nil
			}
		case *Frame:
			if s.playing || s.transport == TransportTCP {
				if p, _ := s.handle(m); p != nil && len(s.queued) < 1024 {
					s.queued = append(s.queued, p)
				}
			}
		case *Request:
			if err := s.answerServer(m); err != nil {
				return nil, err
			}
		}
	}
}
