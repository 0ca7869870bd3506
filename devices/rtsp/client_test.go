package rtsp_test

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/apedge/apedge/devices/rtsp"
	"github.com/apedge/apedge/devices/rtsp/rtsptest"
)

// play dials u, plays its first track over tr and reads n packets.
func play(t *testing.T, u string, o rtsp.Options, n int) (*rtsp.Session, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := rtsp.Dial(ctx, u, o)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	if err := s.Play(ctx, s.Tracks()[0]); err != nil {
		return s, err
	}
	for range n {
		if _, err := s.ReadPacket(ctx); err != nil {
			return s, err
		}
	}
	return s, nil
}

func TestCredentialsFromURL(t *testing.T) {
	pw := "p@ss:w/rd %1"
	_, u := rtsptest.Start(t, rtsp.SimOptions{Auth: "digest", User: "cam user", Password: pw})
	pu, _ := url.Parse(u)
	pu.User = url.UserPassword("cam user", pw) // percent-encoded in the URL
	if !strings.Contains(pu.String(), "%40") {
		t.Fatalf("URL %s does not encode the password", pu)
	}
	if _, err := play(t, pu.String(), rtsp.Options{Transport: rtsp.TransportTCP}, 20); err != nil {
		t.Fatalf("with the password in the URL: %v", err)
	}
	// Credentials in the options win over the URL's.
	_, err := play(t, pu.String(), rtsp.Options{Transport: rtsp.TransportTCP, Credentials: &rtsp.Credentials{User: "cam user", Password: "other"}}, 1)
	if !errors.Is(err, rtsp.ErrAuth) || strings.Contains(err.Error(), "other") || strings.Contains(err.Error(), "p@ss") {
		t.Fatalf("wrong password in the options: %v", err)
	}
	if r := rtsp.Redacted(pu.String()); strings.Contains(r, "p%40ss") || strings.Contains(r, "p@ss") {
		t.Errorf("Redacted = %s", r)
	}
}

func TestStaleNonce(t *testing.T) {
	cam, u := rtsptest.Start(t, rtsp.SimOptions{Auth: "digest", User: "admin", Password: "pw", NonceLifetime: 300 * time.Millisecond, SessionTimeout: 2 * time.Second})
	s, err := play(t, u, rtsp.Options{Transport: rtsp.TransportUDP, Credentials: &rtsp.Credentials{User: "admin", Password: "pw"}}, 1)
	if err != nil {
		t.Fatal(err)
	}
	// Over UDP the keep-alives are answered at once; reading for 3 s sends a few,
	// each after the nonce has gone stale: each is answered again with the new one.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	for {
		if _, err := s.ReadPacket(ctx); err != nil {
			if !errors.Is(err, rtsp.ErrNoMedia) {
				t.Fatalf("read: %v", err)
			}
			break
		}
	}
	c := cam.Counters()
	if c.StaleNonces == 0 || c.KeepAlives == 0 || c.TimedOut != 0 {
		t.Errorf("counters %+v: want keep-alives answered after stale nonces, no timeout", c)
	}
}

// TestRedirect checks DESCRIBE follows a 302 to the camera, and gives up after
// MaxRedirects of them.
func TestRedirect(t *testing.T) {
	_, target := rtsptest.Start(t, rtsp.SimOptions{})
	redirector := func(to func(self string) string) string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		self := "rtsp://" + ln.Addr().String() + "/old"
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() {
					defer c.Close()
					br := bufio.NewReader(c)
					for {
						req, err := rtsp.ReadRequest(br)
						if err != nil {
							return
						}
						res := &rtsp.Response{Status: 200}
						if req.Method == "DESCRIBE" {
							res = &rtsp.Response{Status: 302, Header: rtsp.Header{{"Location", to(self)}}}
						}
						rtsp.WriteResponse(c, res, req.CSeq())
					}
				}()
			}
		}()
		return self
	}
	u := redirector(func(string) string { return target })
	s, err := play(t, u, rtsp.Options{Transport: rtsp.TransportTCP}, 5)
	if err != nil {
		t.Fatalf("through a redirect: %v", err)
	}
	if !strings.HasPrefix(s.Tracks()[0].Control, target) {
		t.Errorf("control %s, want under %s", s.Tracks()[0].Control, target)
	}
	loop := redirector(func(self string) string { return self })
	if _, err := play(t, loop, rtsp.Options{MaxRedirects: 2}, 1); err == nil || !strings.Contains(err.Error(), "more than 2 redirects") {
		t.Errorf("a redirect loop: %v", err)
	}
}

// TestDeadlines checks a camera that accepts and then says nothing ends each step at
// its timeout, and that the context ends a read.
func TestDeadlines(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close() // silent: reads nothing, answers nothing
		}
	}()
	start := time.Now()
	_, err = rtsp.Dial(context.Background(), "rtsp://"+ln.Addr().String()+"/x", rtsp.Options{StepTimeout: 300 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "no answer within 300ms") || time.Since(start) > 2*time.Second {
		t.Errorf("a silent camera: %v after %s", err, time.Since(start))
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := rtsp.Dial(ctx, "rtsp://"+ln.Addr().String()+"/x", rtsp.Options{}); err == nil {
		t.Error("Dial with a cancelled context")
	}
}

func TestBadURLs(t *testing.T) {
	for _, u := range []string{"http://cam/x", "rtsp:///nohost", "rtsp://user:pw@[::1/x", "://"} {
		_, err := rtsp.Dial(context.Background(), u, rtsp.Options{StepTimeout: 100 * time.Millisecond})
		if err == nil || strings.Contains(err.Error(), "pw") {
			t.Errorf("Dial(%q) = %v", u, err)
		}
	}
}

// TestCredentialsMerge checks a user in the URL and a password in the options (from a
// file) make one pair.
func TestCredentialsMerge(t *testing.T) {
	_, u := rtsptest.Start(t, rtsp.SimOptions{Auth: "digest", User: "viewer", Password: "from-a-file"})
	pu, _ := url.Parse(u)
	pu.User = url.User("viewer")
	if _, err := play(t, pu.String(), rtsp.Options{Transport: rtsp.TransportTCP, Credentials: &rtsp.Credentials{Password: "from-a-file"}}, 5); err != nil {
		t.Fatalf("user in the URL, password in the options: %v", err)
	}
	pu.User = url.UserPassword("viewer", "from-the-url")
	if _, err := play(t, pu.String(), rtsp.Options{Transport: rtsp.TransportTCP, Credentials: &rtsp.Credentials{User: "viewer"}}, 5); !errors.Is(err, rtsp.ErrAuth) {
		t.Fatalf("the URL's wrong password, the options' user: %v, want refused", err)
	}
}
