package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
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

// authorize admits signed-in users whose role is in roles, checking the CSRF token of
// cookie sessions on every state change.
func (s *Server) authorize(roles []staff.Role, h http.HandlerFunc) http.Handler {
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
		if !slices.Contains(roles, p.user.Role) {
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
	Name        string    `json:"name"`
	Role        string    `json:"role"`
	Disabled    bool      `json:"disabled"`
	LockedUntil time.Time `json:"lockedUntil,omitzero"`
	CreatedAt   time.Time `json:"createdAt,omitzero"`
}

func userOf(u staff.User) userJSON {
	return userJSON{Name: u.Name, Role: string(u.Role), Disabled: u.Disabled, LockedUntil: u.LockedUntil, CreatedAt: u.CreatedAt}
}

// checkPassword signs in c, journaling the outcome. On failure it has written the
// response and returns false.
func (s *Server) checkPassword(w http.ResponseWriter, r *http.Request, c credentials, via string) (staff.User, bool) {
	u, err := s.o.Staff.Authenticate(r.Context(), strings.ToLower(strings.TrimSpace(c.Name)), c.Password)
	if err == nil {
		s.audit(r, "staff.signed-in", u.Name, "a member of staff signed in", map[string]any{"role": u.Role, "via": via})
		return u, true
	}
	reason := "wrong name or password"
	var locked *staff.LockedError
	switch {
	case errors.As(err, &locked):
		reason = "account locked after repeated failures"
	case errors.Is(err, staff.ErrDisabled):
		reason = "account disabled"
	case !errors.Is(err, staff.ErrBadCredentials):
		s.log.Error("sign-in", "err", err)
		httpjson.Error(w, http.StatusInternalServerError, "sign-in failed: "+err.Error())
		return staff.User{}, false
	}
	s.audit(r, "staff.sign-in-failed", "", "a sign-in to the site console failed",
		map[string]any{"name": clip(c.Name, 64), "reason": reason, "via": via})
	switch {
	case locked != nil:
		retry := max(int(locked.Until.Sub(s.clock.Now()).Seconds())+1, 1)
		w.Header().Set("Retry-After", fmt.Sprint(retry))
		httpjson.Write(w, http.StatusLocked, map[string]any{"error": "account locked after repeated failures: try again later or ask an admin",
			"retryAfter": retry})
	case errors.Is(err, staff.ErrDisabled):
		httpjson.Error(w, http.StatusForbidden, "account disabled: ask an admin")
	default:
		httpjson.Error(w, http.StatusUnauthorized, "wrong name or password")
	}
	return staff.User{}, false
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func (s *Server) signIn(w http.ResponseWriter, r *http.Request) {
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
	httpjson.Write(w, http.StatusOK, map[string]any{"user": userOf(u), "csrf": sess.CSRF})
}

func (s *Server) currentSession(w http.ResponseWriter, r *http.Request) {
	p := who(r)
	out := map[string]any{"user": userOf(p.user)}
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
	httpjson.Write(w, http.StatusCreated, map[string]any{"token": tok, "user": userOf(u)})
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
		out = append(out, userOf(u))
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
	httpjson.Write(w, http.StatusCreated, userOf(u))
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
	httpjson.Write(w, http.StatusOK, userOf(u))
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
	if info == nil {
		info = map[string]any{}
	}
	if by != "" {
		info["by"] = by
	}
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		info["remote"] = host
	}
	b, err := json.Marshal(info)
	if err != nil {
		s.log.Error("audit", "type", typ, "err", err)
		return
	}
	if _, err := s.o.Site.Journal().Append(context.WithoutCancel(r.Context()),
		&event.Draft{Type: typ, OccurredAt: s.clock.Now(), Description: desc, Info: b}); err != nil {
		s.log.Error("audit event not journaled", "type", typ, "err", err)
	}
}
