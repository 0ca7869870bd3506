package rtsp

import (
	"bufio"
	"bytes"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// setupSession is a Session as it is when SETUP's answer comes: connected, its reader
// set, the camera's address known.
func setupSession() *Session {
	return &Session{rd: NewReader(bufio.NewReader(bytes.NewReader(nil))), srvIP: net.IPv4(127, 0, 0, 1)}
}

// TestBadSetupAnswers: every testdata/bad/setup-* file (a Session header value, a
// line break, then a Transport header value, then the transport asked for) is
// refused by setupAnswer.
func TestBadSetupAnswers(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "bad", "setup-*"))
	if len(files) < 4 {
		t.Fatalf("only %d setup-* files", len(files))
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		session, rest, _ := strings.Cut(string(b), "\n")
		transport, tr, _ := strings.Cut(rest, "\n")
		res := &Response{Status: 200, Header: Header{{"Session", session}, {"Transport", transport}}}
		if err := setupSession().setupAnswer(res, Transport(strings.TrimSpace(tr))); err == nil {
			t.Errorf("%s: accepted", filepath.Base(f))
		}
	}
}

// FuzzSetupAnswer: any Session and Transport headers in SETUP's answer are taken or
// refused, never a panic, and a channel or port taken is in range.
func FuzzSetupAnswer(f *testing.F) {
	f.Add("12345678;timeout=60", "RTP/AVP/TCP;unicast;interleaved=0-1", true)
	f.Add("abc", "RTP/AVP;unicast;client_port=5000-5001;server_port=6970-6971;ssrc=1234", false)
	files, _ := filepath.Glob(filepath.Join("testdata", "bad", "setup-*"))
	for _, p := range files {
		b, _ := os.ReadFile(p)
		session, rest, _ := strings.Cut(string(b), "\n")
		transport, _, _ := strings.Cut(rest, "\n")
		f.Add(session, transport, true)
	}
	f.Fuzz(func(t *testing.T, session, transport string, tcp bool) {
		tr := TransportUDP
		if tcp {
			tr = TransportTCP
		}
		s := setupSession()
		err := s.setupAnswer(&Response{Status: 200, Header: Header{{"Session", session}, {"Transport", transport}}}, tr)
		if err != nil {
			return
		}
		if s.session == "" || s.timeout <= 0 || tr == TransportUDP && (s.srvRTPPort <= 0 || s.srvRTPPort > 65535 || s.srvRTCP.Port <= 0 || s.srvRTCP.Port > 65535) {
			t.Fatalf("taken: session %q timeout %v rtp %d rtcp %v", s.session, s.timeout, s.srvRTPPort, s.srvRTCP)
		}
	})
}
