package ctl

import (
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"
)

// client makes the requests of one command.
type client struct {
	base  string // without a trailing slash
	token string // empty for login
	http  *http.Client
}

// httpError is a response other than 2xx: the status and the agent's message.
type httpError struct {
	Code int
	Msg  string
	Body []byte // the response's body (at most 64 KiB)
}

// Error is the status code and the agent's message.
func (e *httpError) Error() string { return fmt.Sprintf("%d: %s", e.Code, e.Msg) }

// client checks the URL and CA flags and, when withToken, reads the token file.
func (e *runEnv) newClient(withToken bool) (*client, error) {
	saved := savedURL(e.g.tokenFile)
	if e.g.url == "" {
		e.g.url = cmp.Or(saved, defaultURL)
	}
	u, err := url.Parse(e.g.url)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("-url %q: want http://HOST:PORT or https://HOST:PORT", e.g.url)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.ResponseHeaderTimeout = requestTimeout
	if e.g.ca != "" {
		pem, err := os.ReadFile(e.g.ca)
		if err != nil {
			return nil, fmt.Errorf("-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("-ca %s: no PEM certificate in it", e.g.ca)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	c := &client{base: strings.TrimRight(u.String(), "/"), http: &http.Client{Transport: tr}}
	if withToken {
		if c.token, err = readToken(e.g.tokenFile); err != nil {
			return nil, err
		}
		// A token goes only to the console that issued it.
		if saved != "" && strings.TrimRight(saved, "/") != c.base {
			return nil, fmt.Errorf("the token in %s is for %s, not %s: sign in there first (apedge ctl -url %s login -user NAME)", e.g.tokenFile, saved, c.base, c.base)
		}
	}
	return c, nil
}

// defaultURL is the console ctl talks to when nothing says otherwise.
const defaultURL = "http://127.0.0.1:8080"

// send makes one request with a JSON body (unless in is nil) and returns the response
// if it is 2xx; otherwise the agent's {"error"} message as a *httpError.
func (c *client) send(ctx context.Context, method, path string, in any) (*http.Response, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "apedge-ctl")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, c.unreachable(method, path, err)
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var m struct {
		Error      string `json:"error"`
		RetryAfter int    `json:"retryAfter"`
	}
	msg := ""
	if json.Unmarshal(b, &m) == nil && m.Error != "" {
		msg = m.Error
	} else if msg = strings.TrimSpace(string(b)); !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") ||
		msg == "" || !utf8.ValidString(msg) || len(msg) > 200 || strings.Contains(msg, "\n") {
		msg = http.StatusText(resp.StatusCode) // not a message meant for people, such as a proxy's page
	}
	if m.RetryAfter > 0 {
		msg += fmt.Sprintf(" (try again in %s)", time.Duration(m.RetryAfter)*time.Second)
	}
	if resp.StatusCode == http.StatusUnauthorized && c.token != "" {
		msg += "; run apedge ctl login"
	}
	return nil, &httpError{Code: resp.StatusCode, Msg: msg, Body: b}
}

// unreachable turns the error of a request that got no answer into what to check.
func (c *client) unreachable(method, path string, err error) error {
	var dnsErr *net.DNSError
	var opErr *net.OpError
	var unknownCA x509.UnknownAuthorityError
	var badHost x509.HostnameError
	var recordErr tls.RecordHeaderError
	switch {
	case errors.Is(err, context.Canceled):
		return err
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%s %s: no answer within %s: is the agent overloaded, or -url the wrong address?", method, c.base+path, requestTimeout)
	case errors.As(err, &unknownCA):
		return fmt.Errorf("the console at %s has a certificate this machine does not trust: give its CA with -ca FILE (%v)", c.base, unknownCA)
	case errors.As(err, &badHost):
		return fmt.Errorf("the console's certificate is not for %s: use the host name it was issued for in -url (%v)", c.base, badHost)
	case errors.As(err, &recordErr) || strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		return fmt.Errorf("the console at %s does not speak TLS: try http:// in -url", c.base)
	case errors.As(err, &dnsErr):
		return fmt.Errorf("cannot reach the console at %s: no such host %q: check -url or $APEDGE_URL", c.base, dnsErr.Name)
	case errors.As(err, &opErr) && opErr.Op == "dial":
		return fmt.Errorf("cannot reach the console at %s: is the agent running? (%v)", c.base, opErr.Err)
	}
	return err
}

// call makes a request within requestTimeout and returns the response body, decoded into
// out unless out is nil.
// callOrder is call for an order carried to the doors: a 502 whose body decodes into
// out and says what became of the order (answered reports it) is the doors' answer
// (no-answer, failed, expired, some doors not taking it), not an error.
func (c *client) callOrder(ctx context.Context, path string, in, out any, answered func() bool) ([]byte, error) {
	b, err := c.call(ctx, http.MethodPost, path, in, out)
	var he *httpError
	if errors.As(err, &he) && he.Code == http.StatusBadGateway && json.Unmarshal(he.Body, out) == nil && answered() {
		return he.Body, nil
	}
	return b, err
}

func (c *client) call(ctx context.Context, method, path string, in, out any) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	resp, err := c.send(ctx, method, path, in)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return nil, fmt.Errorf("%s %s: the agent's answer: %w", method, path, err)
		}
	}
	return b, nil
}

// show prints a response: the document itself with -json, else what table makes of it.
func show[T any](ctx context.Context, e *runEnv, c *client, method, path string, in any, table func(T) error) error {
	var v T
	out := any(&v)
	if e.g.json {
		out = nil
	}
	b, err := c.call(ctx, method, path, in, out)
	if err != nil {
		return err
	}
	if e.g.json {
		return printJSON(e.Stdout, b)
	}
	return table(v)
}

// printJSON writes a JSON document on one line.
func printJSON(w io.Writer, b []byte) error {
	var buf bytes.Buffer
	if len(bytes.TrimSpace(b)) == 0 {
		b = []byte("null")
	}
	if err := json.Compact(&buf, b); err != nil {
		return fmt.Errorf("the agent's answer is not JSON: %w", err)
	}
	buf.WriteByte('\n')
	_, err := w.Write(buf.Bytes())
	return err
}

// ---- token and password

// savedURL is the console URL that login saved beside the token in path (its second
// line), or "".
func savedURL(path string) string {
	if path == "" {
		return ""
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) < 2 {
		return ""
	}
	return strings.TrimSpace(lines[1])
}

// readToken reads the token that login saved in path (its first line).
func readToken(path string) (string, error) {
	if path == "" {
		return "", errors.New("no token file: set -token-file or $APEDGE_TOKEN_FILE, then run apedge ctl login")
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) || (err == nil && strings.TrimSpace(string(b)) == "") {
		return "", fmt.Errorf("not signed in (no token in %s): run apedge ctl login -user NAME", path)
	}
	if err != nil {
		return "", err
	}
	tok, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	return strings.TrimSpace(tok), nil
}

// saveToken writes the token, and the URL of the console that issued it, to path with
// mode 0600, creating its directory 0700.
func saveToken(path, token, consoleURL string) error {
	if path == "" {
		return errors.New("no token file: set -token-file or $APEDGE_TOKEN_FILE")
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".token-*") // mode 0600
	if err != nil {
		return err
	}
	_, err = f.WriteString(token + "\n" + consoleURL + "\n")
	if err == nil {
		err = f.Chmod(0o600)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("save the token: %w", err)
	}
	return nil
}
