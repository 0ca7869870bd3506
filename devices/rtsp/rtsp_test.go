package rtsp

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteRequest(t *testing.T) {
	var b bytes.Buffer
	r := &Request{Method: "DESCRIBE", URL: "rtsp://cam/stream", Header: Header{{"Accept", "application/sdp"}, {"CSeq", "99"}}}
	if err := WriteRequest(&b, r, 2); err != nil {
		t.Fatal(err)
	}
	if want := "DESCRIBE rtsp://cam/stream RTSP/1.0\r\nCSeq: 2\r\nAccept: application/sdp\r\n\r\n"; b.String() != want {
		t.Errorf("wrote %q, want %q", b.String(), want)
	}
	for _, bad := range []*Request{{Method: "GET PARAMETER", URL: "x"}, {Method: "OPTIONS", URL: "rtsp://a\r\nX: y"},
		{Method: "OPTIONS", URL: "x", Header: Header{{"X", "a\r\nInjected: 1"}}}} {
		if err := WriteRequest(&b, bad, 1); err == nil {
			t.Errorf("wrote %+v", bad)
		}
	}
}

func TestReadResponse(t *testing.T) {
	tests := []struct {
		name, in string
		status   int
		cseq     int
		body     string
	}{
		{"describe", "RTSP/1.0 200 OK\r\nCSeq: 2\r\nContent-Base: rtsp://cam/stream/\r\nContent-Length: 5\r\n\r\nv=0\r\n", 200, 2, "v=0\r\n"},
		{"bare LF and lower case", "rtsp/1.0 401 Unauthorized\nCseq: 3\nWWW-Authenticate: Basic realm=\"cam\"\n\n", 401, 3, ""},
		{"folded header", "RTSP/1.0 200 OK\r\nCSeq: 4\r\nPublic: OPTIONS,\r\n DESCRIBE\r\n\r\n", 200, 4, ""},
		{"no reason", "RTSP/1.0 461\r\nCSeq: 5\r\n\r\n", 461, 5, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := ReadResponse(bufio.NewReader(strings.NewReader(tt.in)))
			if err != nil {
				t.Fatal(err)
			}
			if r.Status != tt.status || r.CSeq() != tt.cseq || string(r.Body) != tt.body {
				t.Errorf("got %d cseq %d body %q", r.Status, r.CSeq(), r.Body)
			}
		})
	}
}

// TestBadCorpus: every file in testdata/bad is refused by the parser its name says
// (response-*, stream-*, sdp-*, challenge-* here; the others in their own tests)
// with an error, and nothing panics.
func TestBadCorpus(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "bad", "*"))
	if len(files) < 10 {
		t.Fatalf("only %d files in testdata/bad", len(files))
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Base(f)
		switch {
		case strings.HasPrefix(name, "response-"):
			if _, err := ReadResponse(bufio.NewReader(bytes.NewReader(b))); err == nil {
				t.Errorf("%s: accepted", name)
			}
		case strings.HasPrefix(name, "stream-"):
			r := NewReader(bufio.NewReader(bytes.NewReader(b)))
			r.Channels = map[uint8]bool{0: true, 1: true}
			var err error
			for err == nil {
				_, err = r.Read()
			}
			if !errors.Is(err, ErrMessage) {
				t.Errorf("%s: ended with %v, want a bad-message error", name, err)
			}
		case strings.HasPrefix(name, "sdp-"):
			if _, err := ParseTracks(b, "rtsp://cam/"); !errors.Is(err, ErrMessage) {
				t.Errorf("%s: %v, want a bad-message error", name, err)
			}
		case strings.HasPrefix(name, "challenge-"):
			if _, err := ParseChallenges([]string{string(b)}); err == nil {
				t.Errorf("%s: accepted", name)
			}
		case strings.HasPrefix(name, "request-"), strings.HasPrefix(name, "authorization-"),
			strings.HasPrefix(name, "sps-"), strings.HasPrefix(name, "rtp-"), strings.HasPrefix(name, "setup-"):
			// Read by TestBadRequests, TestBadAuthorizations, the SPS tests,
			// TestBadRTPCorpus and TestBadSetupAnswers.
		default:
			t.Errorf("%s: name it response-, stream-, sdp-, challenge-, request-, authorization-, sps-, rtp- or setup-", name)
		}
	}
}

// TestReaderResyncs: frames, a server's request and a response in one stream, with
// garbage before them and a frame on a channel nobody set up; each comes out in order
// and the garbage is counted.
func TestReaderResyncs(t *testing.T) {
	var s bytes.Buffer
	s.WriteString("\r\n\x00garbage")
	s.Write([]byte{'$', 0, 0, 3, 'a', 'b', 'c'})
	s.WriteString("GET_PARAMETER rtsp://client/ RTSP/1.0\r\nCSeq: 7\r\n\r\n")
	s.Write([]byte{'$', 9, 0, 2, 'x', 'y'}) // channel 9: not ours, garbage
	s.Write([]byte{'$', 1, 0, 1, 'r'})
	s.WriteString("RTSP/1.0 200 OK\r\nCSeq: 8\r\nSession: 12345;timeout=60\r\n\r\n")
	r := NewReader(bufio.NewReader(&s))
	r.Channels = map[uint8]bool{0: true, 1: true}
	var got []string
	for {
		m, err := r.Read()
		if err != nil {
			break
		}
		switch m := m.(type) {
		case *Frame:
			got = append(got, "frame"+string('0'+m.Channel)+":"+string(m.Payload))
		case *Request:
			got = append(got, "request:"+m.Method)
		case *Response:
			got = append(got, "response:"+m.Header.Get("session"))
		}
	}
	if want := "frame0:abc request:GET_PARAMETER frame1:r response:12345;timeout=60"; strings.Join(got, " ") != want {
		t.Errorf("read %q, want %q", strings.Join(got, " "), want)
	}
	if r.Resyncs != 2 || r.Skipped != len("\r\n\x00garbage")+6 {
		t.Errorf("resyncs %d, skipped %d", r.Resyncs, r.Skipped)
	}
}

// TestDigest checks Authorize against the worked examples of RFC 2617 section 3.5
// (MD5, qop=auth) and RFC 7616 section 3.9.1 (MD5 and SHA-256).
func TestDigest(t *testing.T) {
	tests := []struct {
		name      string
		c         Challenge
		cred      Credentials
		cnonce    string
		wantInHdr string
	}{
		{"RFC 2617", Challenge{Scheme: "Digest", Realm: "testrealm@host.com", Nonce: "dcd98b7102dd2f0e8b11d0f600bfb0c093", Qop: []string{"auth", "auth-int"}, Opaque: "5ccc069c403ebaf9f0171e9517f40e41"},
			Credentials{"Mufasa", "Circle Of Life"}, "0a4f113b", `response="6629fae49393a05397450978507c4ef1"`},
		{"RFC 7616 MD5", Challenge{Scheme: "Digest", Realm: "http-auth@example.org", Nonce: "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", Qop: []string{"auth"}, Algorithm: "MD5", Opaque: "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"},
			Credentials{"Mufasa", "Circle of Life"}, "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", `response="8ca523f5e9506fed4657c9700eebdbec"`},
		{"RFC 7616 SHA-256", Challenge{Scheme: "Digest", Realm: "http-auth@example.org", Nonce: "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", Qop: []string{"auth"}, Algorithm: "SHA-256", Opaque: "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"},
			Credentials{"Mufasa", "Circle of Life"}, "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", `response="753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := tt.c.Authorize(tt.cred, "GET", "/dir/index.html", 1, tt.cnonce)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(h, tt.wantInHdr) || !strings.Contains(h, "nc=00000001") {
				t.Errorf("Authorization %s; want %s", h, tt.wantInHdr)
			}
		})
	}
	if h, _ := (Challenge{Scheme: "Basic"}).Authorize(Credentials{"admin", "12345"}, "DESCRIBE", "rtsp://cam/", 1, ""); h != "Basic YWRtaW46MTIzNDU=" {
		t.Errorf("Basic: %s", h)
	}
	if s := (Credentials{"admin", "secret"}).String(); strings.Contains(s, "secret") {
		t.Errorf("Credentials print the password: %s", s)
	}
}

func TestParseChallenges(t *testing.T) {
	cs, err := ParseChallenges([]string{`Basic realm="cam"`, `Digest realm="cam", nonce="n1", qop="auth"`,
		`Digest realm="cam", nonce="n2", algorithm=SHA-256, qop="auth"`, `Negotiate abc=1`})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range cs {
		got = append(got, c.Scheme+"/"+c.Nonce)
	}
	if strings.Join(got, " ") != "Digest/n2 Digest/n1 Basic/" {
		t.Errorf("challenges best first: %v", got)
	}
}

func FuzzReadResponse(f *testing.F) {
	f.Add([]byte("RTSP/1.0 200 OK\r\nCSeq: 1\r\nContent-Length: 2\r\n\r\nhi"))
	addBad(f, "response-")
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ReadResponse(bufio.NewReader(bytes.NewReader(b)))
		if err == nil && (r.Status < 100 || r.Status > 599 || len(r.Body) > MaxBody || len(r.Header) > MaxHeaders) {
			t.Fatalf("accepted out of bounds: %+v", r)
		}
	})
}

func FuzzReader(f *testing.F) {
	f.Add([]byte{'$', 0, 0, 1, 'x'})
	addBad(f, "stream-")
	f.Fuzz(func(t *testing.T, b []byte) {
		r := NewReader(bufio.NewReader(bytes.NewReader(b)))
		for range 1000 {
			if _, err := r.Read(); err != nil {
				return
			}
		}
	})
}

func FuzzParseChallenges(f *testing.F) {
	f.Add(`Digest realm="a", nonce="b", qop="auth"`)
	f.Fuzz(func(t *testing.T, s string) {
		cs, err := ParseChallenges([]string{s})
		if err != nil {
			return
		}
		for _, c := range cs {
			if _, err := c.Authorize(Credentials{"u", "p"}, "DESCRIBE", "rtsp://x/", 1, "c"); err != nil {
				t.Fatalf("a challenge it kept cannot be answered: %v", err)
			}
		}
	})
}

// addBad seeds f with the files of testdata/bad whose names start with prefix.
func addBad(f *testing.F, prefix string) {
	files, _ := filepath.Glob(filepath.Join("testdata", "bad", prefix+"*"))
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
}
