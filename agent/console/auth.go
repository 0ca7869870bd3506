package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/apedge/apedge/agent/staff"
	"github.com/apedge/apedge/formats/event"
	"github.com/apedge/apedge/internal/httpjson"
)

// SessionCookie is the name of the browser's session cookie.
const SessionCookie = "apedge_session"

// CSRFHeader carries the session's CSRF token on every state change made with the
// session cookie.
const CSRFHeader = "X-CSRF-Token"

type ctxKey int

const principalKey ctxKey = 0

// principal is who is making a request and how.
type principal struct {
	user    staff.User
	session *staff.Session // nil for a bearer token
	token   string         // the bearer token, if that is how
}

func who(r *http.Request) *principal { p, _ := r.Context().Value(principalKey).(*principal); return p }

// authorize admits signed-in users whose role has permission perm in the console's
// policy, checking the CSRF token of cookie sessions on every state change.
func (s *Server) authorize(perm staff.Permission, h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := s.authenticate(r)
		if err != nil {
			httpjson.Error(w, http.StatusUnauthorized, "sign in first: "+err.Error())
			return
		}
		if p.session != nil && !safeMethod(r.Method) && !p.session.CheckCSRF(r.Header.Get(CSRFHeader)) {
			s.log.Warn("request refused: missing or wrong CSRF token", "user", p.user.Name, "path", r.URL.Path)
			httpjson.Error(w, http.StatusForbidden, "missing or wrong CSRF token")
			return
		}
		if !s.policy.Allows(p.user.Role, perm) {
			httpjson.Error(w, http.StatusForbidden, fmt.Sprintf("role %s may not %s %s", p.user.Role, r.Method, r.URL.Path))
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), principalKey, p)))
	})
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

func (s *Server) authenticate(r *http.Request) (*principal, error) {
	if h := r.Header.Get("Authorization"); h != "" {
		tok, ok := strings.CutPrefix(h, "Bearer ")
		if !ok {
			return nil, errors.New("the Authorization header must be Bearer TOKEN")
		}
		u, err := s.o.Staff.TokenUser(r.Context(), tok)
		if err != nil {
			return nil, errors.New("token not valid (run apedge ctl login)")
		}
		return &principal{user: u, token: tok}, nil
	}
	c, err := r.Cookie(SessionCookie)
	if err != nil {
		return nil, errors.New("no session")
	}
	sess, err := s.o.Staff.Session(r.Context(), c.Value)
	if err != nil {
		return nil, errors.New("session ended")
	}
	return &principal{user: sess.User, session: &sess}, nil
}

type credentials struct {
	Name     string `json:"name"`
	Password string `json:"password"`
	Label    string `json:"label"`
}

type userJSON struct {
	Name string `json:"name"`
	Role string `json:"role"`
	// Permissions are what the role may do by the console's policy: what the page
	// offers the user.
	Permissions []staff.Permission `json:"permissions"`
	Disabled    bool               `json:"disabled"`
	CreatedAt   time.Time          `json:"createdAt,omitzero"`
}

func (s *Server) userOf(u staff.User) userJSON {
	perms := s.policy[u.Role]
	if perms == nil {
		perms = []staff.Permission{}
	}
	return userJSON{Name: u.Name, Role: string(u.Role), Permissions: perms, Disabled: u.Disabled, CreatedAt: u.CreatedAt}
}

// Reasons a sign-in fails, as journaled and as the sign-in failure metric's label.
const (
	reasonBadCredentials = "wrong name or password"
	reasonBackedOff      = "too many failures from this address"
	reasonDisabled       = "account disabled"
)

// checkPassword signs in c, journaling the outcome (failures at most once a minute
// per name, see failureLog). On failure it has written the response and returns
// false.
func (s *Server) checkPassword(w http.ResponseWriter, r *http.Request, c credentials, via string) (staff.User, bool) {
	name := strings.ToLower(strings.TrimSpace(c.Name))
	u, err := s.o.Staff.Authenticate(r.Context(), name, c.Password, remoteHost(r))
	if err == nil {
		s.audit(r, "staff.signed-in", u.Name, "a member of staff signed in", map[string]any{"role": u.Role, "via": via})
		return u, true
	}
	reason := reasonBadCredentials
	var backoff *staff.BackoffError
	switch {
	case errors.As(err, &backoff):
		reason = reasonBackedOff
	case errors.Is(err, staff.ErrDisabled):
		reason = reasonDisabled
	case !errors.Is(err, staff.ErrBadCredentials):
		s.log.Error("sign-in", "err", err)
		httpjson.Error(w, http.StatusInternalServerError, "sign-in failed: "+err.Error())
		return staff.User{}, false
	}
	s.signInFailures.WithLabelValues(reason).Inc()
	if n, ok := s.failures.note(clip(name, 64), s.clock.Now()); ok {
		s.audit(r, "staff.sign-in-failed", "", "sign-ins to the site console failed",
			map[string]any{"name": clip(c.Name, 64), "reason": reason, "via": via, "failures": n})
	}
	switch {
	case backoff != nil:
		// The same answer whether or not the name exists.
		retry := max(int(backoff.Until.Sub(s.clock.Now()).Seconds())+1, 1)
		w.Header().Set("Retry-After", fmt.Sprint(retry))
		httpjson.Write(w, http.StatusTooManyRequests, map[string]any{
			"error": "too many failed sign-ins for this name from this address: try again later", "retryAfter": retry})
	case errors.Is(err, staff.ErrDisabled):
		httpjson.Error(w, http.StatusForbidden, "account disabled: ask an admin")
	default:
		httpjson.Error(w, http.StatusUnauthorized, "wrong name or password")
	}
	return staff.User{}, false
}

// remoteHost is the address a request came from, without its port.
func remoteHost(r *http.Request) string {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}

// failureLog throttles the journaling of failed sign-ins: at most one
// staff.sign-in-failed event a minute per name, carrying the number of failures since
// the last one, so that a flood of guesses cannot flood the journal.
type failureLog struct {
	mu    sync.Mutex
	names map[string]*failures
}

type failures struct {
	journaled time.Time // when the last event for the name was journaled
	since     int       // failures since then, not yet journaled
}

// failureEvery is how often, at most, failed sign-ins for one name are journaled.
const failureEvery = time.Minute

// maxFailureNames bounds the names failureLog remembers; beyond it, names whose last
// event is over a minute old and which have had no failure since are forgotten.
const maxFailureNames = 10000

// note counts a failed sign-in for name at now. If one is due, it returns true and
// the number of failures the event is to report (this one and those not journaled
// before it).
func (l *failureLog) note(name string, now time.Time) (int, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.names == nil {
		l.names = map[string]*failures{}
	}
	f := l.names[name]
	if f == nil {
		if len(l.names) >= maxFailureNames {
			for n, g := range l.names {
				if g.since == 0 && now.Sub(g.journaled) >= failureEvery {
					delete(l.names, n)
				}
			}
		}
		f = &failures{}
		l.names[name] = f
	}
	f.since++
	if !f.journaled.IsZero() && now.Sub(f.journaled) < failureEvery {
		return 0, false
	}
	n := f.since
	f.journaled, f.since = now, 0
	return n, true
}

// sameOrigin reports whether a sign-in comes from the console's own pages: its Origin
// header (or, lacking one, its Referer) names the scheme and host the request was
// made to. A request with neither (the CLI, scripts) is let through: only a browser
// can be made to sign in from another site's page, and browsers send Origin on every
// POST.
func (s *Server) sameOrigin(r *http.Request) bool {
	from := r.Header.Get("Origin")
	if from == "" {
		if from = r.Header.Get("Referer"); from == "" {
			return true
		}
	}
	u, err := url.Parse(from)
	if err != nil || u.Host == "" {
		return false // "null" from sandboxed pages and privacy-sensitive contexts too
	}
	scheme := "http"
	if r.TLS != nil || s.o.Secure {
		scheme = "https"
	}
	return strings.EqualFold(u.Scheme, scheme) && strings.EqualFold(u.Host, r.Host)
}

// checkOrigin refuses, with 403, a sign-in made from another site's page (login
// CSRF). It returns false if it has refused.
func (s *Server) checkOrigin(w http.ResponseWriter, r *http.Request) bool {
	if s.sameOrigin(r) {
		return true
	}
	s.refused.WithLabelValues("origin").Inc()
	s.log.Debug("sign-in refused: from another origin", "origin", clip(r.Header.Get("Origin"), 200), "remote", remoteHost(r))
	httpjson.Error(w, http.StatusForbidden, "sign-in refused: it comes from a page that is not the console's")
	return false
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func (s *Server) signIn(w http.ResponseWriter, r *http.Request) {
	if !s.checkOrigin(w, r) {
		return
	}
	var c credentials
	if !readJSON(w, r, &c) {
		return
	}
	u, ok := s.checkPassword(w, r, c, "browser")
	if !ok {
		return
	}
	sess, err := s.o.Staff.NewSession(r.Context(), u)
	if err != nil {
		httpjson.Error(w, http.StatusInternalServerError, err.Error())
		return
	}
	// A browser-session cookie: the store ends the session when it is idle or too old.
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: sess.ID, Path: "/", HttpOnly: true, Secure: s.o.Secure,
		SameSite: http.SameSiteStrictMode})
	httpjson.Write(w, http.StatusOK, map[string]any{"user": s.userOf(u), "csrf": sess.CSRF})
}

func (s *Server) currentSession(w http.ResponseWriter, r *http.Request) {
	p := who(r)
	out := map[string]any{"user": s.userOf(p.user)}
	if p.session != nil {
		out["csrf"] = p.session.CSRF
	}
	httpjson.Write(w, http.StatusOK, out)
}

func (s *Server) signOut(w http.ResponseWriter, r *http.Request) {
	p := who(r)
	if p.session != nil {
		if err := s.o.Staff.EndSession(r.Context(), p.session.ID); err != nil {
			httpjson.Error(w, http.StatusInternalServerError, err.Error())
			return
		}
	}
	s.audit(r, "staff.signed-out", p.user.Name, "a member of staff signed out", nil)
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", HttpOnly: true, Secure: s.o.Secure,
		SameSite: http.SameSiteStrictMode, MaxAge: -1})
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) newToken(w http.ResponseWriter, r *http.Request) {
	if !s.checkOrigin(w, r) {
		return
	}
	var c credentials
	if !readJSON(w, r, &c) {
		return
	}
	u, ok := s.checkPassword(w, r, c, "cli")
	if !ok {
		return
	}
	tok, err := s.o.Staff.NewToken(r.Context(), u, clip(c.Label, 128))
	if err != nil {
		httpjson.Error(w, http.StatusInternalServerError, err.Error())
		return
	}
	httpjson.Write(w, http.StatusCreated, map[string]any{"token": tok, "user": s.userOf(u)})
}

func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request) {
	p := who(r)
	if p.token == "" {
		httpjson.Error(w, http.StatusBadRequest, "this request was not made with a token")
		return
	}
	if err := s.o.Staff.RevokeToken(r.Context(), p.token); err != nil {
		httpjson.Error(w, http.StatusInternalServerError, err.Error())
		return
	}
	s.audit(r, "staff.signed-out", p.user.Name, "a member of staff revoked their CLI token", map[string]any{"via": "cli"})
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) users(w http.ResponseWriter, r *http.Request) {
	us, err := s.o.Staff.List(r.Context())
	if err != nil {
		httpjson.Error(w, http.StatusInternalServerError, err.Error())
		return
	}
	out := make([]userJSON, 0, len(us))
	for _, u := range us {
		out = append(out, s.userOf(u))
	}
	httpjson.Write(w, http.StatusOK, out)
}

func (s *Server) addUser(w http.ResponseWriter, r *http.Request) {
	var in struct{ Name, Role, Password string }
	if !readJSON(w, r, &in) {
		return
	}
	role, err := staff.ParseRole(in.Role)
	if err != nil {
		httpjson.Error(w, http.StatusBadRequest, err.Error())
		return
	}
	u, err := s.o.Staff.Add(r.Context(), in.Name, role, in.Password)
	if err != nil {
		httpjson.Error(w, staffStatus(err), err.Error())
		return
	}
	s.audit(r, "staff.account-added", who(r).user.Name, "a staff account was added", map[string]any{"account": u.Name, "role": u.Role})
	httpjson.Write(w, http.StatusCreated, s.userOf(u))
}

func (s *Server) changeUser(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	var in struct {
		Role     *string
		Password *string
		Disabled *bool
	}
	if !readJSON(w, r, &in) {
		return
	}
	ctx := r.Context()
	if _, err := s.o.Staff.Get(ctx, name); err != nil {
		httpjson.Error(w, staffStatus(err), err.Error())
		return
	}
	changed := map[string]any{"account": name}
	var err error
	if in.Role != nil {
		var role staff.Role
		if role, err = staff.ParseRole(*in.Role); err == nil {
			err = s.o.Staff.SetRole(ctx, name, role)
			changed["role"] = role
		}
	}
	if err == nil && in.Password != nil {
		err = s.o.Staff.SetPassword(ctx, name, *in.Password)
		changed["password"] = "changed" // never the password itself
	}
	if err == nil && in.Disabled != nil {
		err = s.o.Staff.SetDisabled(ctx, name, *in.Disabled)
		changed["disabled"] = *in.Disabled
	}
	if err != nil {
		httpjson.Error(w, staffStatus(err), err.Error())
		return
	}
	s.audit(r, "staff.account-changed", who(r).user.Name, "a staff account was changed", changed)
	u, err := s.o.Staff.Get(ctx, name)
	if err != nil {
		httpjson.Error(w, staffStatus(err), err.Error())
		return
	}
	httpjson.Write(w, http.StatusOK, s.userOf(u))
}

func staffStatus(err error) int {
	switch {
	case errors.Is(err, staff.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, staff.ErrExists):
		return http.StatusConflict
	case errors.Is(err, staff.ErrWeakPassword), errors.Is(err, staff.ErrLongPassword), errors.Is(err, staff.ErrBadName),
		errors.Is(err, staff.ErrBadRole):
		return http.StatusBadRequest
	}
	return http.StatusInternalServerError
}

// audit journals a staff.* event: signed and sent to central like every event.
// A failure to journal is logged; the request it records has already happened.
func (s *Server) audit(r *http.Request, typ, by, desc string, info map[string]any) {
	s.auditNow(r, typ, by, desc, info)
}

// auditNow journals a staff.* event as audit does, and says whether it is durable:
// for a request that must not be answered unless it is recorded.
func (s *Server) auditNow(r *http.Request, typ, by, desc string, info map[string]any) bool {
	if info == nil {
		info = map[string]any{}
	}
	if by != "" {
		info["by"] = by
	}
	info["remote"] = remoteHost(r)
	b, err := json.Marshal(info)
	if err != nil {
		s.log.Error("audit", "type", typ, "err", err)
		return false
	}
	if _, err := s.o.Site.Journal().Append(context.WithoutCancel(r.Context()),
		&event.Draft{Type: typ, OccurredAt: s.clock.Now(), Description: desc, Info: b}); err != nil {
		s.log.Error("audit event not journaled", "type", typ, "err", err)
		return false
	}
	return true
}
