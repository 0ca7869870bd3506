package rtsp

import (
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash"
	"strings"
)

// Challenge is one WWW-Authenticate challenge of a camera's 401.
type Challenge struct {
	// Scheme is "Basic" or "Digest".
	Scheme string
	// Realm, Nonce, Opaque and Algorithm ("MD5" if empty, or "SHA-256") are the
	// Digest parameters; Qop lists the qop values offered ("auth").
	Realm, Nonce, Opaque, Algorithm string
	Qop                             []string
}

// ParseChallenges parses the WWW-Authenticate values of a response, best first:
// Digest with SHA-256, then Digest with MD5, then Basic. Challenges of other schemes,
// or Digest ones with an algorithm it cannot compute, are left out.
func ParseChallenges(values []string) ([]Challenge, error) {
	var sha, md, basic []Challenge
	for _, v := range values {
		scheme, rest, _ := strings.Cut(strings.TrimSpace(v), " ")
		params, err := parseParams(rest)
		if err != nil {
			return nil, err
		}
		c := Challenge{Scheme: scheme, Realm: params["realm"], Nonce: params["nonce"], Opaque: params["opaque"], Algorithm: params["algorithm"]}
		for _, q := range strings.Split(params["qop"], ",") {
			if q = strings.TrimSpace(q); q != "" {
				c.Qop = append(c.Qop, q)
			}
		}
		switch {
		case strings.EqualFold(scheme, "Basic"):
			c.Scheme = "Basic"
			basic = append(basic, c)
		case strings.EqualFold(scheme, "Digest") && c.Nonce != "":
			c.Scheme = "Digest"
			switch strings.ToUpper(c.Algorithm) {
			case "", "MD5":
				md = append(md, c)
			case "SHA-256":
				sha = append(sha, c)
			}
		}
	}
	return append(append(sha, md...), basic...), nil
}

// parseParams parses `name="value", name=token, ...`.
func parseParams(s string) (map[string]string, error) {
	out := map[string]string{}
	for s = strings.TrimSpace(s); s != ""; {
		name, rest, ok := strings.Cut(s, "=")
		if !ok {
			return nil, fmt.Errorf("%w: auth parameter %q has no value", ErrMessage, clip(s))
		}
		name = strings.ToLower(strings.TrimSpace(name))
		rest = strings.TrimLeft(rest, " ")
		var value string
		if strings.HasPrefix(rest, `"`) {
			end := 1
			var b strings.Builder
			for ; end < len(rest) && rest[end] != '"'; end++ {
				if rest[end] == '\\' && end+1 < len(rest) {
					end++
				}
				b.WriteByte(rest[end])
			}
			if end >= len(rest) {
				return nil, fmt.Errorf("%w: auth parameter %s: unterminated quoted string", ErrMessage, name)
			}
			value, rest = b.String(), rest[end+1:]
		} else {
			value, rest, _ = strings.Cut(rest, ",")
			value = strings.TrimSpace(value)
			rest = "," + rest
		}
		out[name] = value
		rest = strings.TrimSpace(rest)
		rest = strings.TrimPrefix(rest, ",")
		s = strings.TrimSpace(rest)
	}
	return out, nil
}

// Credentials are a camera's user name and password. String never shows the password.
type Credentials struct {
	User, Password string
}

// String names the user only.
func (c Credentials) String() string { return "user " + c.User + " (password withheld)" }

// Authorize returns the Authorization header for a request of method to uri answering
// challenge c, nc being the count of requests made with this nonce (from 1). cnonce is
// the client nonce (random if empty, for tests to fix).
func (c Challenge) Authorize(cred Credentials, method, uri string, nc int, cnonce string) (string, error) {
	switch c.Scheme {
	case "Basic":
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(cred.User+":"+cred.Password)), nil
	case "Digest":
	default:
		return "", fmt.Errorf("rtsp: no authorization for scheme %q", c.Scheme)
	}
	var h func() hash.Hash
	alg := "MD5"
	switch strings.ToUpper(c.Algorithm) {
	case "", "MD5":
		h = md5.New
	case "SHA-256":
		h, alg = sha256.New, "SHA-256"
	default:
		return "", fmt.Errorf("rtsp: digest algorithm %q not supported", c.Algorithm)
	}
	sum := func(s string) string {
		d := h()
		d.Write([]byte(s))
		return hex.EncodeToString(d.Sum(nil))
	}
	ha1 := sum(cred.User + ":" + c.Realm + ":" + cred.Password)
	ha2 := sum(method + ":" + uri)
	var b strings.Builder
	fmt.Fprintf(&b, `Digest username="%s", realm="%s", nonce="%s", uri="%s"`, quoteEsc(cred.User), quoteEsc(c.Realm), quoteEsc(c.Nonce), quoteEsc(uri))
	auth := false
	for _, q := range c.Qop {
		auth = auth || strings.EqualFold(q, "auth")
	}
	if auth {
		if cnonce == "" {
			r := make([]byte, 12)
			rand.Read(r)
			cnonce = hex.EncodeToString(r)
		}
		ncs := fmt.Sprintf("%08x", nc)
		fmt.Fprintf(&b, `, response="%s", qop=auth, nc=%s, cnonce="%s"`, sum(ha1+":"+c.Nonce+":"+ncs+":"+cnonce+":auth:"+ha2), ncs, quoteEsc(cnonce))
	} else {
		fmt.Fprintf(&b, `, response="%s"`, sum(ha1+":"+c.Nonce+":"+ha2))
	}
	if c.Algorithm != "" {
		fmt.Fprintf(&b, `, algorithm=%s`, alg)
	}
	if c.Opaque != "" {
		fmt.Fprintf(&b, `, opaque="%s"`, quoteEsc(c.Opaque))
	}
	return b.String(), nil
}

// quoteEsc escapes a quoted-string's quotes and backslashes.
func quoteEsc(s string) string { return strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) }
