package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/apedge/apedge/agent/curfew"
)

const ctlUsage = `apedge ctl COMMAND [flags]   (every command takes -h)

Works a running agent through its console API (the one the dashboard uses), as a user
signed in with apedge ctl login. What each user may do depends on their role (staff,
security, manager, admin); the agent journals every action as a signed event naming them.

  login     -user NAME                sign in; the password is read from the terminal
                                      without echo, or as one line of standard input
  logout                              revoke the token and remove the token file
  status                              agent, clock, bus, bridge, central, roll, alarms
  devices                             readers and doors with their health
  doors                               door states, locks and alarms
  residents                           current residents: presence and curfew
  roll                                the latest curfew roll
  alarms    [-all]                    open alarms (-all: acknowledged ones too)
  journal   [-type T] [-crn C] [-from TIME] [-to TIME] [-after SEQ] [-limit N]
                                      journal events (-type door.* matches a prefix)
  audit     [-after SEQ] [-limit N]   what staff did: arrivals, unlocks, acknowledgements
  delivery                            journal delivery to central
  arrive    -crn CRN -card ID[,ID] [-noms N] [-name NAME] [-room R] [-expected-departure DATE]
  depart    -crn CRN
  absence   -crn CRN -id ID -from TIME -to TIME -approved-by NAME [-reason TEXT]
  unlock    -door ID -reason TEXT [-seconds N]
  ack       -alarm SEQ -note TEXT
  export    -o FILE                   the whole signed journal, to check with apedge verify
  users                               user accounts (admin)
  user add  -name NAME -role ROLE     the password is read twice from the terminal, or
                                      as one line of standard input
  user set  -name NAME [-role ROLE] [-disable|-enable] [-password]
  keygen    -site CODE -out DIR       the same as apedge keygen: makes the key where it runs

Flags every command but keygen takes, before or after the command's name:
  -url URL          the agent console (default $APEDGE_URL, else http://127.0.0.1:8080)
  -token-file FILE  where login keeps the token (default $APEDGE_TOKEN_FILE, else
                    apedge/token in the user configuration directory)
  -ca FILE          PEM CA certificate(s) to trust for an https URL
  -json             print the agent's JSON response as it is, as one document on one line
                    (a list is one JSON array), instead of a table

Times are shown in UK local time (Europe/London) as 2006-01-02 15:04. TIME arguments are
UK local (2026-11-22 14:00) or RFC 3339; journal -from and -to also take a date.`

// ctlTimeout bounds every request but an export's.
const ctlTimeout = 30 * time.Second

// ctlStdin is where passwords are read from; tests replace it.
var ctlStdin io.Reader = os.Stdin

// ctlGlobals are the flags every ctl command takes.
type ctlGlobals struct {
	url, tokenFile, ca string
	json               bool
}

func (g *ctlGlobals) register(fs *flag.FlagSet) {
	fs.StringVar(&g.url, "url", g.url, "the agent console `URL` ($APEDGE_URL)")
	fs.StringVar(&g.tokenFile, "token-file", g.tokenFile, "the token `file` ($APEDGE_TOKEN_FILE)")
	fs.StringVar(&g.ca, "ca", g.ca, "PEM CA certificate `file` to trust for https")
	fs.BoolVar(&g.json, "json", g.json, "print the agent's JSON response as one document")
}

// ctlEnv is one run of a ctl command.
type ctlEnv struct {
	g              ctlGlobals
	stdout, stderr io.Writer
}

// flags returns the command's flag set with the global flags on it.
func (e *ctlEnv) flags(name, synopsis string) *flag.FlagSet {
	fs := flags("ctl "+name, synopsis, e.stderr)
	e.g.register(fs)
	return fs
}

type ctlCommand func(ctx context.Context, e *ctlEnv, args []string) error

func ctlCommands() map[string]ctlCommand {
	return map[string]ctlCommand{
		"login":     ctlLogin,
		"logout":    ctlLogout,
		"status":    ctlStatus,
		"devices":   ctlDevices,
		"doors":     ctlDoors,
		"residents": ctlResidents,
		"roll":      ctlRoll,
		"alarms":    ctlAlarms,
		"journal":   ctlJournal,
		"audit":     ctlAudit,
		"delivery":  ctlDelivery,
		"arrive":    ctlArrive,
		"depart":    ctlDepart,
		"absence":   ctlAbsence,
		"unlock":    ctlUnlock,
		"ack":       ctlAck,
		"export":    ctlExport,
		"users":     ctlUsers,
		"user":      ctlUser,
	}
}

func cmdCtl(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help" || args[0] == "help") {
		fmt.Fprintln(stdout, ctlUsage)
		return nil
	}
	if len(args) > 0 && args[0] == "keygen" {
		return cmdKeygen(ctx, args[1:], stdout, stderr)
	}
	e := &ctlEnv{g: ctlDefaults(), stdout: stdout, stderr: stderr}
	// Global flags may come before the command's name as well as after it.
	gfs := flags("ctl", ctlUsage, stderr)
	e.g.register(gfs)
	if err := parse(gfs, args, len(args)); err != nil {
		return err
	}
	args = gfs.Args()
	if len(args) == 0 {
		fmt.Fprintln(stderr, "apedge ctl: say which command: apedge ctl -h")
		return errUsage
	}
	cmd, ok := ctlCommands()[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "apedge ctl: unknown command %q (run apedge ctl -h)\n", args[0])
		return errUsage
	}
	return cmd(ctx, e, args[1:])
}

func ctlDefaults() ctlGlobals {
	g := ctlGlobals{url: os.Getenv("APEDGE_URL"), tokenFile: os.Getenv("APEDGE_TOKEN_FILE")}
	if g.url == "" {
		g.url = "http://127.0.0.1:8080"
	}
	if g.tokenFile == "" {
		if dir, err := os.UserConfigDir(); err == nil {
			g.tokenFile = filepath.Join(dir, "apedge", "token")
		}
	}
	return g
}

// ---- the HTTP client

// ctlClient makes the requests of one command.
type ctlClient struct {
	base  string // without a trailing slash
	token string // empty for login
	http  *http.Client
}

// ctlHTTPError is a response other than 2xx: the status and the agent's message.
type ctlHTTPError struct {
	Code int
	Msg  string
}

func (e *ctlHTTPError) Error() string { return fmt.Sprintf("%d: %s", e.Code, e.Msg) }

// client checks the URL and CA flags and, when withToken, reads the token file.
func (e *ctlEnv) client(withToken bool) (*ctlClient, error) {
	u, err := url.Parse(e.g.url)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("-url %q: want http://HOST:PORT or https://HOST:PORT", e.g.url)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.ResponseHeaderTimeout = ctlTimeout
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
	c := &ctlClient{base: strings.TrimRight(u.String(), "/"), http: &http.Client{Transport: tr}}
	if withToken {
		if c.token, err = ctlReadToken(e.g.tokenFile); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// send makes one request with a JSON body (unless in is nil) and returns the response
// if it is 2xx; otherwise the agent's {"error"} message as a *ctlHTTPError.
func (c *ctlClient) send(ctx context.Context, method, path string, in any) (*http.Response, error) {
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
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("%s %s: no answer within %s", method, c.base+path, ctlTimeout)
		}
		return nil, err
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
	return nil, &ctlHTTPError{Code: resp.StatusCode, Msg: msg}
}

// call makes a request within ctlTimeout and returns the response body, decoded into
// out unless out is nil.
func (c *ctlClient) call(ctx context.Context, method, path string, in, out any) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, ctlTimeout)
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
func ctlShow[T any](ctx context.Context, e *ctlEnv, c *ctlClient, method, path string, in any, table func(T) error) error {
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
		return ctlPrintJSON(e.stdout, b)
	}
	return table(v)
}

// ctlPrintJSON writes a JSON document on one line.
func ctlPrintJSON(w io.Writer, b []byte) error {
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

func ctlReadToken(path string) (string, error) {
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
	return strings.TrimSpace(string(b)), nil
}

// ctlSaveToken writes the token to path with mode 0600, creating its directory 0700.
func ctlSaveToken(path, token string) error {
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
	_, err = f.WriteString(token + "\n")
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

// ctlPassword reads a password: from the terminal without echo, once per prompt (all
// must agree), or else as one line of ctlStdin.
func ctlPassword(ctx context.Context, stderr io.Writer, prompts ...string) (string, error) {
	if f, ok := ctlStdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fd := int(f.Fd())
		var first string
		for i, p := range prompts {
			fmt.Fprint(stderr, p)
			pw, err := ctlReadNoEcho(ctx, fd)
			fmt.Fprintln(stderr)
			if err != nil {
				return "", err
			}
			if i == 0 {
				first = pw
			} else if pw != first {
				return "", errors.New("the passwords do not match")
			}
			if first == "" {
				return "", errors.New("no password given")
			}
		}
		return first, nil
	}
	line, err := bufio.NewReader(ctlStdin).ReadString('\n')
	if err != nil && (err != io.EOF || line == "") {
		if err == io.EOF {
			return "", errors.New("no password on standard input")
		}
		return "", fmt.Errorf("read the password: %w", err)
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("empty password on standard input")
	}
	return line, nil
}

// ctlReadNoEcho reads a line from the terminal fd without echo. The command's context
// takes SIGINT, so Ctrl-C cancels ctx rather than killing the process: give up then,
// with the terminal's echo restored.
func ctlReadNoEcho(ctx context.Context, fd int) (string, error) {
	state, err := term.GetState(fd)
	if err != nil {
		return "", err
	}
	type answer struct {
		pw  []byte
		err error
	}
	ch := make(chan answer, 1)
	go func() {
		pw, err := term.ReadPassword(fd)
		ch <- answer{pw, err}
	}()
	select {
	case a := <-ch:
		return string(a.pw), a.err
	case <-ctx.Done():
		term.Restore(fd, state)
		return "", ctx.Err()
	}
}

func ctlIsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// ---- formatting

// ctlTime shows an RFC 3339 instant as UK local time.
func ctlTime(s string) string {
	if s == "" {
		return "-"
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return s
	}
	return t.In(curfew.London()).Format("2006-01-02 15:04")
}

func ctlTable(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0) }

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func yesNo(b bool, yes, no string) string {
	if b {
		return yes
	}
	return no
}

// ctlShort writes a JSON value on one line of at most n runes.
func ctlShort(raw json.RawMessage, n int) string {
	var buf bytes.Buffer
	if len(raw) == 0 || json.Compact(&buf, raw) != nil || buf.String() == "null" || buf.String() == "{}" {
		return ""
	}
	s := buf.String()
	if utf8.RuneCountInString(s) > n {
		r := []rune(s)
		s = string(r[:n-1]) + "…"
	}
	return s
}

// ctlParseTime turns a -from or -to flag into RFC 3339: RFC 3339 as it is, or a UK
// local "2026-11-22 14:00" or date (its midnight).
func ctlParseTime(s string) (string, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC().Format(time.RFC3339), nil
	}
	for _, layout := range []string{"2006-01-02 15:04", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, curfew.London()); err == nil {
			return t.UTC().Format(time.RFC3339), nil
		}
	}
	return "", fmt.Errorf("%q is not a time: want 2026-11-22 14:00 (UK), 2026-11-22 or RFC 3339", s)
}

// ---- sign in and out

func ctlLogin(ctx context.Context, e *ctlEnv, args []string) error {
	fs := e.flags("login", `apedge ctl login -user NAME [-url URL] [-token-file FILE]

Signs in and keeps a token for the other commands in the token file (mode 0600). The
password is read from the terminal without echo or, when standard input is not a
terminal, as its first line. The token is labelled ctl@HOSTNAME.`)
	user := fs.String("user", "", "your user `name`")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	if err := required(fs, "user", *user); err != nil {
		return err
	}
	c, err := e.client(false)
	if err != nil {
		return err
	}
	pw, err := ctlPassword(ctx, e.stderr, fmt.Sprintf("password for %s at %s: ", *user, c.base))
	if err != nil {
		return err
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown"
	}
	var resp struct {
		Token string          `json:"token"`
		User  json.RawMessage `json:"user"`
	}
	in := map[string]string{"name": *user, "password": pw, "label": "ctl@" + host}
	if _, err := c.call(ctx, http.MethodPost, "/api/v1/tokens", in, &resp); err != nil {
		return err
	}
	if resp.Token == "" {
		return errors.New("the agent sent no token")
	}
	if err := ctlSaveToken(e.g.tokenFile, resp.Token); err != nil {
		return err
	}
	var u ctlUserInfo
	json.Unmarshal(resp.User, &u)
	if e.g.json { // never the token itself
		b, _ := json.Marshal(map[string]any{"user": resp.User, "tokenFile": e.g.tokenFile})
		return ctlPrintJSON(e.stdout, b)
	}
	fmt.Fprintf(e.stdout, "signed in to %s as %s (%s); token saved in %s\n", c.base, dash(u.Name), dash(u.Role), e.g.tokenFile)
	return nil
}

func ctlLogout(ctx context.Context, e *ctlEnv, args []string) error {
	fs := e.flags("logout", "apedge ctl logout\n\nRevokes the token on the agent and removes the token file.")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	c, err := e.client(true)
	if err != nil {
		return err
	}
	_, err = c.call(ctx, http.MethodDelete, "/api/v1/tokens/current", nil, nil)
	var he *ctlHTTPError
	revoked := err == nil
	if err != nil && !(errors.As(err, &he) && he.Code == http.StatusUnauthorized) {
		return err // the token may still be good: keep it so that logout can be tried again
	}
	if err := os.Remove(e.g.tokenFile); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if e.g.json {
		b, _ := json.Marshal(map[string]any{"revoked": revoked, "tokenFile": e.g.tokenFile})
		return ctlPrintJSON(e.stdout, b)
	}
	if revoked {
		fmt.Fprintf(e.stdout, "signed out: token revoked and %s removed\n", e.g.tokenFile)
	} else {
		fmt.Fprintf(e.stdout, "signed out: the agent no longer knew the token; %s removed\n", e.g.tokenFile)
	}
	return nil
}

// ---- reads

// ctlRead is the start of every command that takes only the global flags.
func ctlRead(e *ctlEnv, name, synopsis string, args []string) (*ctlClient, error) {
	fs := e.flags(name, synopsis)
	if err := parse(fs, args, 0); err != nil {
		return nil, err
	}
	return e.client(true)
}

type ctlStatusDoc struct {
	Site      string `json:"site"`
	Version   string `json:"version"`
	StartedAt string `json:"startedAt"`
	Now       string `json:"now"`
	Clock     struct {
		Synced bool `json:"synced"`
	} `json:"clock"`
	Bus struct {
		Connected bool `json:"connected"`
	} `json:"bus"`
	Bridge  ctlBridge `json:"bridge"`
	Central struct {
		Connected bool  `json:"connected"`
		Journaled int64 `json:"journaled"`
		Acked     int64 `json:"acked"`
		Backlog   int64 `json:"backlog"`
	} `json:"central"`
	Residents struct {
		In      int `json:"in"`
		Out     int `json:"out"`
		Unknown int `json:"unknown"`
	} `json:"residents"`
	OpenAlarms int `json:"openAlarms"`
}

type ctlBridge struct {
	Status string `json:"status"`
	Since  string `json:"since"`
}

func (b ctlBridge) String() string {
	if b.Since == "" {
		return dash(b.Status)
	}
	return fmt.Sprintf("%s since %s", dash(b.Status), ctlTime(b.Since))
}

func ctlStatus(ctx context.Context, e *ctlEnv, args []string) error {
	c, err := ctlRead(e, "status", "apedge ctl status [-json]\n\nThe agent at a glance: clock, bus, bridge, delivery to central, residents in and out, open alarms.", args)
	if err != nil {
		return err
	}
	return ctlShow(ctx, e, c, http.MethodGet, "/api/v1/status", nil, func(s ctlStatusDoc) error {
		tw := ctlTable(e.stdout)
		fmt.Fprintf(tw, "site\t%s\n", dash(s.Site))
		fmt.Fprintf(tw, "agent\t%s, up since %s; its time %s\n", dash(s.Version), ctlTime(s.StartedAt), ctlTime(s.Now))
		fmt.Fprintf(tw, "clock\t%s\n", yesNo(s.Clock.Synced, "synced", "NOT SYNCED"))
		fmt.Fprintf(tw, "bus\t%s\n", yesNo(s.Bus.Connected, "connected", "DISCONNECTED"))
		fmt.Fprintf(tw, "bridge\t%s\n", s.Bridge)
		fmt.Fprintf(tw, "central\t%s; journaled %d, acked %d, backlog %d\n", yesNo(s.Central.Connected, "connected", "DISCONNECTED"),
			s.Central.Journaled, s.Central.Acked, s.Central.Backlog)
		fmt.Fprintf(tw, "residents\t%d in, %d out, %d unknown\n", s.Residents.In, s.Residents.Out, s.Residents.Unknown)
		fmt.Fprintf(tw, "alarms\t%d open\n", s.OpenAlarms)
		return tw.Flush()
	})
}

type ctlDoor struct {
	ID          string `json:"id"`
	State       string `json:"state"`
	Open        bool   `json:"open"`
	Locked      bool   `json:"locked"`
	Alarm       string `json:"alarm"`
	Lock        string `json:"lock"`
	EntryReader string `json:"entryReader"`
	ExitReader  string `json:"exitReader"`
	UpdatedAt   string `json:"updatedAt"`
}

type ctlReader struct {
	ID            string `json:"id"`
	Online        bool   `json:"online"`
	Secure        bool   `json:"secure"`
	SecureChannel string `json:"secureChannel"`
	Tamper        bool   `json:"tamper"`
	PowerFault    bool   `json:"powerFault"`
	Door          string `json:"door"`
	Direction     string `json:"direction"`
	Interface     string `json:"interface"`
	Address       any    `json:"address"`
	Vendor        string `json:"vendor"`
	Serial        string `json:"serial"`
	Firmware      string `json:"firmware"`
	LastError     string `json:"lastError"`
	UpdatedAt     string `json:"updatedAt"`
}

// ctlSecure shows a reader's secure channel: its setting and whether it is up.
func ctlSecure(setting string, up bool) string {
	switch {
	case setting == "off":
		return "OFF (insecure)"
	case up:
		return "up"
	case setting == "":
		return "-"
	default:
		return setting + ", DOWN"
	}
}

func ctlDoorTable(w io.Writer, doors []ctlDoor) error {
	if len(doors) == 0 {
		_, err := fmt.Fprintln(w, "no doors")
		return err
	}
	tw := ctlTable(w)
	fmt.Fprintln(tw, "DOOR\tSTATE\tOPEN\tLOCKED\tALARM\tLOCK\tENTRY READER\tEXIT READER\tUPDATED")
	for _, d := range doors {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", d.ID, dash(d.State), yesNo(d.Open, "open", "shut"),
			yesNo(d.Locked, "locked", "unlocked"), dash(strings.ToUpper(d.Alarm)), dash(d.Lock), dash(d.EntryReader), dash(d.ExitReader), ctlTime(d.UpdatedAt))
	}
	return tw.Flush()
}

func ctlDevices(ctx context.Context, e *ctlEnv, args []string) error {
	c, err := ctlRead(e, "devices", "apedge ctl devices [-json]\n\nThe bridge, the card readers with their health, and the doors.", args)
	if err != nil {
		return err
	}
	type devices struct {
		Bridge  ctlBridge         `json:"bridge"`
		Readers []ctlReader       `json:"readers"`
		Doors   []ctlDoor         `json:"doors"`
		Cameras []json.RawMessage `json:"cameras"`
		Docks   []json.RawMessage `json:"docks"`
	}
	return ctlShow(ctx, e, c, http.MethodGet, "/api/v1/devices", nil, func(d devices) error {
		fmt.Fprintf(e.stdout, "bridge: %s\n\n", d.Bridge)
		if len(d.Readers) == 0 {
			fmt.Fprintln(e.stdout, "no readers")
		} else {
			tw := ctlTable(e.stdout)
			fmt.Fprintln(tw, "READER\tDOOR\tDIRECTION\tONLINE\tSECURE CHANNEL\tTAMPER\tPOWER\tINTERFACE\tADDRESS\tVENDOR\tSERIAL\tFIRMWARE\tLAST ERROR\tUPDATED")
			for _, r := range d.Readers {
				addr := ""
				if r.Address != nil {
					addr = fmt.Sprint(r.Address)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, dash(r.Door), dash(r.Direction),
					yesNo(r.Online, "online", "OFFLINE"), ctlSecure(r.SecureChannel, r.Secure), yesNo(r.Tamper, "TAMPER", "ok"),
					yesNo(r.PowerFault, "FAULT", "ok"), dash(r.Interface), dash(addr), dash(r.Vendor), dash(r.Serial), dash(r.Firmware),
					dash(r.LastError), ctlTime(r.UpdatedAt))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
		}
		fmt.Fprintln(e.stdout)
		if err := ctlDoorTable(e.stdout, d.Doors); err != nil {
			return err
		}
		if len(d.Cameras)+len(d.Docks) > 0 {
			fmt.Fprintf(e.stdout, "\n%d cameras, %d docks (see -json)\n", len(d.Cameras), len(d.Docks))
		}
		return nil
	})
}

func ctlDoors(ctx context.Context, e *ctlEnv, args []string) error {
	c, err := ctlRead(e, "doors", "apedge ctl doors [-json]\n\nEvery door: its state, lock and any alarm.", args)
	if err != nil {
		return err
	}
	return ctlShow(ctx, e, c, http.MethodGet, "/api/v1/doors", nil, func(d []ctlDoor) error { return ctlDoorTable(e.stdout, d) })
}

type ctlResident struct {
	CRN               string `json:"crn"`
	NOMS              string `json:"noms"`
	Name              string `json:"name"`
	Room              string `json:"room"`
	Arrived           string `json:"arrived"`
	ExpectedDeparture string `json:"expectedDeparture"`
	Presence          string `json:"presence"`
	PresenceSince     string `json:"presenceSince"`
	Inconsistent      bool   `json:"inconsistent"`
	// Window is the curfew window in force now, if any; Absent says the resident was
	// not in at its start and has not come back.
	Window *struct {
		Start  string `json:"start"`
		End    string `json:"end"`
		Source string `json:"source"`
	} `json:"window"`
	Absent bool `json:"absent"`
}

func (r ctlResident) curfew() string {
	s := ""
	switch {
	case r.Window != nil && r.Absent:
		s = "NOW, ABSENT"
	case r.Window != nil:
		s = "NOW"
	}
	if w := r.Window; w != nil {
		s += fmt.Sprintf(" %s to %s", ctlTime(w.Start), ctlTime(w.End))
		if w.Source != "" {
			s += " (" + w.Source + ")"
		}
	}
	return dash(s)
}

func ctlResidents(ctx context.Context, e *ctlEnv, args []string) error {
	c, err := ctlRead(e, "residents", "apedge ctl residents [-json]\n\nThe current residents: whether each is in or out, since when, and their curfew.", args)
	if err != nil {
		return err
	}
	return ctlShow(ctx, e, c, http.MethodGet, "/api/v1/residents", nil, func(rs []ctlResident) error {
		if len(rs) == 0 {
			_, err := fmt.Fprintln(e.stdout, "no residents")
			return err
		}
		tw := ctlTable(e.stdout)
		fmt.Fprintln(tw, "CRN\tNOMS\tNAME\tROOM\tPRESENCE\tSINCE\tCURFEW\tARRIVED\tEXPECTED DEPARTURE")
		count := map[string]int{}
		for _, r := range rs {
			p := dash(r.Presence)
			if r.Inconsistent {
				p += " (inconsistent)"
			}
			count[r.Presence]++
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.CRN, dash(r.NOMS), dash(r.Name), dash(r.Room), p,
				ctlTime(r.PresenceSince), r.curfew(), ctlTime(r.Arrived), dash(r.ExpectedDeparture))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		_, err := fmt.Fprintf(e.stdout, "%d residents: %d in, %d out, %d unknown\n", len(rs), count["in"], count["out"], len(rs)-count["in"]-count["out"])
		return err
	})
}

func ctlRoll(ctx context.Context, e *ctlEnv, args []string) error {
	c, err := ctlRead(e, "roll", "apedge ctl roll [-json]\n\nThe latest curfew roll: who was in, out or unknown. With -json, null when none has been taken yet.", args)
	if err != nil {
		return err
	}
	type roll struct {
		Seq        int64    `json:"seq"`
		OccurredAt string   `json:"occurredAt"`
		In         []string `json:"in"`
		Out        []string `json:"out"`
		Unknown    []string `json:"unknown"`
	}
	err = ctlShow(ctx, e, c, http.MethodGet, "/api/v1/curfew/roll", nil, func(r roll) error {
		fmt.Fprintf(e.stdout, "curfew roll at %s (event %d): %d in, %d out, %d unknown\n", ctlTime(r.OccurredAt), r.Seq, len(r.In), len(r.Out), len(r.Unknown))
		tw := ctlTable(e.stdout)
		for _, g := range []struct {
			name string
			crns []string
		}{{"OUT", r.Out}, {"UNKNOWN", r.Unknown}, {"in", r.In}} {
			for _, crn := range g.crns {
				fmt.Fprintf(tw, "%s\t%s\n", g.name, crn)
			}
		}
		return tw.Flush()
	})
	var he *ctlHTTPError
	if errors.As(err, &he) && he.Code == http.StatusNotFound {
		if e.g.json {
			return ctlPrintJSON(e.stdout, nil)
		}
		_, err = fmt.Fprintln(e.stdout, "no curfew roll has been taken yet")
	}
	return err
}

type ctlAlarm struct {
	Seq          int64  `json:"seq"`
	Type         string `json:"type"`
	OccurredAt   string `json:"occurredAt"`
	Subject      string `json:"subject"`
	Summary      string `json:"summary"`
	Acknowledged *struct {
		By   string `json:"by"`
		At   string `json:"at"`
		Note string `json:"note"`
	} `json:"acknowledged"`
}

func ctlAlarms(ctx context.Context, e *ctlEnv, args []string) error {
	fs := e.flags("alarms", "apedge ctl alarms [-all] [-json]\n\nThe open alarms, oldest first; with -all the acknowledged ones too.")
	all := fs.Bool("all", false, "acknowledged alarms too")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	c, err := e.client(true)
	if err != nil {
		return err
	}
	path := "/api/v1/alarms?state=open"
	if *all {
		path = "/api/v1/alarms?state=all"
	}
	return ctlShow(ctx, e, c, http.MethodGet, path, nil, func(as []ctlAlarm) error {
		if len(as) == 0 {
			_, err := fmt.Fprintln(e.stdout, yesNo(*all, "no alarms", "no open alarms"))
			return err
		}
		tw := ctlTable(e.stdout)
		fmt.Fprintln(tw, "SEQ\tTIME\tTYPE\tSUBJECT\tSUMMARY\tACKNOWLEDGED")
		for _, a := range as {
			ack := "-"
			if k := a.Acknowledged; k != nil {
				ack = fmt.Sprintf("by %s at %s: %s", k.By, ctlTime(k.At), k.Note)
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", a.Seq, ctlTime(a.OccurredAt), a.Type, dash(a.Subject), dash(a.Summary), ack)
		}
		return tw.Flush()
	})
}

type ctlEvents struct {
	Events []struct {
		Seq        int64           `json:"seq"`
		Type       string          `json:"type"`
		OccurredAt string          `json:"occurredAt"`
		CRN        string          `json:"crn"`
		Subject    string          `json:"subject"`
		Data       json.RawMessage `json:"data"`
	} `json:"events"`
	Next int64 `json:"next"`
}

func (e *ctlEnv) events(v ctlEvents, more string) error {
	if len(v.Events) == 0 {
		_, err := fmt.Fprintln(e.stdout, "no events")
		return err
	}
	tw := ctlTable(e.stdout)
	fmt.Fprintln(tw, "SEQ\tTIME\tTYPE\tCRN\tSUBJECT\tDATA")
	for _, ev := range v.Events {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", ev.Seq, ctlTime(ev.OccurredAt), ev.Type, dash(ev.CRN), dash(ev.Subject), ctlShort(ev.Data, 80))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if v.Next != 0 {
		_, err := fmt.Fprintf(e.stdout, "more: run apedge ctl %s again with -after %d\n", more, v.Next)
		return err
	}
	return nil
}

func ctlJournal(ctx context.Context, e *ctlEnv, args []string) error {
	fs := e.flags("journal", `apedge ctl journal [-type T] [-crn C] [-from TIME] [-to TIME] [-after SEQ] [-limit N] [-json]

The journal's events, oldest first, at most -limit (the agent's default 100, at most
1000) at a time; when there are more it says which -after gives the next page. -type
door.* matches every type that starts door.; TIME is UK local (2026-11-22 14:00), a
date (its midnight, UK) or RFC 3339.`)
	typ := fs.String("type", "", "only events of this `type` (door.* for a prefix)")
	crn := fs.String("crn", "", "only events about this resident (`CRN`)")
	from := fs.String("from", "", "only events at or after this `time`")
	to := fs.String("to", "", "only events before this `time`")
	after := fs.Int64("after", 0, "only events after this `seq`")
	limit := fs.Int("limit", 0, "at most `N` events")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	q := url.Values{}
	for _, f := range []struct{ name, v string }{{"type", *typ}, {"crn", *crn}, {"from", *from}, {"to", *to}} {
		v := f.v
		if v != "" && (f.name == "from" || f.name == "to") {
			var err error
			if v, err = ctlParseTime(v); err != nil {
				fmt.Fprintf(e.stderr, "ctl journal: -%s: %v\n", f.name, err)
				return errUsage
			}
		}
		if v != "" {
			q.Set(f.name, v)
		}
	}
	if err := ctlPaging(e, fs, q, *after, *limit); err != nil {
		return err
	}
	c, err := e.client(true)
	if err != nil {
		return err
	}
	return ctlShow(ctx, e, c, http.MethodGet, ctlQuery("/api/v1/journal", q), nil, func(v ctlEvents) error {
		return e.events(v, "journal")
	})
}

func ctlAudit(ctx context.Context, e *ctlEnv, args []string) error {
	fs := e.flags("audit", "apedge ctl audit [-after SEQ] [-limit N] [-json]\n\nWhat staff did (staff.*, resident.*, door.unlock-ordered, alarm.acknowledged), oldest first.")
	after := fs.Int64("after", 0, "only events after this `seq`")
	limit := fs.Int("limit", 0, "at most `N` events")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	q := url.Values{}
	if err := ctlPaging(e, fs, q, *after, *limit); err != nil {
		return err
	}
	c, err := e.client(true)
	if err != nil {
		return err
	}
	return ctlShow(ctx, e, c, http.MethodGet, ctlQuery("/api/v1/audit", q), nil, func(v ctlEvents) error {
		return e.events(v, "audit")
	})
}

func ctlPaging(e *ctlEnv, fs *flag.FlagSet, q url.Values, after int64, limit int) error {
	if after < 0 || limit < 0 {
		fmt.Fprintf(e.stderr, "%s: -after and -limit may not be negative\n", fs.Name())
		return errUsage
	}
	if after > 0 {
		q.Set("after", strconv.FormatInt(after, 10))
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	return nil
}

func ctlQuery(path string, q url.Values) string {
	if len(q) == 0 {
		return path
	}
	return path + "?" + q.Encode()
}

func ctlDelivery(ctx context.Context, e *ctlEnv, args []string) error {
	c, err := ctlRead(e, "delivery", "apedge ctl delivery [-json]\n\nHow far the journal has been delivered to central and acknowledged.", args)
	if err != nil {
		return err
	}
	type delivery struct {
		Journaled        int64 `json:"journaled"`
		Delivered        int64 `json:"delivered"`
		Acked            int64 `json:"acked"`
		Backlog          int64 `json:"backlog"`
		CentralConnected bool  `json:"centralConnected"`
	}
	return ctlShow(ctx, e, c, http.MethodGet, "/api/v1/delivery", nil, func(d delivery) error {
		tw := ctlTable(e.stdout)
		fmt.Fprintf(tw, "central\t%s\n", yesNo(d.CentralConnected, "connected", "DISCONNECTED"))
		fmt.Fprintf(tw, "journaled\t%d\n", d.Journaled)
		fmt.Fprintf(tw, "delivered\t%d\n", d.Delivered)
		fmt.Fprintf(tw, "acked\t%d\n", d.Acked)
		fmt.Fprintf(tw, "backlog\t%d\n", d.Backlog)
		return tw.Flush()
	})
}

// ---- staff actions

// ctlRequired checks required flags in order.
func ctlRequired(fs *flag.FlagSet, pairs ...string) error {
	for i := 0; i+1 < len(pairs); i += 2 {
		if err := required(fs, pairs[i], pairs[i+1]); err != nil {
			return err
		}
	}
	return nil
}

// ctlChange posts a roster change and confirms it.
func ctlChange(ctx context.Context, e *ctlEnv, path string, in any, what string) error {
	c, err := e.client(true)
	if err != nil {
		return err
	}
	return ctlShow(ctx, e, c, http.MethodPost, path, in, func(r struct {
		Change int64 `json:"change"`
	}) error {
		_, err := fmt.Fprintf(e.stdout, "%s recorded as change %d; the agent applies it within a second\n", what, r.Change)
		return err
	})
}

func ctlArrive(ctx context.Context, e *ctlEnv, args []string) error {
	fs := e.flags("arrive", "apedge ctl arrive -crn CRN -card ID[,ID] [-noms N] [-name NAME] [-room R] [-expected-departure DATE]\n\nRecords a resident's arrival: their cards open the doors at once.")
	crn := fs.String("crn", "", "the resident's `CRN`")
	cards := fs.String("card", "", "credential `ids` (facility:number), comma-separated")
	noms := fs.String("noms", "", "NOMS `number`")
	name := fs.String("name", "", "`name`")
	room := fs.String("room", "", "`room`")
	expected := fs.String("expected-departure", "", "`date` (2026-12-31)")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	if err := ctlRequired(fs, "crn", *crn, "card", *cards); err != nil {
		return err
	}
	ids := []string{}
	for _, id := range strings.Split(*cards, ",") {
		if id = strings.TrimSpace(id); id != "" {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return required(fs, "card", "")
	}
	in := struct {
		CRN               string   `json:"crn"`
		NOMS              string   `json:"noms,omitempty"`
		Name              string   `json:"name,omitempty"`
		Room              string   `json:"room,omitempty"`
		Cards             []string `json:"cards"`
		ExpectedDeparture string   `json:"expectedDeparture,omitempty"`
	}{*crn, *noms, *name, *room, ids, *expected}
	return ctlChange(ctx, e, "/api/v1/residents", in, "arrival of "+*crn)
}

func ctlDepart(ctx context.Context, e *ctlEnv, args []string) error {
	fs := e.flags("depart", "apedge ctl depart -crn CRN\n\nRecords a resident's departure: every credential of theirs is revoked at once.")
	crn := fs.String("crn", "", "the resident's `CRN`")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	if err := required(fs, "crn", *crn); err != nil {
		return err
	}
	return ctlChange(ctx, e, "/api/v1/residents/"+url.PathEscape(*crn)+"/departure", struct{}{}, "departure of "+*crn)
}

func ctlAbsence(ctx context.Context, e *ctlEnv, args []string) error {
	fs := e.flags("absence", "apedge ctl absence -crn CRN -id ID -from TIME -to TIME -approved-by NAME [-reason TEXT]\n\nRecords an approved absence: it suspends the resident's curfew windows for its span.\nTIME is UK local (2026-11-22 14:00) or RFC 3339.")
	crn := fs.String("crn", "", "the resident's `CRN`")
	id := fs.String("id", "", "absence `id`")
	from := fs.String("from", "", "absence start `time`")
	to := fs.String("to", "", "absence end `time`")
	approvedBy := fs.String("approved-by", "", "who approved the absence (`name`)")
	reason := fs.String("reason", "", "why (`text`)")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	if err := ctlRequired(fs, "crn", *crn, "id", *id, "from", *from, "to", *to, "approved-by", *approvedBy); err != nil {
		return err
	}
	in := struct {
		ID         string `json:"id"`
		From       string `json:"from"`
		To         string `json:"to"`
		ApprovedBy string `json:"approvedBy"`
		Reason     string `json:"reason,omitempty"`
	}{*id, *from, *to, *approvedBy, *reason}
	return ctlChange(ctx, e, "/api/v1/residents/"+url.PathEscape(*crn)+"/absences", in, "absence "+*id+" of "+*crn)
}

func ctlUnlock(ctx context.Context, e *ctlEnv, args []string) error {
	fs := e.flags("unlock", "apedge ctl unlock -door ID -reason TEXT [-seconds N]\n\nOrders a door unlocked for a while (the agent's default unless -seconds). Fails\n(exit 1) unless the bridge reports it done.")
	door := fs.String("door", "", "the door's `id`")
	reason := fs.String("reason", "", "why (`text`, journaled)")
	seconds := fs.Int("seconds", 0, "unlock for `N` seconds")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	if err := ctlRequired(fs, "door", *door, "reason", *reason); err != nil {
		return err
	}
	if *seconds < 0 {
		fmt.Fprintln(e.stderr, "ctl unlock: -seconds may not be negative")
		return errUsage
	}
	in := struct {
		Reason  string `json:"reason"`
		Seconds int    `json:"seconds,omitempty"`
	}{*reason, *seconds}
	c, err := e.client(true)
	if err != nil {
		return err
	}
	var r struct {
		Result string `json:"result"`
		Detail string `json:"detail"`
	}
	b, err := c.call(ctx, http.MethodPost, "/api/v1/doors/"+url.PathEscape(*door)+"/unlock", in, &r)
	if err != nil {
		return err
	}
	if e.g.json {
		if err := ctlPrintJSON(e.stdout, b); err != nil {
			return err
		}
	}
	detail := ""
	if r.Detail != "" {
		detail = ": " + r.Detail
	}
	if r.Result != "done" {
		return fmt.Errorf("door %s not unlocked: %s%s", *door, dash(r.Result), detail)
	}
	if !e.g.json {
		fmt.Fprintf(e.stdout, "door %s unlocked%s\n", *door, detail)
	}
	return nil
}

func ctlAck(ctx context.Context, e *ctlEnv, args []string) error {
	fs := e.flags("ack", "apedge ctl ack -alarm SEQ -note TEXT\n\nAcknowledges an open alarm (SEQ as apedge ctl alarms shows it), with a note.")
	seq := fs.String("alarm", "", "the alarm's `seq`")
	note := fs.String("note", "", "what was done (`text`)")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	if err := ctlRequired(fs, "alarm", *seq, "note", *note); err != nil {
		return err
	}
	if n, err := strconv.ParseUint(*seq, 10, 63); err != nil || n == 0 {
		fmt.Fprintf(e.stderr, "ctl ack: -alarm %q is not an alarm's seq\n", *seq)
		return errUsage
	}
	c, err := e.client(true)
	if err != nil {
		return err
	}
	return ctlShow(ctx, e, c, http.MethodPost, "/api/v1/alarms/"+*seq+"/ack", map[string]string{"note": *note}, func(a ctlAlarm) error {
		by := ""
		if k := a.Acknowledged; k != nil {
			by = fmt.Sprintf(" by %s at %s", k.By, ctlTime(k.At))
		}
		_, err := fmt.Fprintf(e.stdout, "alarm %s (%s %s) acknowledged%s\n", *seq, a.Type, dash(a.Subject), by)
		return err
	})
}

// ---- export

// ctlLines counts the lines written through it, feeding a progress bar if any.
type ctlLines struct {
	n       int64
	partial bool // the last line has no newline yet
	bar     *progressbar.ProgressBar
}

func (l *ctlLines) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	k := int64(bytes.Count(p, []byte{'\n'}))
	l.n += k
	l.partial = p[len(p)-1] != '\n'
	if l.bar != nil && k > 0 {
		l.bar.Add64(k)
	}
	return len(p), nil
}

// lines is the number of lines, a last one without a newline included.
func (l *ctlLines) lines() int64 {
	if l.partial {
		return l.n + 1
	}
	return l.n
}

func ctlExport(ctx context.Context, e *ctlEnv, args []string) error {
	fs := e.flags("export", `apedge ctl export -o FILE

Downloads the whole signed journal (manager, admin), one envelope per line exactly as
stored, into FILE (mode 0600: it names residents), by way of FILE.partial so that a
broken download never passes for a whole one. Shows progress on a terminal. Check it
with apedge verify -pubkey site.pub FILE.`)
	out := fs.String("o", "", "the `file` to write")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	if err := required(fs, "o", *out); err != nil {
		return err
	}
	c, err := e.client(true)
	if err != nil {
		return err
	}
	resp, err := c.send(ctx, http.MethodGet, "/api/v1/journal/export", nil) // no timeout: it may be long
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	total := int64(-1)
	if n, err := strconv.ParseInt(resp.Header.Get("X-Apedge-Events"), 10, 64); err == nil && n >= 0 {
		total = n
	}
	partial := *out + ".partial"
	f, err := os.OpenFile(partial, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	count := &ctlLines{}
	if ctlIsTerminal(e.stderr) {
		count.bar = progressbar.NewOptions64(total,
			progressbar.OptionSetWriter(e.stderr),
			progressbar.OptionSetDescription("exporting"),
			progressbar.OptionSetItsString("events"),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(e.stderr) }),
		)
	}
	_, err = io.Copy(io.MultiWriter(f, count), resp.Body)
	n := count.lines()
	if err == nil && total >= 0 && n != total {
		err = fmt.Errorf("the agent sent %d of %d events", n, total)
	}
	if err == nil && n == 0 {
		err = errors.New("the agent sent no events")
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(partial, *out)
	}
	if err != nil {
		os.Remove(partial) // a partial export must not be left to pass for a whole one
		if count.bar != nil {
			count.bar.Exit()
			fmt.Fprintln(e.stderr)
		}
		return fmt.Errorf("export to %s: %w", *out, err)
	}
	if count.bar != nil {
		count.bar.Finish()
	} else {
		fmt.Fprintf(e.stderr, "exported %d events to %s\n", n, *out)
	}
	if e.g.json {
		b, _ := json.Marshal(map[string]any{"file": *out, "events": n})
		return ctlPrintJSON(e.stdout, b)
	}
	_, err = fmt.Fprintf(e.stdout, "check it with: apedge verify -pubkey site.pub %s\n", *out)
	return err
}

// ---- users

type ctlUserInfo struct {
	Name        string `json:"name"`
	Role        string `json:"role"`
	Disabled    bool   `json:"disabled"`
	LockedUntil string `json:"lockedUntil"`
	CreatedAt   string `json:"createdAt"`
}

func (u ctlUserInfo) state() string {
	switch {
	case u.Disabled:
		return "DISABLED"
	case u.LockedUntil != "":
		if t, err := time.Parse(time.RFC3339, u.LockedUntil); err == nil && !t.After(time.Now()) {
			return "active"
		}
		return "locked until " + ctlTime(u.LockedUntil)
	}
	return "active"
}

func ctlUsers(ctx context.Context, e *ctlEnv, args []string) error {
	c, err := ctlRead(e, "users", "apedge ctl users [-json]\n\nThe console's user accounts (admin).", args)
	if err != nil {
		return err
	}
	return ctlShow(ctx, e, c, http.MethodGet, "/api/v1/users", nil, func(us []ctlUserInfo) error {
		tw := ctlTable(e.stdout)
		fmt.Fprintln(tw, "NAME\tROLE\tSTATE\tCREATED")
		for _, u := range us {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", u.Name, u.Role, u.state(), ctlTime(u.CreatedAt))
		}
		return tw.Flush()
	})
}

func ctlUser(ctx context.Context, e *ctlEnv, args []string) error {
	const synopsis = `apedge ctl user add -name NAME -role ROLE
apedge ctl user set -name NAME [-role ROLE] [-disable|-enable] [-password]

Adds or changes a console user (admin). Roles: staff, security, manager, admin. A new
password (at least 12 characters) is read twice from the terminal without echo or,
when standard input is not a terminal, as its first line.`
	if len(args) == 0 || (args[0] != "add" && args[0] != "set") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
			fmt.Fprintln(e.stdout, synopsis)
			return nil
		}
		fmt.Fprintln(e.stderr, "apedge ctl user: say add or set: apedge ctl user -h")
		return errUsage
	}
	action := args[0]
	fs := e.flags("user "+action, synopsis)
	name := fs.String("name", "", "the user's `name`")
	role := fs.String("role", "", "staff, security, manager or admin")
	var disable, enable, password *bool
	if action == "set" {
		disable = fs.Bool("disable", false, "disable the account")
		enable = fs.Bool("enable", false, "enable the account")
		password = fs.Bool("password", false, "set a new password")
	}
	if err := parse(fs, args[1:], 0); err != nil {
		return err
	}
	if err := required(fs, "name", *name); err != nil {
		return err
	}
	newPassword := func() (string, error) {
		return ctlPassword(ctx, e.stderr, fmt.Sprintf("new password for %s: ", *name), "again: ")
	}
	show := func(u ctlUserInfo) error {
		_, err := fmt.Fprintf(e.stdout, "user %s %s: role %s, %s\n", u.Name, yesNo(action == "add", "added", "changed"), u.Role, u.state())
		return err
	}
	path := "/api/v1/users/" + url.PathEscape(*name)
	if action == "add" {
		if err := required(fs, "role", *role); err != nil {
			return err
		}
		c, err := e.client(true)
		if err != nil {
			return err
		}
		pw, err := newPassword()
		if err != nil {
			return err
		}
		in := map[string]string{"name": *name, "role": *role, "password": pw}
		return ctlShow(ctx, e, c, http.MethodPost, "/api/v1/users", in, show)
	}
	if *disable && *enable {
		fmt.Fprintln(e.stderr, "ctl user set: -disable or -enable, not both")
		return errUsage
	}
	if *role == "" && !*disable && !*enable && !*password {
		fmt.Fprintln(e.stderr, "ctl user set: say what to change: -role, -disable, -enable or -password")
		return errUsage
	}
	in := struct {
		Role     string `json:"role,omitempty"`
		Password string `json:"password,omitempty"`
		Disabled *bool  `json:"disabled,omitempty"`
	}{Role: *role}
	if *disable || *enable {
		in.Disabled = disable
	}
	c, err := e.client(true)
	if err != nil {
		return err
	}
	if *password {
		if in.Password, err = newPassword(); err != nil {
			return err
		}
	}
	return ctlShow(ctx, e, c, http.MethodPatch, path, in, show)
}
