package rtsp

// The camera simulator: an RTSP 1.0 server (RFC 2326) serving one H.264 or H.265
// stream from an Annex-B fixture as an IP camera does, over TCP-interleaved RTP
// (section 10.12) or RTP over UDP, with the faults a camera health check must tell
// apart. It speaks the same bytes as a real camera, so the client, the probe and the
// demo site are tested against it rather than against mocks.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apedge/apedge/internal/clock"
	"github.com/pion/rtcp"
	"github.com/pion/rtp/codecs"
)

// Authentication the simulator asks for (SimOptions.Auth).
const (
	// AuthNone asks for no credentials.
	AuthNone = ""
	// AuthBasic offers and accepts Basic (RFC 2617 section 2).
	AuthBasic = "basic"
	// AuthDigest offers and accepts Digest with MD5 and qop=auth (RFC 2617 section
	// 3), as most cameras do.
	AuthDigest = "digest"
	// AuthDigestNoQop offers Digest with MD5 and no qop (RFC 2069 style, older
	// cameras).
	AuthDigestNoQop = "digest-noqop"
	// AuthDigestSHA256 offers Digest with SHA-256 and, in a second WWW-Authenticate
	// header, with MD5 (RFC 7616 section 3.7: the preferred one first), and accepts
	// either.
	AuthDigestSHA256 = "digest-sha256"
)

// Simulator constants.
const (
	// simMTU bounds an RTP payload, as cameras keep packets under the path MTU.
	simMTU = 1200
	// simPayloadType is the dynamic RTP payload type of the video.
	simPayloadType = 96
	// simClockRate is the RTP clock of video (RFC 6184 section 8.2.1, RFC 7798
	// section 7.2).
	simClockRate = 90000
	// simSenderReportEvery is the RTCP sender report interval (RFC 3550 section 6.2
	// recommends 5 s as the minimum interval).
	simSenderReportEvery = 5 * time.Second
	// simWriteTimeout bounds every write to a client: one that stops reading is
	// dropped, as a camera drops it.
	simWriteTimeout = 5 * time.Second
	// simMaxNonces bounds the Digest nonces remembered.
	simMaxNonces = 256
	// simPublic is the Public header of OPTIONS (RFC 2326 section 12.28).
	simPublic = "OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN, GET_PARAMETER"
	// simTrack is the relative control URL of the one track.
	simTrack = "trackID=0"
)

// Faults are the ways a simulated camera goes wrong. The zero value is a healthy
// camera. Set changes them while the camera runs; the media faults (StallAfter,
// FrozenTimestamps, FrozenPicture, FPS, LossPct, CloseAfter, Garbage) apply to sessions
// in progress from their next frame, Off at once, the rest from the next request.
type Faults struct {
	// Off switches the camera off: the listener is closed (a connect is refused) and
	// every connection is reset. Clearing it listens again on the same address.
	Off bool
	// WrongPassword refuses every credential with a 401 and a fresh challenge, as a
	// camera whose password was changed does.
	WrongPassword bool
	// DigestOnly offers only Digest (MD5, qop=auth, unless Auth chose another Digest)
	// and refuses Basic, even where Auth is AuthBasic or AuthNone.
	DigestOnly bool
	// StallAfter, if positive, stops RTP (and RTCP sender reports) that long after
	// PLAY; the session stays up and answers requests.
	StallAfter time.Duration
	// FrozenTimestamps keeps RTP coming with the timestamp it had when the fault
	// began.
	FrozenTimestamps bool
	// FrozenPicture serves the fixture's first GOP over and over, to every session:
	// the same picture, with timestamps going on.
	FrozenPicture bool
	// FPS, if positive and below the fixture's rate, sends only that many frames a
	// second, evenly spread; the frames left out are not sent at all (no gap in the
	// sequence numbers) and the timestamps of those sent are as the full rate gives
	// them.
	FPS int
	// LossPct drops that percentage of RTP packets (their sequence numbers are used
	// up, so a receiver sees the gaps), chosen by a PRNG seeded from SimOptions.Seed.
	LossPct float64
	// SlowDescribe delays the answer to DESCRIBE.
	SlowDescribe time.Duration
	// CloseAfter, if positive, resets the TCP connection that long after PLAY.
	CloseAfter time.Duration
	// Garbage puts garbage bytes between interleaved frames (before every fourth
	// frame) and, every two seconds, a request of the server's own (GET_PARAMETER or
	// OPTIONS, in turn) on the connection, as some cameras do. Over UDP only the
	// requests are sent (the connection carries no frames).
	Garbage bool
	// UDPOnly answers a SETUP asking for TCP-interleaved transport only with 461.
	UDPOnly bool
	// TCPOnly answers a SETUP asking for UDP only with 461.
	TCPOnly bool
}

// SimOptions configure a simulated camera.
type SimOptions struct {
	// Codec is CodecH264 (the default) or CodecH265.
	Codec string
	// Fixture is the Annex-B stream served (see Fixture); nil serves FixtureH264 or
	// FixtureH265 as Codec says.
	Fixture []byte
	// FPS is the fixture's frame rate (10 if zero): frames are sent that often and
	// timestamped 90000/FPS apart.
	FPS int
	// Path is the stream's path ("/stream1" if empty).
	Path string
	// User and Password are the credentials the camera accepts; Auth says how (one
	// of the Auth constants; "digest-nocqop" is taken for AuthDigestNoQop).
	User, Password string
	Auth           string
	// Realm is the authentication realm ("IP Camera" if empty).
	Realm string
	// NonceLifetime, if positive, is how long a Digest nonce is honoured; a request
	// with the right credentials and an older nonce gets a 401 with stale=TRUE and a
	// fresh nonce (RFC 2617 section 3.2.1). Zero honours nonces for ever (the last
	// 256 issued).
	NonceLifetime time.Duration
	// SessionTimeout is the session timeout the Session header announces (60 s if
	// zero; the header carries whole seconds, at least 1). A session that hears
	// nothing from its client for that long (no request on its connection, no RTCP)
	// is ended and its connection closed.
	SessionTimeout time.Duration
	// SenderReports sends an RTCP sender report every 5 s while media flows.
	SenderReports bool
	// MaxConns bounds the connections served at once (16 if zero); more are reset.
	MaxConns int
	// Clock paces the media and times sessions, nonces and faults (clock.System() if
	// nil).
	Clock clock.Clock
	// Log receives the camera's log (nothing if nil). It never holds credentials.
	Log *slog.Logger
	// Seed seeds the PRNG of session IDs, SSRCs, initial sequence numbers and
	// timestamps, and packet loss.
	Seed int64
	// Faults are the faults the camera starts with.
	Faults Faults
}

// Counters are what a simulated camera has done, for tests to read.
type Counters struct {
	// Connections counts TCP connections served; Refused those reset at once (over
	// MaxConns or while Off).
	Connections, Refused int64
	// Sessions counts sessions set up, Plays PLAYs, Teardowns TEARDOWNs, TimedOut
	// sessions ended by their timeout, Closed connections reset by CloseAfter.
	Sessions, Plays, Teardowns, TimedOut, Closed int64
	// KeepAlives counts OPTIONS and GET_PARAMETER requests received on a connection
	// with a session; ReceiverReports the RTCP receiver reports received (over UDP
	// or interleaved).
	KeepAlives, ReceiverReports int64
	// Challenges counts 401s sent, AuthFailures those for wrong or unusable
	// credentials, StaleNonces those for right credentials with an expired nonce.
	Challenges, AuthFailures, StaleNonces int64
	// PacketsSent and PacketsDropped count RTP packets sent and dropped by LossPct;
	// FramesSent frames sent whole or in part, FramesSkipped frames not sent (low
	// FPS, a stall, catching up with a clock that jumped).
	PacketsSent, PacketsDropped, FramesSent, FramesSkipped int64
	// SenderReports counts RTCP sender reports sent; ServerRequests requests the
	// camera sent its clients (Garbage); GarbageBytes the garbage bytes sent.
	SenderReports, ServerRequests, GarbageBytes int64
}

// simCounters are Counters, counted atomically.
type simCounters struct {
	connections, refused, sessions, plays, teardowns, timedOut, closed atomic.Int64
	keepAlives, receiverReports, challenges, authFailures, staleNonces atomic.Int64
	packetsSent, packetsDropped, framesSent, framesSkipped             atomic.Int64
	senderReports, serverRequests, garbageBytes                        atomic.Int64
}

// SimCamera is a simulated RTSP camera. Its methods are safe for concurrent use.
type SimCamera struct {
	o     SimOptions
	clk   clock.Clock
	log   *slog.Logger
	media *simMedia
	fmtp  string
	// idle is the real-time read deadline of a connection: a backstop to the session
	// timeout, which is timed on clk.
	idle time.Duration

	faults atomic.Pointer[Faults]

	mu       sync.Mutex
	changed  chan struct{} // closed and replaced by Set
	serving  bool
	closing  bool         // shutdown has begun: no more UDP sockets
	addr     net.Addr     // the address served, kept to listen again after Off
	ln       net.Listener // nil while Off or after Serve
	conns    map[*simConn]struct{}
	nextGOP  int
	nsess    uint64
	ids      *rand.Rand
	opaque   string
	nonces   map[string]time.Time
	udpRTP   *net.UDPConn
	udpRTCP  *net.UDPConn
	udpPeers map[netip.AddrPort]*simSession

	wg   sync.WaitGroup
	done chan struct{}
	n    simCounters
}

// NewSimCamera returns a simulated camera serving o's fixture; Serve or Start puts it
// on the network.
func NewSimCamera(o SimOptions) (*SimCamera, error) {
	switch o.Codec {
	case "":
		o.Codec = CodecH264
	case CodecH264, CodecH265:
	default:
		return nil, fmt.Errorf("rtsp: sim: codec %q (want %s or %s)", o.Codec, CodecH264, CodecH265)
	}
	if o.Fixture == nil {
		name := FixtureH264
		if o.Codec == CodecH265 {
			name = FixtureH265
		}
		b, err := Fixture(name)
		if err != nil {
			return nil, fmt.Errorf("rtsp: sim: %w", err)
		}
		o.Fixture = b
	}
	if o.FPS == 0 {
		o.FPS = 10
	}
	if o.FPS < 1 || o.FPS > 240 {
		return nil, fmt.Errorf("rtsp: sim: fixture rate %d fps out of range", o.FPS)
	}
	if o.Path == "" {
		o.Path = "/stream1"
	}
	if !strings.HasPrefix(o.Path, "/") {
		o.Path = "/" + o.Path
	}
	o.Path = strings.TrimRight(o.Path, "/")
	if o.Path == "" || strings.ContainsAny(o.Path, " \r\n?#") {
		return nil, fmt.Errorf("rtsp: sim: path %q", o.Path)
	}
	if o.Auth == "digest-nocqop" {
		o.Auth = AuthDigestNoQop
	}
	switch o.Auth {
	case AuthNone, AuthBasic, AuthDigest, AuthDigestNoQop, AuthDigestSHA256:
	default:
		return nil, fmt.Errorf("rtsp: sim: auth %q", o.Auth)
	}
	if o.Realm == "" {
		o.Realm = "IP Camera"
	}
	if o.SessionTimeout == 0 {
		o.SessionTimeout = 60 * time.Second
	}
	if o.SessionTimeout < 0 || o.NonceLifetime < 0 || o.MaxConns < 0 {
		return nil, errors.New("rtsp: sim: negative SessionTimeout, NonceLifetime or MaxConns")
	}
	if o.MaxConns == 0 {
		o.MaxConns = 16
	}
	m, err := simParseMedia(o.Codec, o.Fixture)
	if err != nil {
		return nil, err
	}
	o.Fixture = nil // packetised now: not kept twice
	s := &SimCamera{
		o:        o,
		clk:      clock.Or(o.Clock),
		log:      o.Log,
		media:    m,
		fmtp:     m.fmtp(),
		idle:     2*o.SessionTimeout + 5*time.Second,
		changed:  make(chan struct{}),
		conns:    map[*simConn]struct{}{},
		ids:      rand.New(rand.NewPCG(uint64(o.Seed), 0x5eed)),
		nonces:   map[string]time.Time{},
		udpPeers: map[netip.AddrPort]*simSession{},
		done:     make(chan struct{}),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.opaque = fmt.Sprintf("%016x", s.ids.Uint64())
	f := o.Faults
	s.faults.Store(&f)
	return s, nil
}

// Faults returns the faults in force.
func (s *SimCamera) Faults() Faults { return *s.faults.Load() }

// Set changes the faults in force (see Faults for when each applies).
func (s *SimCamera) Set(f Faults) {
	s.mu.Lock()
	old := s.faults.Swap(&f)
	close(s.changed)
	s.changed = make(chan struct{})
	var ln net.Listener
	var conns []*simConn
	if f.Off && !old.Off {
		ln, s.ln = s.ln, nil
		for c := range s.conns {
			conns = append(conns, c)
		}
	}
	s.mu.Unlock()
	s.log.Info("rtsp sim: faults set", "faults", fmt.Sprintf("%+v", f))
	if ln != nil {
		ln.Close()
	}
	for _, c := range conns {
		c.close(true)
	}
}

// Counters returns what the camera has done so far.
func (s *SimCamera) Counters() Counters {
	n := &s.n
	return Counters{
		Connections: n.connections.Load(), Refused: n.refused.Load(),
		Sessions: n.sessions.Load(), Plays: n.plays.Load(), Teardowns: n.teardowns.Load(),
		TimedOut: n.timedOut.Load(), Closed: n.closed.Load(),
		KeepAlives: n.keepAlives.Load(), ReceiverReports: n.receiverReports.Load(),
		Challenges: n.challenges.Load(), AuthFailures: n.authFailures.Load(), StaleNonces: n.staleNonces.Load(),
		PacketsSent: n.packetsSent.Load(), PacketsDropped: n.packetsDropped.Load(),
		FramesSent: n.framesSent.Load(), FramesSkipped: n.framesSkipped.Load(),
		SenderReports: n.senderReports.Load(), ServerRequests: n.serverRequests.Load(), GarbageBytes: n.garbageBytes.Load(),
	}
}

// URL returns the stream's URL (without credentials), or "" before Serve or Start.
func (s *SimCamera) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.addr == nil {
		return ""
	}
	host := s.addr.String()
	if ta, ok := s.addr.(*net.TCPAddr); ok && ta.IP.IsUnspecified() {
		host = net.JoinHostPort("127.0.0.1", strconv.Itoa(ta.Port))
	}
	return "rtsp://" + host + s.o.Path
}

// Done is closed once Serve has returned and every goroutine of the camera has ended.
func (s *SimCamera) Done() <-chan struct{} { return s.done }

// Start listens on addr ("127.0.0.1:0" if empty) and serves in a goroutine until ctx
// ends (Done then closes). It returns the stream's URL.
func (s *SimCamera) Start(ctx context.Context, addr string) (string, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return "", fmt.Errorf("rtsp: sim: %w", err)
	}
	// Begun here, not in the goroutine: a camera that starts off must refuse a
	// connection made as soon as Start returns, not take it into the backlog and
	// reset it.
	if err := s.begin(ln); err != nil {
		return "", err
	}
	go func() {
		if err := s.serve(ctx); err != nil {
			s.log.Error("rtsp sim: serve", "err", err)
		}
	}()
	return s.URL(), nil
}

// Serve serves RTSP on ln until ctx ends, then closes ln, every connection and session
// and the UDP sockets, waits for its goroutines and returns nil. While Faults.Off is
// set ln is closed; it is listened on again, at the same address, when Off is
// cleared. Serve may be called once.
func (s *SimCamera) Serve(ctx context.Context, ln net.Listener) error {
	if err := s.begin(ln); err != nil {
		return err
	}
	return s.serve(ctx)
}

// begin takes ln as the listener served, closing it at once if the camera is off.
func (s *SimCamera) begin(ln net.Listener) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.serving {
		ln.Close()
		return errors.New("rtsp: sim: already serving")
	}
	s.serving = true
	s.addr = ln.Addr()
	if s.faults.Load().Off {
		ln.Close()
		ln = nil
	}
	s.ln = ln
	return nil
}

// serve is Serve once begun.
func (s *SimCamera) serve(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer func() {
		cancel()
		s.shutdown()
		s.wg.Wait()
		close(s.done)
	}()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		<-ctx.Done()
		s.shutdown()
	}()
	s.log.Info("rtsp sim: serving", "url", s.URL(), "codec", s.o.Codec)
	for {
		if ctx.Err() != nil {
			return nil
		}
		s.mu.Lock()
		ln, off, changed := s.ln, s.faults.Load().Off, s.changed
		s.mu.Unlock()
		if ln == nil {
			if off {
				select {
				case <-changed:
				case <-ctx.Done():
				}
				continue
			}
			if err := s.relisten(ctx); err != nil {
				s.log.Warn("rtsp sim: listening again after off", "err", err)
				select {
				case <-time.After(100 * time.Millisecond):
				case <-ctx.Done():
				}
			}
			continue
		}
		nc, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			s.mu.Lock()
			ours := s.ln == ln
			s.mu.Unlock()
			if !ours { // closed by Set(Off)
				continue
			}
			if errors.Is(err, net.ErrClosed) {
				return fmt.Errorf("rtsp: sim: accept: %w", err)
			}
			select { // a transient error (too many open files): back off
			case <-time.After(10 * time.Millisecond):
			case <-ctx.Done():
			}
			continue
		}
		s.accept(ctx, nc)
	}
}

// relisten listens again on the address served, once Off is cleared.
func (s *SimCamera) relisten(ctx context.Context) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, s.addr.Network(), s.addr.String())
	if err != nil {
		return fmt.Errorf("rtsp: sim: listen %s: %w", s.addr, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if ctx.Err() != nil || s.faults.Load().Off || s.ln != nil {
		ln.Close()
		return nil
	}
	s.ln = ln
	s.log.Info("rtsp sim: switched on again", "addr", s.addr.String())
	return nil
}

// shutdown closes the listener, every connection and the UDP sockets.
func (s *SimCamera) shutdown() {
	s.mu.Lock()
	s.closing = true
	ln := s.ln
	s.ln = nil
	var conns []*simConn
	for c := range s.conns {
		conns = append(conns, c)
	}
	udp := []*net.UDPConn{s.udpRTP, s.udpRTCP}
	s.mu.Unlock()
	if ln != nil {
		ln.Close()
	}
	for _, c := range conns {
		c.close(false)
	}
	for _, u := range udp {
		if u != nil {
			u.Close()
		}
	}
}

// accept serves a new connection, or resets it if there are too many or the camera is
// off or shutting down.
func (s *SimCamera) accept(ctx context.Context, nc net.Conn) {
	s.mu.Lock()
	if ctx.Err() != nil || len(s.conns) >= s.o.MaxConns || s.faults.Load().Off {
		s.mu.Unlock()
		s.n.refused.Add(1)
		simReset(nc)
		return
	}
	c := &simConn{s: s, c: nc, br: bufio.NewReaderSize(nc, 4096), done: make(chan struct{})}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	s.n.connections.Add(1)
	go c.serve(ctx)
}

// simReset closes nc with a TCP RST rather than a FIN, as a camera losing power or
// rebooting does.
func simReset(nc net.Conn) {
	if tc, ok := nc.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	nc.Close()
}

// newNonce issues a Digest nonce.
func (s *SimCamera) newNonce() string {
	now := s.clk.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if lt := s.o.NonceLifetime; lt > 0 {
		for n, t := range s.nonces {
			if now.Sub(t) >= lt {
				delete(s.nonces, n)
			}
		}
	}
	for len(s.nonces) >= simMaxNonces {
		var oldest string
		var ot time.Time
		for n, t := range s.nonces {
			if oldest == "" || t.Before(ot) {
				oldest, ot = n, t
			}
		}
		delete(s.nonces, oldest)
	}
	n := fmt.Sprintf("%016x%016x", s.ids.Uint64(), s.ids.Uint64())
	s.nonces[n] = now
	return n
}

// nonceValid says whether nonce was issued and is still honoured.
func (s *SimCamera) nonceValid(nonce string) bool {
	now := s.clk.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.nonces[nonce]
	return ok && (s.o.NonceLifetime <= 0 || now.Sub(t) < s.o.NonceLifetime)
}

// startAU is where a new session's media begins: the GOP after the one the last
// session began with, as a live scene moves on, or the first GOP for a frozen picture.
func (s *SimCamera) startAU(frozen bool) int {
	if frozen {
		return s.media.gops[0]
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.media.gops[s.nextGOP%len(s.media.gops)]
	s.nextGOP++
	return g
}

// udpSockets returns the camera's RTP and RTCP sockets, opening them (an even port and
// the next, RFC 3550 section 11) on first use, bound to the IP the camera listens on.
func (s *SimCamera) udpSockets(ctx context.Context) (*net.UDPConn, *net.UDPConn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.udpRTP != nil {
		return s.udpRTP, s.udpRTCP, nil
	}
	if s.closing || ctx.Err() != nil {
		return nil, nil, errors.New("rtsp: sim: shutting down")
	}
	var ip net.IP
	if ta, ok := s.addr.(*net.TCPAddr); ok {
		ip = ta.IP
	}
	for range 64 {
		a, err := net.ListenUDP("udp", &net.UDPAddr{IP: ip})
		if err != nil {
			return nil, nil, fmt.Errorf("rtsp: sim: UDP: %w", err)
		}
		p := a.LocalAddr().(*net.UDPAddr).Port
		if p%2 != 0 || p == 65535 {
			a.Close()
			continue
		}
		b, err := net.ListenUDP("udp", &net.UDPAddr{IP: ip, Port: p + 1})
		if err != nil {
			a.Close()
			continue
		}
		s.udpRTP, s.udpRTCP = a, b
		s.wg.Add(1)
		go s.readRTCP(b)
		return a, b, nil
	}
	return nil, nil, errors.New("rtsp: sim: UDP: no free pair of ports")
}

// readRTCP reads the RTCP clients send to the camera's RTCP port: receiver reports are
// counted, and any packet from a session's client keeps that session alive.
func (s *SimCamera) readRTCP(pc *net.UDPConn) {
	defer s.wg.Done()
	buf := make([]byte, 2048)
	for {
		pc.SetReadDeadline(time.Now().Add(s.idle))
		n, from, err := pc.ReadFromUDPAddrPort(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				s.mu.Lock()
				closing := s.closing
				s.mu.Unlock()
				if !closing {
					continue
				}
			}
			return
		}
		from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
		s.mu.Lock()
		ss := s.udpPeers[from]
		s.mu.Unlock()
		if ss != nil {
			ss.touch(s.clk.Now())
		}
		s.n.receiverReports.Add(int64(simCountRRs(buf[:n])))
	}
}

// simCountRRs counts the receiver reports in a compound RTCP packet.
func simCountRRs(b []byte) int {
	pkts, err := rtcp.Unmarshal(b)
	if err != nil {
		return 0
	}
	n := 0
	for _, p := range pkts {
		if _, ok := p.(*rtcp.ReceiverReport); ok {
			n++
		}
	}
	return n
}

// endSession stops a session's media and forgets its UDP peers.
func (s *SimCamera) endSession(ss *simSession) {
	ss.stopOnce.Do(func() { close(ss.stop) })
	if ss.tcp {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range []netip.AddrPort{ss.rtpAddr, ss.rtcpAddr} {
		if s.udpPeers[a] == ss {
			delete(s.udpPeers, a)
		}
	}
}

// simConn is one client's connection.
type simConn struct {
	s    *SimCamera
	c    net.Conn
	br   *bufio.Reader
	wmu  sync.Mutex // one writer at a time: replies, media, server requests
	once sync.Once
	done chan struct{}

	mu   sync.Mutex
	sess *simSession

	srvCSeq atomic.Int64
}

// close closes the connection (with a reset if abrupt) and ends its session.
func (c *simConn) close(abrupt bool) {
	c.once.Do(func() {
		if abrupt {
			simReset(c.c)
		} else {
			c.c.Close()
		}
		close(c.done)
		c.mu.Lock()
		ss := c.sess
		c.sess = nil
		c.mu.Unlock()
		if ss != nil {
			c.s.endSession(ss)
		}
		c.s.mu.Lock()
		delete(c.s.conns, c)
		c.s.mu.Unlock()
	})
}

// session returns the connection's session, or nil.
func (c *simConn) session() *simSession {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sess
}

// write writes b to the client within simWriteTimeout.
func (c *simConn) write(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.c.SetWriteDeadline(time.Now().Add(simWriteTimeout))
	_, err := c.c.Write(b)
	return err
}

// serve reads the client's requests, its RTCP and its answers to the camera's own
// requests, until the connection ends.
func (c *simConn) serve(ctx context.Context) {
	defer c.s.wg.Done()
	defer c.close(false)
	c.s.log.Debug("rtsp sim: connection", "remote", c.c.RemoteAddr().String())
	for {
		c.c.SetReadDeadline(time.Now().Add(c.s.idle))
		b, err := c.br.Peek(1)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				if ss := c.session(); ss != nil && c.s.clk.Now().Before(ss.deadline()) {
					continue // a UDP session kept alive by RTCP alone
				}
			}
			return
		}
		switch {
		case b[0] == '$':
			if err := c.readFrame(); err != nil {
				return
			}
		case b[0] == '\r' || b[0] == '\n':
			c.br.Discard(1)
		default:
			if p, _ := c.br.Peek(5); strings.EqualFold(string(p), "RTSP/") {
				// the client's answer to a request of the camera's own
				if _, err := ReadResponse(c.br); err != nil {
					return
				}
				c.touch()
				continue
			}
			req, err := ReadRequest(c.br)
			if err != nil {
				if errors.Is(err, ErrMessage) {
					c.s.log.Debug("rtsp sim: bad request", "remote", c.c.RemoteAddr().String(), "err", err)
					c.reply(-1, 400, nil, nil)
				}
				return
			}
			c.touch()
			if !c.handle(ctx, req) {
				return
			}
		}
	}
}

// readFrame reads an interleaved frame from the client: RTCP on the session's RTCP
// channel is counted and keeps the session alive; anything else is discarded.
func (c *simConn) readFrame() error {
	hdr, err := c.br.Peek(4)
	if err != nil {
		return err
	}
	ch, n := hdr[1], int(binary.BigEndian.Uint16(hdr[2:4]))
	c.br.Discard(4)
	p := make([]byte, n)
	if _, err := io.ReadFull(c.br, p); err != nil {
		return err
	}
	if ss := c.session(); ss != nil && ss.tcp && ch == ss.rtcpCh {
		ss.touch(c.s.clk.Now())
		c.s.n.receiverReports.Add(int64(simCountRRs(p)))
	}
	return nil
}

// touch notes that the client was heard from.
func (c *simConn) touch() {
	if ss := c.session(); ss != nil {
		ss.touch(c.s.clk.Now())
	}
}

// reply writes a response with the camera's usual headers.
func (c *simConn) reply(cseq, status int, h Header, body []byte) bool {
	hdr := Header{{"Server", "apedge-sim/1.0"}, {"Date", c.s.clk.Now().UTC().Format("Mon, 02 Jan 2006 15:04:05 GMT")}}
	hdr = append(hdr, h...)
	var b bytes.Buffer
	if err := WriteResponse(&b, &Response{Status: status, Header: hdr, Body: body}, cseq); err != nil {
		c.s.log.Error("rtsp sim: response", "err", err)
		return false
	}
	return c.write(b.Bytes()) == nil
}

// handle answers one request; false ends the connection.
func (c *simConn) handle(ctx context.Context, req *Request) bool {
	s := c.s
	cseq := req.CSeq()
	f := s.Faults()
	switch req.Method {
	case "OPTIONS":
		// unauthenticated, as most cameras answer it
		if c.session() != nil {
			s.n.keepAlives.Add(1)
		}
		return c.reply(cseq, 200, Header{{"Public", simPublic}}, nil)
	case "DESCRIBE", "SETUP", "PLAY", "GET_PARAMETER", "TEARDOWN":
	default:
		return c.reply(cseq, 501, Header{{"Public", simPublic}}, nil)
	}
	if ok, alive := c.authorize(req, cseq, f); !ok {
		return alive
	}
	u, err := url.Parse(req.URL)
	if err != nil {
		return c.reply(cseq, 400, nil, nil)
	}
	switch req.Method {
	case "DESCRIBE":
		return c.describe(ctx, u, cseq, f)
	case "SETUP":
		return c.setup(ctx, u, req, cseq, f)
	case "PLAY":
		return c.play(u, req, cseq, f)
	case "GET_PARAMETER":
		ss := c.session()
		if id := simSessionID(req); id != "" && (ss == nil || id != ss.id) {
			return c.reply(cseq, 454, nil, nil)
		}
		var h Header
		if ss != nil {
			s.n.keepAlives.Add(1)
			h = Header{{"Session", ss.id}}
		}
		return c.reply(cseq, 200, h, nil)
	default: // TEARDOWN
		ss := c.session()
		if ss == nil || simSessionID(req) != ss.id {
			return c.reply(cseq, 454, nil, nil)
		}
		c.mu.Lock()
		c.sess = nil
		c.mu.Unlock()
		s.endSession(ss)
		s.n.teardowns.Add(1)
		s.log.Debug("rtsp sim: teardown", "session", ss.id)
		return c.reply(cseq, 200, Header{{"Session", ss.id}}, nil)
	}
}

// simSessionID is the session identifier of a request's Session header.
func simSessionID(req *Request) string {
	id, _, _ := strings.Cut(req.Header.Get("Session"), ";")
	return strings.TrimSpace(id)
}

// authorize checks a request's credentials, answering 401 with a fresh challenge if
// they are missing, wrong, of a scheme not offered or hold a stale nonce. ok says the
// request may go on; alive that the connection still stands.
func (c *simConn) authorize(req *Request, cseq int, f Faults) (ok, alive bool) {
	s := c.s
	mode := s.o.Auth
	if f.DigestOnly && (mode == AuthNone || mode == AuthBasic) {
		mode = AuthDigest
	}
	if mode == AuthNone {
		if !f.WrongPassword {
			return true, true
		}
		mode = AuthBasic
	}
	v := req.Header.Get("Authorization")
	if v == "" {
		return false, c.challenge(cseq, mode, false)
	}
	fail := func(why string) (bool, bool) {
		s.n.authFailures.Add(1)
		s.log.Info("rtsp sim: credentials refused", "method", req.Method, "why", why)
		return false, c.challenge(cseq, mode, false)
	}
	a, err := ParseAuthorization(v)
	if err != nil {
		return fail("unreadable Authorization")
	}
	if f.WrongPassword {
		return fail("wrong-password fault")
	}
	cred := Credentials{User: s.o.User, Password: s.o.Password}
	switch a.Scheme {
	case "Basic":
		if mode != AuthBasic {
			return fail("Basic not offered")
		}
		if !a.Verify(cred, s.o.Realm, req.Method) {
			return fail("wrong user or password")
		}
		return true, true
	default: // Digest
		if mode == AuthBasic {
			return fail("Digest not offered")
		}
		alg := strings.ToUpper(a.Algorithm)
		if alg != "" && alg != "MD5" && !(alg == "SHA-256" && mode == AuthDigestSHA256) {
			return fail("algorithm not offered")
		}
		if (a.Qop != "") != (mode != AuthDigestNoQop) {
			return fail("qop not as offered")
		}
		if a.Opaque != "" && a.Opaque != s.opaque {
			return fail("opaque not ours")
		}
		if !a.Verify(cred, s.o.Realm, req.Method) {
			return fail("wrong digest")
		}
		if !s.nonceValid(a.Nonce) {
			s.n.staleNonces.Add(1)
			return false, c.challenge(cseq, mode, true)
		}
		return true, true
	}
}

// challenge answers 401 with the challenges of mode and a fresh nonce.
func (c *simConn) challenge(cseq int, mode string, stale bool) bool {
	s := c.s
	s.n.challenges.Add(1)
	var h Header
	switch mode {
	case AuthBasic:
		h = Header{{"WWW-Authenticate", Challenge{Scheme: "Basic", Realm: s.o.Realm}.WWWAuthenticate(false)}}
	default:
		d := Challenge{Scheme: "Digest", Realm: s.o.Realm, Nonce: s.newNonce(), Opaque: s.opaque, Qop: []string{"auth"}}
		if mode == AuthDigestNoQop {
			d.Qop = nil
		}
		if mode == AuthDigestSHA256 {
			sha := d
			sha.Algorithm, d.Algorithm = "SHA-256", "MD5"
			h = append(h, [2]string{"WWW-Authenticate", sha.WWWAuthenticate(stale)})
		}
		h = append(h, [2]string{"WWW-Authenticate", d.WWWAuthenticate(stale)})
	}
	return c.reply(cseq, 401, h, nil)
}

// isStream says whether p is the stream's path; isTrack whether it is the track's
// (or the stream's, which some clients SETUP).
func (s *SimCamera) isStream(p string) bool { return strings.TrimRight(p, "/") == s.o.Path }
func (s *SimCamera) isTrack(p string) bool {
	p = strings.TrimRight(p, "/")
	return p == s.o.Path || p == s.o.Path+"/"+simTrack
}

// base is the Content-Base of the stream as the client addressed it.
func (s *SimCamera) base(u *url.URL) string {
	b := url.URL{Scheme: "rtsp", Host: u.Host, Path: s.o.Path + "/"}
	return b.String()
}

// describe answers DESCRIBE with the SDP (RFC 2326 section 10.2, appendix C).
func (c *simConn) describe(ctx context.Context, u *url.URL, cseq int, f Faults) bool {
	s := c.s
	if !s.isStream(u.Path) {
		return c.reply(cseq, 404, nil, nil)
	}
	if f.SlowDescribe > 0 {
		select {
		case <-s.clk.Until(s.clk.Now().Add(f.SlowDescribe)):
		case <-c.done:
			return false
		case <-ctx.Done():
			return false
		}
	}
	return c.reply(cseq, 200, Header{{"Content-Type", "application/sdp"}, {"Content-Base", s.base(u)}}, s.sdp(c.localIP()))
}

// localIP is the camera's address on this connection.
func (c *simConn) localIP() netip.Addr {
	if ta, ok := c.c.LocalAddr().(*net.TCPAddr); ok {
		return ta.AddrPort().Addr().Unmap()
	}
	return netip.IPv4Unspecified()
}

// remoteIP is the client's address, if it has one UDP can be sent to.
func (c *simConn) remoteIP() (netip.Addr, bool) {
	if ta, ok := c.c.RemoteAddr().(*net.TCPAddr); ok {
		return ta.AddrPort().Addr().Unmap(), true
	}
	return netip.Addr{}, false
}

// sdp is the session description (RFC 4566) of the stream: one video track with a
// relative control URL, its rtpmap and fmtp (RFC 6184 section 8.2.1, RFC 7798 section
// 7.2) and frame rate.
func (s *SimCamera) sdp(ip netip.Addr) []byte {
	af := "IP4"
	if ip.Is6() {
		af = "IP6"
	}
	enc := "H264"
	if s.o.Codec == CodecH265 {
		enc = "H265"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "v=0\r\no=- 1 1 IN %s %s\r\ns=apedge simulated camera\r\nc=IN %s %s\r\nt=0 0\r\na=control:*\r\na=range:npt=0-\r\n", af, ip, af, ip)
	fmt.Fprintf(&b, "m=video 0 RTP/AVP %d\r\na=rtpmap:%d %s/%d\r\na=fmtp:%d %s\r\na=framerate:%d\r\na=control:%s\r\n",
		simPayloadType, simPayloadType, enc, simClockRate, simPayloadType, s.fmtp, s.o.FPS, simTrack)
	return []byte(b.String())
}

// simTransport is one Transport alternative a client's SETUP offers.
type simTransport struct {
	tcp                bool
	rtpCh, rtcpCh      uint8
	rtpPort, rtcpPort  uint16
	hasChannels, multi bool
}

// simParseTransports parses a Transport header's alternatives (RFC 2326 section 12.39),
// leaving out those it cannot serve (multicast, other profiles, missing ports).
func simParseTransports(v string) []simTransport {
	var out []simTransport
	for _, alt := range strings.Split(v, ",") {
		parts := strings.Split(alt, ";")
		var t simTransport
		switch strings.ToUpper(strings.TrimSpace(parts[0])) {
		case "RTP/AVP/TCP":
			t.tcp = true
		case "RTP/AVP", "RTP/AVP/UDP":
		default:
			continue
		}
		ok := true
		for _, p := range parts[1:] {
			k, val, _ := strings.Cut(strings.TrimSpace(p), "=")
			switch strings.ToLower(k) {
			case "multicast":
				t.multi = true
			case "interleaved":
				a, b, good := simParsePair(val, 255)
				if !good {
					ok = false
				}
				t.rtpCh, t.rtcpCh, t.hasChannels = uint8(a), uint8(b), true
			case "client_port":
				a, b, good := simParsePair(val, 65535)
				if !good || a == 0 || b == 0 {
					ok = false
				}
				t.rtpPort, t.rtcpPort = uint16(a), uint16(b)
			}
		}
		switch {
		case !ok || t.multi:
			continue
		case t.tcp && !t.hasChannels:
			t.rtpCh, t.rtcpCh = 0, 1
		case !t.tcp && t.rtpPort == 0:
			continue
		}
		out = append(out, t)
	}
	return out
}

// simParsePair parses "a-b" (or "a", meaning a and a+1), each at most max.
func simParsePair(v string, max int) (int, int, bool) {
	as, bs, two := strings.Cut(strings.TrimSpace(v), "-")
	a, err := strconv.Atoi(as)
	if err != nil || a < 0 || a > max {
		return 0, 0, false
	}
	if !two {
		if a+1 > max {
			return 0, 0, false
		}
		return a, a + 1, true
	}
	b, err := strconv.Atoi(bs)
	if err != nil || b < 0 || b > max {
		return 0, 0, false
	}
	return a, b, true
}

// setup answers SETUP: a session over the first transport offered that the camera's
// faults allow, 461 if none.
func (c *simConn) setup(ctx context.Context, u *url.URL, req *Request, cseq int, f Faults) bool {
	s := c.s
	if !s.isTrack(u.Path) {
		return c.reply(cseq, 404, nil, nil)
	}
	if ss := c.session(); ss != nil {
		if simSessionID(req) != ss.id {
			return c.reply(cseq, 454, nil, nil)
		}
		return c.reply(cseq, 455, nil, nil) // one track, set up already
	}
	var t *simTransport
	ip, hasIP := c.remoteIP()
	for _, alt := range simParseTransports(req.Header.Get("Transport")) {
		if alt.tcp && f.UDPOnly || !alt.tcp && (f.TCPOnly || !hasIP) {
			continue
		}
		t = &alt
		break
	}
	if t == nil {
		return c.reply(cseq, 461, nil, nil)
	}
	ss := c.newSession(*t)
	var tr string
	if t.tcp {
		tr = fmt.Sprintf("RTP/AVP/TCP;unicast;interleaved=%d-%d;ssrc=%08X", t.rtpCh, t.rtcpCh, ss.ssrc)
	} else {
		rtpSock, _, err := s.udpSockets(ctx)
		if err != nil {
			s.log.Error("rtsp sim: UDP", "err", err)
			return c.reply(cseq, 500, nil, nil)
		}
		port := rtpSock.LocalAddr().(*net.UDPAddr).Port
		ss.rtpAddr = netip.AddrPortFrom(ip, t.rtpPort)
		ss.rtcpAddr = netip.AddrPortFrom(ip, t.rtcpPort)
		tr = fmt.Sprintf("RTP/AVP;unicast;client_port=%d-%d;server_port=%d-%d;ssrc=%08X", t.rtpPort, t.rtcpPort, port, port+1, ss.ssrc)
		s.mu.Lock()
		s.udpPeers[ss.rtpAddr], s.udpPeers[ss.rtcpAddr] = ss, ss
		s.mu.Unlock()
	}
	c.mu.Lock()
	c.sess = ss
	c.mu.Unlock()
	s.n.sessions.Add(1)
	s.log.Debug("rtsp sim: session", "session", ss.id, "tcp", t.tcp, "remote", c.c.RemoteAddr().String())
	secs := max(1, int((s.o.SessionTimeout+time.Second-1)/time.Second))
	if !c.reply(cseq, 200, Header{{"Transport", tr}, {"Session", fmt.Sprintf("%s;timeout=%d", ss.id, secs)}}, nil) {
		return false
	}
	s.wg.Add(1)
	go ss.run(ctx)
	return true
}

// play answers PLAY and starts the media (RFC 2326 sections 10.5, 12.33).
func (c *simConn) play(u *url.URL, req *Request, cseq int, f Faults) bool {
	s := c.s
	ss := c.session()
	if ss == nil || simSessionID(req) != ss.id {
		return c.reply(cseq, 454, nil, nil)
	}
	ss.mu.Lock()
	first := !ss.playing
	ss.mu.Unlock()
	h := Header{{"Session", ss.id}, {"Range", "npt=0.000-"}}
	if !first {
		return c.reply(cseq, 200, h, nil)
	}
	// the first packet's: nothing is sent until playing is set, once PLAY is answered
	t0 := s.clk.Now()
	start := s.startAU(f.FrozenPicture)
	s.n.plays.Add(1)
	h = append(h, [2]string{"RTP-Info", fmt.Sprintf("url=%s%s;seq=%d;rtptime=%d", s.base(u), simTrack, uint16(ss.seq.Load()), ss.ts0)})
	if !c.reply(cseq, 200, h, nil) {
		return false
	}
	ss.mu.Lock()
	ss.playing, ss.t0, ss.start = true, t0, start
	ss.mu.Unlock()
	select {
	case ss.kick <- struct{}{}:
	default:
	}
	return true
}

// simSession is one RTSP session: its transport and its media state.
type simSession struct {
	c        *simConn
	id       string
	ssrc     uint32
	ts0      uint32
	seq      atomic.Uint32 // the next sequence number (low 16 bits)
	tcp      bool
	rtpCh    uint8
	rtcpCh   uint8
	rtpAddr  netip.AddrPort
	rtcpAddr netip.AddrPort
	rng      *rand.Rand // owned by run
	heard    atomic.Int64
	kick     chan struct{}
	stop     chan struct{}
	stopOnce sync.Once

	mu      sync.Mutex
	playing bool
	t0      time.Time
	start   int
}

// newSession makes a session for transport t.
func (c *simConn) newSession(t simTransport) *simSession {
	s := c.s
	s.mu.Lock()
	s.nsess++
	n := s.nsess
	ss := &simSession{c: c, id: fmt.Sprintf("%016X", s.ids.Uint64()), ssrc: s.ids.Uint32(), ts0: s.ids.Uint32(),
		tcp: t.tcp, rtpCh: t.rtpCh, rtcpCh: t.rtcpCh, kick: make(chan struct{}, 1), stop: make(chan struct{})}
	ss.seq.Store(s.ids.Uint32() & 0xffff)
	s.mu.Unlock()
	ss.rng = rand.New(rand.NewPCG(uint64(s.o.Seed), n))
	ss.touch(s.clk.Now())
	return ss
}

// touch notes that the session's client was heard from at now.
func (ss *simSession) touch(now time.Time) { ss.heard.Store(now.UnixNano()) }

// deadline is when the session times out unless its client is heard from.
func (ss *simSession) deadline() time.Time {
	return time.Unix(0, ss.heard.Load()).Add(ss.c.s.o.SessionTimeout)
}

// simGarbage returns piece i (of five) of the garbage sent between frames: none begins a
// frame ('$') or a message (a capital, or "RTSP/"), so a reader that resynchronises
// skips them.
func simGarbage(i int) string {
	switch i % 5 {
	case 0:
		return "\r\n"
	case 1:
		return "\x00\x00\x00"
	case 2:
		return "\xff\xfe\x80"
	case 3:
		return "xx\x00junk\r\n"
	}
	return "0123"
}

// run paces the session's media on the camera's clock and ends the session when its
// client goes quiet for its timeout, until the session or the connection ends.
func (ss *simSession) run(ctx context.Context) {
	c := ss.c
	s := c.s
	defer s.wg.Done()
	fps := int64(s.o.FPS)
	frameAt := func(k int64) time.Duration { return time.Duration(k) * time.Second / time.Duration(fps) }
	var (
		playing          bool
		t0               time.Time
		k                int64 // the next frame's index since PLAY
		cur              int   // the next frame's access unit
		frozen           bool
		frozenTS         uint32
		nextSR           time.Time
		packets, octets  uint32
		buf              []byte
		serverRequestNum int64
	)
	for {
		if !playing {
			ss.mu.Lock()
			if ss.playing {
				playing, t0, cur = true, ss.t0, ss.start
				nextSR = t0.Add(simSenderReportEvery)
			}
			ss.mu.Unlock()
		}
		f := s.Faults()
		s.mu.Lock()
		changed := s.changed
		s.mu.Unlock()
		now := s.clk.Now()
		deadline := ss.deadline()
		if !now.Before(deadline) {
			s.n.timedOut.Add(1)
			s.log.Info("rtsp sim: session timed out", "session", ss.id)
			c.close(false)
			return
		}
		wake := deadline
		if playing {
			elapsed := now.Sub(t0)
			if f.CloseAfter > 0 {
				if elapsed >= f.CloseAfter {
					s.n.closed.Add(1)
					s.log.Info("rtsp sim: closing abruptly", "session", ss.id)
					c.close(true)
					return
				}
				wake = simMinTime(wake, t0.Add(f.CloseAfter))
			}
			if due := t0.Add(frameAt(k)); now.Before(due) {
				wake = simMinTime(wake, due)
			} else {
				if now.Sub(due) > 5*time.Second { // the clock jumped: catch up as a live camera
					n := int64(elapsed.Seconds()*float64(fps)) - k
					for range min(n, int64(2*len(s.media.aus))) {
						cur = s.media.next(cur, f.FrozenPicture)
					}
					k += n
					s.n.framesSkipped.Add(n)
				}
				ts := ss.ts0 + uint32(uint64(k)*simClockRate/uint64(fps))
				if f.FrozenTimestamps {
					if !frozen {
						frozen, frozenTS = true, ts
					}
					ts = frozenTS
				} else {
					frozen = false
				}
				stalled := f.StallAfter > 0 && frameAt(k) >= f.StallAfter // by the frame's time, not the loop's
				send := !stalled && (f.FPS <= 0 || int64(f.FPS) >= fps || k*int64(f.FPS)%fps < int64(f.FPS))
				if send {
					var err error
					buf, err = ss.sendAU(buf, f, k, &s.media.aus[cur], ts, &packets, &octets)
					if err != nil {
						c.close(false)
						return
					}
					s.n.framesSent.Add(1)
				} else {
					s.n.framesSkipped.Add(1)
				}
				if f.Garbage && k%(2*fps) == fps/2 {
					serverRequestNum++
					if !ss.serverRequest(serverRequestNum) {
						c.close(false)
						return
					}
				}
				if s.o.SenderReports && !stalled && !now.Before(nextSR) {
					if nextSR = nextSR.Add(simSenderReportEvery); nextSR.Before(now) { // after a jump
						nextSR = now.Add(simSenderReportEvery)
					}
					// the RTP time of the moment the report is sent (RFC 3550 section
					// 6.4.1), on the timeline of the frames
					srTS := ss.ts0 + simRTPTime(now.Sub(t0))
					if frozen {
						srTS = frozenTS
					}
					if !ss.senderReport(now, srTS, packets, octets) {
						c.close(false)
						return
					}
				}
				cur = s.media.next(cur, f.FrozenPicture)
				k++
				continue
			}
		}
		select {
		case <-s.clk.Until(wake):
		case <-changed:
		case <-ss.kick:
		case <-ss.stop:
			return
		case <-c.done:
			return
		case <-ctx.Done():
			return
		}
	}
}

// simRTPTime is d on the 90 kHz RTP clock (modulo 2^32).
func simRTPTime(d time.Duration) uint32 {
	return uint32(uint64(d/time.Second)*simClockRate + uint64(d%time.Second)*simClockRate/uint64(time.Second))
}

// simMinTime is the earlier of a and b.
func simMinTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// sendAU sends one access unit's RTP packets with timestamp ts, dropping those
// LossPct says to. Over TCP the frames go in one write, with garbage before every
// fourth access unit if f.Garbage; buf is reused.
func (ss *simSession) sendAU(buf []byte, f Faults, k int64, au *simAU, ts uint32, packets, octets *uint32) ([]byte, error) {
	s := ss.c.s
	buf = buf[:0]
	if ss.tcp && f.Garbage && k%4 == 1 {
		g := simGarbage(ss.rng.IntN(5))
		buf = append(buf, g...)
		s.n.garbageBytes.Add(int64(len(g)))
	}
	for i, pl := range au.payloads {
		seq := uint16(ss.seq.Add(1) - 1)
		if f.LossPct > 0 && ss.rng.Float64()*100 < f.LossPct {
			s.n.packetsDropped.Add(1)
			continue
		}
		marker := i == len(au.payloads)-1
		if ss.tcp {
			n := 12 + len(pl)
			buf = append(buf, '$', ss.rtpCh, byte(n>>8), byte(n))
			buf = simAppendRTPHeader(buf, marker, seq, ts, ss.ssrc)
			buf = append(buf, pl...)
		} else {
			pkt := simAppendRTPHeader(buf[:0], marker, seq, ts, ss.ssrc)
			pkt = append(pkt, pl...)
			buf = pkt
			if s.udpRTP != nil {
				s.udpRTP.WriteToUDPAddrPort(pkt, ss.rtpAddr) // a UDP send error is a lost packet
			}
		}
		s.n.packetsSent.Add(1)
		*packets++
		*octets += uint32(len(pl))
	}
	if ss.tcp && len(buf) > 0 {
		return buf, ss.c.write(buf)
	}
	return buf, nil
}

// simAppendRTPHeader appends a 12-byte RTP header (RFC 3550 section 5.1): version 2, no
// padding, extension or CSRC.
func simAppendRTPHeader(b []byte, marker bool, seq uint16, ts, ssrc uint32) []byte {
	m := byte(simPayloadType)
	if marker {
		m |= 0x80
	}
	b = append(b, 0x80, m)
	b = binary.BigEndian.AppendUint16(b, seq)
	b = binary.BigEndian.AppendUint32(b, ts)
	return binary.BigEndian.AppendUint32(b, ssrc)
}

// serverRequest sends the client a request of the camera's own (Garbage), as some
// cameras send GET_PARAMETER or OPTIONS between frames.
func (ss *simSession) serverRequest(n int64) bool {
	c := ss.c
	method := "GET_PARAMETER"
	if n%2 == 0 {
		method = "OPTIONS"
	}
	var b bytes.Buffer
	u := url.URL{Scheme: "rtsp", Host: c.c.LocalAddr().String(), Path: c.s.o.Path}
	if err := WriteRequest(&b, &Request{Method: method, URL: u.String(), Header: Header{{"Session", ss.id}}}, int(c.srvCSeq.Add(1))); err != nil {
		return false
	}
	c.s.n.serverRequests.Add(1)
	return c.write(b.Bytes()) == nil
}

// senderReport sends an RTCP sender report (RFC 3550 section 6.4.1).
func (ss *simSession) senderReport(now time.Time, ts uint32, packets, octets uint32) bool {
	s := ss.c.s
	sr := rtcp.SenderReport{SSRC: ss.ssrc, NTPTime: simNTPTime(now), RTPTime: ts, PacketCount: packets, OctetCount: octets}
	b, err := sr.Marshal()
	if err != nil {
		return false
	}
	s.n.senderReports.Add(1)
	if ss.tcp {
		fr := append([]byte{'$', ss.rtcpCh, byte(len(b) >> 8), byte(len(b))}, b...)
		return ss.c.write(fr) == nil
	}
	if s.udpRTCP != nil {
		s.udpRTCP.WriteToUDPAddrPort(b, ss.rtcpAddr)
	}
	return true
}

// simNTPTime is t as a 64-bit NTP timestamp (RFC 5905 section 6): seconds since 1900 and
// a binary fraction.
func simNTPTime(t time.Time) uint64 {
	const epochOffset = 2208988800 // 1900-01-01 to 1970-01-01, in seconds
	secs := uint64(t.Unix()) + epochOffset
	frac := uint64(t.Nanosecond()) << 32 / 1e9
	return secs<<32 | frac
}

// simAU is one access unit of the fixture: a picture, packetised once.
type simAU struct {
	// payloads are its RTP payloads (single NAL units, STAP-A or AP aggregates of
	// parameter sets, FU-A or FU fragments), the last one carrying the marker.
	payloads [][]byte
	// key says it is an IDR (H.264) or IRAP (H.265) picture.
	key bool
}

// simMedia is a fixture cut into access units.
type simMedia struct {
	codec string
	aus   []simAU
	// gops are the indices of the keyframes (the first access unit if there is none).
	gops []int
	// vps, sps and pps are the first parameter sets, for the SDP.
	vps, sps, pps []byte
}

// next is the access unit after cur: the fixture loops as a live camera goes on, and a
// frozen picture goes back to the first GOP at every keyframe.
func (m *simMedia) next(cur int, frozen bool) int {
	n := cur + 1
	if n >= len(m.aus) {
		n = 0
	}
	if frozen && (n == 0 || m.aus[n].key) {
		n = m.gops[0]
	}
	return n
}

// fmtp is the a=fmtp value of the SDP: packetization-mode=1 (non-interleaved, RFC
// 6184 section 6.3) with profile-level-id and sprop-parameter-sets (section 8.1), or
// sprop-vps, sprop-sps and sprop-pps (RFC 7798 section 7.1).
func (m *simMedia) fmtp() string {
	b64 := base64.StdEncoding.EncodeToString
	if m.codec == CodecH265 {
		return fmt.Sprintf("sprop-vps=%s;sprop-sps=%s;sprop-pps=%s", b64(m.vps), b64(m.sps), b64(m.pps))
	}
	return fmt.Sprintf("packetization-mode=1;profile-level-id=%02X%02X%02X;sprop-parameter-sets=%s,%s",
		m.sps[1], m.sps[2], m.sps[3], b64(m.sps), b64(m.pps))
}

// simParseMedia cuts an Annex-B stream (ITU-T H.264 annex B) into access units, one for
// each group of NAL units holding a picture's VCL NAL units: a group ends where a
// non-VCL NAL unit that begins an access unit (parameter sets, SEI, AUD; H.264 section
// 7.4.1.2.3, H.265 section 7.4.2.4.4) follows a VCL one, or a VCL NAL unit beginning a
// new picture (first_mb_in_slice 0, first_slice_segment_in_pic_flag 1) does. Each
// access unit is packetised with pion's payloader (MTU 1200).
func simParseMedia(codec string, annexB []byte) (*simMedia, error) {
	nals := simSplitAnnexB(annexB)
	if len(nals) == 0 {
		return nil, errors.New("rtsp: sim: the fixture holds no Annex-B NAL units")
	}
	m := &simMedia{codec: codec}
	var group [][]byte
	hasVCL, key := false, false
	flush := func() {
		if hasVCL {
			m.aus = append(m.aus, simAU{payloads: simPacketize(codec, group), key: key})
		}
		group, hasVCL, key = nil, false, false
	}
	for _, nal := range nals {
		info := simNALInfo(codec, nal)
		if hasVCL && (info.startsAU || info.vcl && info.firstSlice) {
			flush()
		}
		group = append(group, nal)
		switch {
		case info.vcl:
			hasVCL = true
			key = key || info.key
		case info.ps == 'v' && m.vps == nil:
			m.vps = nal
		case info.ps == 's' && m.sps == nil:
			m.sps = nal
		case info.ps == 'p' && m.pps == nil:
			m.pps = nal
		}
	}
	flush()
	switch {
	case len(m.aus) == 0:
		return nil, fmt.Errorf("rtsp: sim: the fixture holds no %s pictures", codec)
	case m.sps == nil || m.pps == nil || (codec == CodecH265 && m.vps == nil):
		return nil, fmt.Errorf("rtsp: sim: the fixture lacks %s parameter sets", codec)
	case codec == CodecH264 && len(m.sps) < 4:
		return nil, errors.New("rtsp: sim: the fixture's SPS is cut short")
	}
	for i, au := range m.aus {
		if len(au.payloads) == 0 {
			return nil, fmt.Errorf("rtsp: sim: access unit %d packetises to nothing", i)
		}
		if au.key {
			m.gops = append(m.gops, i)
		}
	}
	if len(m.gops) == 0 {
		m.gops = []int{0}
	}
	return m, nil
}

// simNALKind is what simParseMedia needs of a NAL unit.
type simNALKind struct {
	vcl, key, firstSlice, startsAU bool
	ps                             byte // 'v', 's' or 'p' for a VPS, SPS or PPS
}

// simNALInfo classifies a NAL unit by its header (H.264 section 7.3.1, H.265 section
// 7.3.1.2).
func simNALInfo(codec string, nal []byte) simNALKind {
	var k simNALKind
	if codec == CodecH265 {
		if len(nal) < 2 {
			return k
		}
		t := nal[0] >> 1 & 0x3f
		switch {
		case t <= 31:
			k.vcl, k.key = true, t >= 16 && t <= 21
			k.firstSlice = len(nal) < 3 || nal[2]&0x80 != 0
		case t == 32:
			k.ps, k.startsAU = 'v', true
		case t == 33:
			k.ps, k.startsAU = 's', true
		case t == 34:
			k.ps, k.startsAU = 'p', true
		case t == 35 || t == 39 || (t >= 41 && t <= 44) || t >= 48:
			k.startsAU = true // AUD, prefix SEI, reserved, unspecified
		}
		return k
	}
	if len(nal) < 1 {
		return k
	}
	switch t := nal[0] & 0x1f; {
	case t >= 1 && t <= 5:
		k.vcl, k.key = true, t == 5
		k.firstSlice = len(nal) < 2 || nal[1]&0x80 != 0
	case t == 7:
		k.ps, k.startsAU = 's', true
	case t == 8:
		k.ps, k.startsAU = 'p', true
	case t == 6 || t == 9 || (t >= 14 && t <= 18):
		k.startsAU = true // SEI, AUD, reserved
	}
	return k
}

// simSplitAnnexB splits an Annex-B byte stream on its start codes (0x000001, or
// 0x00000001), dropping the trailing zero bytes before each start code.
func simSplitAnnexB(b []byte) [][]byte {
	var out [][]byte
	start := -1
	add := func(nal []byte) {
		nal = bytes.TrimRight(nal, "\x00")
		if len(nal) > 0 {
			out = append(out, nal)
		}
	}
	for i := 0; i+2 < len(b); {
		if b[i] == 0 && b[i+1] == 0 && b[i+2] == 1 {
			if start >= 0 {
				add(b[start:i])
			}
			i += 3
			start = i
			continue
		}
		i++
	}
	if start >= 0 && start < len(b) {
		add(b[start:])
	}
	return out
}

// simPacketize turns an access unit's NAL units into RTP payloads with a fresh pion
// payloader (which aggregates the parameter sets with the picture's first NAL unit).
func simPacketize(codec string, nals [][]byte) [][]byte {
	var au []byte
	for _, n := range nals {
		au = append(au, 0, 0, 0, 1)
		au = append(au, n...)
	}
	if codec == CodecH265 {
		return (&codecs.H265Payloader{}).Payload(simMTU, au)
	}
	return (&codecs.H264Payloader{}).Payload(simMTU, au)
}
