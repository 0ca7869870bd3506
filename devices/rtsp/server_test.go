package rtsp

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadRequest(t *testing.T) {
	tests := []struct {
		name, in     string
		method, url  string
		cseq         int
		header, body string // header: a field that must be there, as name=value
	}{
		{"options star", "OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n\r\n", "OPTIONS", "*", 1, "", ""},
		{"describe", "DESCRIBE rtsp://cam/stream1 RTSP/1.0\r\nCSeq: 2\r\nAccept: application/sdp\r\nUser-Agent: apedge\r\n\r\n",
			"DESCRIBE", "rtsp://cam/stream1", 2, "Accept=application/sdp", ""},
		{"bare LF", "SETUP rtsp://cam/stream1/trackID=0 RTSP/1.0\nCSeq: 3\nTransport: RTP/AVP/TCP;unicast;interleaved=0-1\n\n",
			"SETUP", "rtsp://cam/stream1/trackID=0", 3, "Transport=RTP/AVP/TCP;unicast;interleaved=0-1", ""},
		{"body", "SET_PARAMETER rtsp://cam/ RTSP/1.0\r\nCSeq: 9\r\nContent-Length: 9\r\n\r\nbarparam\n",
			"SET_PARAMETER", "rtsp://cam/", 9, "", "barparam\n"},
		{"blank lines first", "\r\n\r\nGET_PARAMETER rtsp://cam/ RTSP/1.0\r\nCSeq: 10\r\nSession: ABC\r\n\r\n",
			"GET_PARAMETER", "rtsp://cam/", 10, "Session=ABC", ""},
		{"extension method", "FLUSH rtsp://cam/ RTSP/1.0\r\nCSeq: 11\r\n\r\n", "FLUSH", "rtsp://cam/", 11, "", ""},
		{"lower-case version", "PLAY rtsp://cam/ rtsp/1.0\r\nCSeq: 12\r\n\r\n", "PLAY", "rtsp://cam/", 12, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := ReadRequest(bufio.NewReader(strings.NewReader(tt.in)))
			if err != nil {
				t.Fatal(err)
			}
			if r.Method != tt.method || r.URL != tt.url || r.CSeq() != tt.cseq || string(r.Body) != tt.body {
				t.Errorf("got %s %s cseq %d body %q", r.Method, r.URL, r.CSeq(), r.Body)
			}
			if name, value, ok := strings.Cut(tt.header, "="); ok && r.Header.Get(name) != value {
				t.Errorf("%s: %q, want %q", name, r.Header.Get(name), value)
			}
		})
	}
	// two requests back to back, then the end of the connection
	br := bufio.NewReader(strings.NewReader("OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n\r\nTEARDOWN rtsp://cam/ RTSP/1.0\r\nCSeq: 2\r\nSession: X\r\n\r\n"))
	for _, want := range []string{"OPTIONS", "TEARDOWN"} {
		if r, err := ReadRequest(br); err != nil || r.Method != want {
			t.Fatalf("got %v, %v; want %s", r, err, want)
		}
	}
	if _, err := ReadRequest(br); err != io.EOF {
		t.Errorf("at the end: %v, want io.EOF", err)
	}
}

// TestBadRequests: every testdata/bad/request-* file is refused by ReadRequest with a
// bad-message error (or, cut short, an error), and nothing panics.
func TestBadRequests(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "bad", "request-*"))
	if len(files) < 15 {
		t.Fatalf("only %d request- files in testdata/bad", len(files))
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(bytes.NewReader(b))
		if r, err := ReadRequest(br); err == nil {
			t.Errorf("%s: accepted %+v", filepath.Base(f), r)
		} else if !errors.Is(err, ErrMessage) {
			t.Errorf("%s: %v, want a bad-message error", filepath.Base(f), err)
		}
	}
}

// TestBadAuthorizations: every testdata/bad/authorization-* file is refused by
// ParseAuthorization.
func TestBadAuthorizations(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "bad", "authorization-*"))
	if len(files) < 6 {
		t.Fatalf("only %d authorization- files in testdata/bad", len(files))
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if a, err := ParseAuthorization(string(b)); !errors.Is(err, ErrMessage) {
			t.Errorf("%s: %v, %v; want a bad-message error", filepath.Base(f), a, err)
		}
	}
}

func TestWriteResponse(t *testing.T) {
	var b bytes.Buffer
	r := &Response{Status: 200, Header: Header{{"Session", "ABC;timeout=60"}, {"CSeq", "77"}, {"Content-Length", "999"}}, Body: []byte("v=0\r\n")}
	if err := WriteResponse(&b, r, 3); err != nil {
		t.Fatal(err)
	}
	want := "RTSP/1.0 200 OK\r\nCSeq: 3\r\nSession: ABC;timeout=60\r\nContent-Length: 5\r\n\r\nv=0\r\n"
	if b.String() != want {
		t.Errorf("wrote %q, want %q", b.String(), want)
	}
	got, err := ReadResponse(bufio.NewReader(&b))
	if err != nil || got.Status != 200 || got.CSeq() != 3 || string(got.Body) != "v=0\r\n" {
		t.Errorf("read back %+v, %v", got, err)
	}
	b.Reset()
	if err := WriteResponse(&b, &Response{Status: 461}, -1); err != nil || b.String() != "RTSP/1.0 461 Unsupported Transport\r\n\r\n" {
		t.Errorf("461 without CSeq: %q, %v", b.String(), err)
	}
	for _, bad := range []*Response{{Status: 99}, {Status: 600}, {Status: 200, Reason: "OK\r\nX: y"},
		{Status: 200, Header: Header{{"X", "a\r\nInjected: 1"}}}, {Status: 200, Header: Header{{"Bad Name", "v"}}}, {Status: 200, Header: Header{{"", "v"}}}} {
		if err := WriteResponse(&b, bad, 1); err == nil {
			t.Errorf("wrote %+v", bad)
		}
	}
}

// TestVerify checks the server side of Digest against the worked examples of RFC 2617
// section 3.5 and RFC 7616 section 3.9.1, as a client would send them, and Basic.
func TestVerify(t *testing.T) {
	tests := []struct {
		name, hdr, realm, method string
		cred                     Credentials
		want                     bool
	}{
		{"RFC 2617", `Digest username="Mufasa", realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="/dir/index.html", qop=auth, nc=00000001, cnonce="0a4f113b", response="6629fae49393a05397450978507c4ef1", opaque="5ccc069c403ebaf9f0171e9517f40e41"`,
			"testrealm@host.com", "GET", Credentials{"Mufasa", "Circle Of Life"}, true},
		{"RFC 2617, wrong password", `Digest username="Mufasa", realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="/dir/index.html", qop=auth, nc=00000001, cnonce="0a4f113b", response="6629fae49393a05397450978507c4ef1"`,
			"testrealm@host.com", "GET", Credentials{"Mufasa", "Circle of Life"}, false},
		{"RFC 2617, another method", `Digest username="Mufasa", realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="/dir/index.html", qop=auth, nc=00000001, cnonce="0a4f113b", response="6629fae49393a05397450978507c4ef1"`,
			"testrealm@host.com", "DESCRIBE", Credentials{"Mufasa", "Circle Of Life"}, false},
		{"RFC 2617, another realm", `Digest username="Mufasa", realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="/dir/index.html", qop=auth, nc=00000001, cnonce="0a4f113b", response="6629fae49393a05397450978507c4ef1"`,
			"other", "GET", Credentials{"Mufasa", "Circle Of Life"}, false},
		{"RFC 7616 SHA-256", `Digest username="Mufasa", realm="http-auth@example.org", uri="/dir/index.html", algorithm=SHA-256, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", nc=00000001, cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", qop=auth, response="753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"`,
			"http-auth@example.org", "GET", Credentials{"Mufasa", "Circle of Life"}, true},
		{"RFC 7616 MD5", `Digest username="Mufasa", realm="http-auth@example.org", uri="/dir/index.html", algorithm=MD5, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", nc=00000001, cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", qop=auth, response="8ca523f5e9506fed4657c9700eebdbec", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"`,
			"http-auth@example.org", "GET", Credentials{"Mufasa", "Circle of Life"}, true},
		{"unknown algorithm", `Digest username="Mufasa", realm="r", uri="/", algorithm=MD5-sess, nonce="n", nc=00000001, cnonce="c", qop=auth, response="00"`,
			"r", "GET", Credentials{"Mufasa", "x"}, false},
		{"qop without cnonce", `Digest username="Mufasa", realm="r", uri="/", nonce="n", qop=auth, response="00"`, "r", "GET", Credentials{"Mufasa", "x"}, false},
		{"Basic", "Basic YWRtaW46MTIzNDU=", "", "DESCRIBE", Credentials{"admin", "12345"}, true},
		{"Basic, wrong password", "Basic YWRtaW46MTIzNDU=", "", "DESCRIBE", Credentials{"admin", "54321"}, false},
		{"Basic, wrong user", "Basic YWRtaW46MTIzNDU=", "", "DESCRIBE", Credentials{"root", "12345"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := ParseAuthorization(tt.hdr)
			if err != nil {
				t.Fatal(err)
			}
			if got := a.Verify(tt.cred, tt.realm, tt.method); got != tt.want {
				t.Errorf("Verify = %v, want %v", got, tt.want)
			}
			if s := a.String(); strings.Contains(s, tt.cred.Password) || (a.Response != "" && strings.Contains(s, a.Response)) {
				t.Errorf("String shows credentials: %s", s)
			}
		})
	}
}

// TestAuthorizeVerify: what the client side's Authorize computes, the server side's
// Verify accepts, for every Digest variant the simulator offers, and only with the
// right password.
func TestAuthorizeVerify(t *testing.T) {
	cred := Credentials{"admin", `pa:ss "word"`}
	for _, c := range []Challenge{
		{Scheme: "Digest", Realm: "IP Camera", Nonce: "n1", Qop: []string{"auth"}, Opaque: "o"},
		{Scheme: "Digest", Realm: "IP Camera", Nonce: "n2"},
		{Scheme: "Digest", Realm: "IP Camera", Nonce: "n3", Algorithm: "SHA-256", Qop: []string{"auth"}},
		{Scheme: "Digest", Realm: "IP Camera", Nonce: "n4", Algorithm: "MD5", Qop: []string{"auth"}},
		{Scheme: "Basic", Realm: "IP Camera"},
	} {
		hdr, err := c.Authorize(cred, "SETUP", "rtsp://127.0.0.1:554/stream1/trackID=0", 3, "")
		if err != nil {
			t.Fatal(err)
		}
		a, err := ParseAuthorization(hdr)
		if err != nil {
			t.Fatalf("%s: %v", hdr, err)
		}
		if !a.Verify(cred, "IP Camera", "SETUP") {
			t.Errorf("%+v: refused its own answer %s", c, hdr)
		}
		if a.Verify(Credentials{cred.User, "wrong"}, "IP Camera", "SETUP") {
			t.Errorf("%+v: accepted a wrong password", c)
		}
		// the challenge, written and read back, is the challenge
		back, err := ParseChallenges([]string{c.WWWAuthenticate(true)})
		if err != nil || len(back) != 1 || back[0].Scheme != c.Scheme || back[0].Nonce != c.Nonce || back[0].Realm != c.Realm ||
			back[0].Algorithm != c.Algorithm || strings.Join(back[0].Qop, ",") != strings.Join(c.Qop, ",") || back[0].Opaque != c.Opaque {
			t.Errorf("%+v: read back as %+v, %v", c, back, err)
		}
	}
	if s := (Challenge{Scheme: "Digest", Realm: "r", Nonce: "n"}).WWWAuthenticate(true); !strings.HasSuffix(s, "stale=TRUE") {
		t.Errorf("stale challenge %s", s)
	}
}

func FuzzReadRequest(f *testing.F) {
	f.Add([]byte("SETUP rtsp://cam/stream1/trackID=0 RTSP/1.0\r\nCSeq: 3\r\nTransport: RTP/AVP;unicast;client_port=5000-5001\r\n\r\n"))
	f.Add([]byte("SET_PARAMETER rtsp://cam/ RTSP/1.0\r\nCSeq: 4\r\nContent-Length: 2\r\n\r\nhi"))
	addBad(f, "request-")
	f.Fuzz(func(t *testing.T, b []byte) {
		br := bufio.NewReader(bytes.NewReader(b))
		for range 100 {
			r, err := ReadRequest(br)
			if err != nil {
				return
			}
			if r.CSeq() < 0 || len(r.Body) > MaxBody || len(r.Header) > MaxHeaders || !isMethodToken(r.Method) {
				t.Fatalf("accepted out of bounds: %+v", r)
			}
			var out bytes.Buffer
			if err := WriteRequest(&out, r, r.CSeq()); err != nil {
				continue // a header the writer refuses to pass on
			}
			back, err := ReadRequest(bufio.NewReader(&out))
			if err != nil || back.Method != r.Method || back.URL != r.URL || !bytes.Equal(back.Body, r.Body) {
				t.Fatalf("%+v written and read back as %+v, %v", r, back, err)
			}
		}
	})
}

func FuzzParseAuthorization(f *testing.F) {
	f.Add(`Digest username="admin", realm="IP Camera", nonce="abc", uri="rtsp://cam/", response="0123", qop=auth, nc=00000001, cnonce="x"`)
	f.Add("Basic YWRtaW46MTIzNDU=")
	files, _ := filepath.Glob(filepath.Join("testdata", "bad", "authorization-*"))
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(string(b))
		}
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAuthorization(s)
		if err != nil {
			return
		}
		if a.Scheme != "Basic" && a.Scheme != "Digest" {
			t.Fatalf("scheme %q", a.Scheme)
		}
		a.Verify(Credentials{"admin", "12345"}, "IP Camera", "DESCRIBE")
	})
}
