package rtsp

// The server side of the codec, which the camera simulator (sim.go) speaks: reading a
// client's requests, writing responses, and checking a client's Basic and Digest
// credentials. Like the client side, every parser here reads bytes from the network,
// never panics, bounds what it reads and is fuzzed (testdata/bad/request-* holds what
// ReadRequest must refuse).

import (
	"bufio"
	"bytes"
	"crypto/md5"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"strconv"
	"strings"
)

// maxBlankLines bounds the empty lines skipped before a request line (some clients send
// a bare CR LF as a keep-alive between requests).
const maxBlankLines = 16

// CSeq is the request's CSeq, or -1 if it has none or it does not parse.
func (r *Request) CSeq() int {
	n, err := strconv.Atoi(strings.TrimSpace(r.Header.Get("CSeq")))
	if err != nil || n < 0 {
		return -1
	}
	return n
}

// ReadRequest reads one client request from br (RFC 2326 section 6): a request line, the
// header and the body its Content-Length gives, within the limits of MaxLine,
// MaxHeaders and MaxBody. Empty lines before the request line are skipped. The methods
// of RFC 2326 section 10 are read, and so is an extension method (a token in upper
// case), which a server answers with 501; a request without a CSeq (RFC 2326 section
// 12.17 makes it mandatory) is refused. io.EOF means the connection ended between
// requests; an error wrapping ErrMessage, bytes that are not an RTSP request.
func ReadRequest(br *bufio.Reader) (*Request, error) {
	var line string
	for blank := 0; ; blank++ {
		l, err := readLine(br)
		if err != nil {
			return nil, err
		}
		if l != "" {
			line = l
			break
		}
		if blank == maxBlankLines {
			return nil, fmt.Errorf("%w: more than %d empty lines before a request", ErrMessage, maxBlankLines)
		}
	}
	m, u, err := parseRequestLine(line)
	if err != nil {
		if m, u, err = parseExtensionRequestLine(line); err != nil {
			return nil, err
		}
	}
	h, body, err := readHeaderAndBody(br)
	if errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: the connection ended inside a %s request", ErrMessage, m)
	}
	if err != nil {
		return nil, err
	}
	r := &Request{Method: m, URL: u, Header: h, Body: body}
	if r.CSeq() < 0 {
		return nil, fmt.Errorf("%w: %s request without a valid CSeq (%q)", ErrMessage, m, clip(h.Get("CSeq")))
	}
	return r, nil
}

// parseExtensionRequestLine parses a request line with a method RFC 2326 does not name:
// "extension-method = token" (section 6.1), here letters, digits, '_' and '-' beginning
// with a capital, as every RTSP method is written.
func parseExtensionRequestLine(line string) (string, string, error) {
	f := strings.Fields(line)
	if len(f) != 3 || !strings.HasPrefix(strings.ToUpper(f[2]), "RTSP/1.") || !isMethodToken(f[0]) {
		return "", "", fmt.Errorf("%w: request line %q", ErrMessage, clip(line))
	}
	return f[0], f[1], nil
}

// isMethodToken says whether s looks like an RTSP method name.
func isMethodToken(s string) bool {
	if len(s) == 0 || len(s) > 32 || s[0] < 'A' || s[0] > 'Z' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// statusTexts holds the reason phrases of RFC 2326 section 7.1.1 a camera sends.
var statusTexts = map[int]string{
	200: "OK",
	301: "Moved Permanently",
	302: "Moved Temporarily",
	400: "Bad Request",
	401: "Unauthorized",
	403: "Forbidden",
	404: "Not Found",
	405: "Method Not Allowed",
	453: "Not Enough Bandwidth",
	454: "Session Not Found",
	455: "Method Not Valid in This State",
	459: "Aggregate Operation Not Allowed",
	461: "Unsupported Transport",
	500: "Internal Server Error",
	501: "Not Implemented",
	503: "Service Unavailable",
	505: "RTSP Version Not Supported",
}

// StatusText returns the reason phrase of an RTSP status code (RFC 2326 section
// 7.1.1), or "" for a code it does not know.
func StatusText(code int) string { return statusTexts[code] }

// WriteResponse writes r to w with CSeq cseq (none if cseq is negative, for a request
// whose CSeq could not be read), replacing any CSeq and Content-Length r has, and the
// Content-Length of its body. An empty Reason is StatusText's.
func WriteResponse(w io.Writer, r *Response, cseq int) error {
	if r.Status < 100 || r.Status > 599 {
		return fmt.Errorf("rtsp: response status %d out of range", r.Status)
	}
	reason := r.Reason
	if reason == "" {
		reason = StatusText(r.Status)
	}
	if strings.ContainsAny(reason, "\r\n") {
		return fmt.Errorf("rtsp: response reason %q: no line breaks", reason)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "RTSP/1.0 %d %s\r\n", r.Status, reason)
	if cseq >= 0 {
		fmt.Fprintf(&b, "CSeq: %d\r\n", cseq)
	}
	for _, f := range r.Header {
		if strings.EqualFold(f[0], "CSeq") || strings.EqualFold(f[0], "Content-Length") {
			continue
		}
		if strings.ContainsAny(f[0]+f[1], "\r\n") || f[0] == "" || strings.ContainsAny(f[0], ": ") {
			return fmt.Errorf("rtsp: header %q: no line breaks, and no colon or space in its name", f[0])
		}
		fmt.Fprintf(&b, "%s: %s\r\n", f[0], f[1])
	}
	if len(r.Body) > 0 {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(r.Body))
	}
	b.WriteString("\r\n")
	b.Write(r.Body)
	if _, err := w.Write(b.Bytes()); err != nil {
		return fmt.Errorf("rtsp: write %d response: %w", r.Status, err)
	}
	return nil
}

// WWWAuthenticate returns the WWW-Authenticate value offering challenge c: `Basic
// realm="..."` (RFC 2617 section 2), or a Digest challenge with its realm, nonce,
// algorithm (left out if c.Algorithm is empty, which means MD5), qop and opaque (RFC
// 2617 section 3.2.1, RFC 7616 section 3.3). stale=TRUE tells the client its nonce
// had expired but its credentials were right, so it may retry with the new nonce
// without asking for the password again.
func (c Challenge) WWWAuthenticate(stale bool) string {
	if c.Scheme == "Basic" {
		return `Basic realm="` + quoteEsc(c.Realm) + `"`
	}
	var b strings.Builder
	fmt.Fprintf(&b, `Digest realm="%s", nonce="%s"`, quoteEsc(c.Realm), quoteEsc(c.Nonce))
	if c.Algorithm != "" {
		fmt.Fprintf(&b, ", algorithm=%s", c.Algorithm)
	}
	if len(c.Qop) > 0 {
		fmt.Fprintf(&b, `, qop="%s"`, quoteEsc(strings.Join(c.Qop, ",")))
	}
	if c.Opaque != "" {
		fmt.Fprintf(&b, `, opaque="%s"`, quoteEsc(c.Opaque))
	}
	if stale {
		b.WriteString(", stale=TRUE")
	}
	return b.String()
}

// Authorization is a client's Authorization header, parsed (RFC 2617 sections 2 and
// 3.2.2). String never shows the password or the digest response.
type Authorization struct {
	// Scheme is "Basic" or "Digest".
	Scheme string
	// User is the user name; Password the password (Basic only).
	User, Password string
	// Realm, Nonce, URI, Response, Algorithm, Qop, NC, CNonce and Opaque are the
	// Digest parameters as sent.
	Realm, Nonce, URI, Response, Algorithm, Qop, NC, CNonce, Opaque string
}

// String names the scheme and the user only.
func (a Authorization) String() string {
	return a.Scheme + " authorization for user " + a.User + " (credentials withheld)"
}

// ParseAuthorization parses an Authorization value. An error wraps ErrMessage: a scheme
// other than Basic or Digest, Basic credentials that are not base64 of "user:password",
// or Digest without username, nonce, uri or response.
func ParseAuthorization(v string) (Authorization, error) {
	scheme, rest, _ := strings.Cut(strings.TrimSpace(v), " ")
	switch {
	case strings.EqualFold(scheme, "Basic"):
		raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(rest))
		if err != nil {
			return Authorization{}, fmt.Errorf("%w: Basic credentials are not base64", ErrMessage)
		}
		user, pass, ok := strings.Cut(string(raw), ":")
		if !ok {
			return Authorization{}, fmt.Errorf("%w: Basic credentials without a colon", ErrMessage)
		}
		return Authorization{Scheme: "Basic", User: user, Password: pass}, nil
	case strings.EqualFold(scheme, "Digest"):
		p, err := parseParams(rest)
		if err != nil {
			return Authorization{}, err
		}
		a := Authorization{Scheme: "Digest", User: p["username"], Realm: p["realm"], Nonce: p["nonce"], URI: p["uri"],
			Response: p["response"], Algorithm: p["algorithm"], Qop: p["qop"], NC: p["nc"], CNonce: p["cnonce"], Opaque: p["opaque"]}
		for _, need := range []string{"username", "nonce", "uri", "response"} {
			if _, ok := p[need]; !ok {
				return Authorization{}, fmt.Errorf("%w: Digest authorization without %s", ErrMessage, need)
			}
		}
		return a, nil
	}
	return Authorization{}, fmt.Errorf("%w: authorization scheme %q", ErrMessage, clip(scheme))
}

// Verify says whether a holds cred's user and password: for Basic, the two compared;
// for Digest, the response recomputed for method (RFC 2617 section 3.2.2.1, with
// qop=auth or without qop; RFC 7616 section 3.4.1 for SHA-256) and realm, which must
// be the realm the server offered. The digest is computed over the uri the client sent,
// as cameras do, not checked against the request URL. Whether a's nonce is one the
// server issued and still honours is the caller's to check. Comparisons take constant
// time.
func (a Authorization) Verify(cred Credentials, realm, method string) bool {
	switch a.Scheme {
	case "Basic":
		u := subtle.ConstantTimeCompare([]byte(a.User), []byte(cred.User))
		p := subtle.ConstantTimeCompare([]byte(a.Password), []byte(cred.Password))
		return u&p == 1
	case "Digest":
	default:
		return false
	}
	if a.User != cred.User || a.Realm != realm {
		return false
	}
	var h func() hash.Hash
	switch strings.ToUpper(a.Algorithm) {
	case "", "MD5":
		h = md5.New
	case "SHA-256":
		h = sha256.New
	default:
		return false
	}
	sum := func(parts ...string) string {
		d := h()
		d.Write([]byte(strings.Join(parts, ":")))
		return hex.EncodeToString(d.Sum(nil))
	}
	ha1 := sum(cred.User, realm, cred.Password)
	ha2 := sum(method, a.URI)
	var want string
	switch strings.ToLower(a.Qop) {
	case "":
		want = sum(ha1, a.Nonce, ha2)
	case "auth":
		if a.NC == "" || a.CNonce == "" {
			return false
		}
		want = sum(ha1, a.Nonce, a.NC, a.CNonce, "auth", ha2)
	default:
		return false
	}
	return subtle.ConstantTimeCompare([]byte(strings.ToLower(a.Response)), []byte(want)) == 1
}
