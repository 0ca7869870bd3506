// Package console is the agent's site console: the JSON API staff and the CLI use
// (documented by the OpenAPI file it serves at /openapi.yaml), sign-in with roles, the
// live dashboard served from embedded files, Prometheus metrics and health checks.
//
// Every staff action is a signed journal event naming who did it, so the journal is
// the audit log and central receives it like any other event: an arrival, departure
// or approved absence becomes resident.* (through the roster register), an unlock
// door.unlock-ordered, an alarm acknowledgement alarm.acknowledged, and sign-ins,
// failed sign-ins and account changes staff.*.
//
// Browsers sign in with a session cookie (HttpOnly, SameSite=Strict, Secure over TLS);
// every state change made with the cookie must carry the session's CSRF token in the
// X-CSRF-Token header. The CLI uses bearer tokens, which browsers never send by
// themselves, so they need no CSRF token. A sign-in whose Origin (or, lacking it,
// Referer) header names another site is refused, so that no other site's page can
// sign a browser in to an account of its choosing; the CLI sends neither header.
//
// Failed sign-ins lock no account: they slow down the name and address they came
// from (see package staff), answering 429 with Retry-After while that pair waits, the
// same for unknown names as for known ones. They are counted in the metrics and
// journaled as staff.sign-in-failed at most once a minute per name, with the number
// of failures since the last such event.
//
// /metrics needs the bearer token of Options.MetricsToken; without one configured it
// is refused. A request whose query string does not parse (a bad escape, or more
// parameters than Go parses) is refused with 400 rather than answered unfiltered.
package console

import (
	"context"
	"crypto/tls"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/apedge/apedge/agent"
	"github.com/apedge/apedge/agent/eventindex"
	"github.com/apedge/apedge/agent/journal"
	"github.com/apedge/apedge/agent/register"
	"github.com/apedge/apedge/agent/staff"
	"github.com/apedge/apedge/formats/sitebus"
	"github.com/apedge/apedge/internal/clock"
	"github.com/apedge/apedge/internal/config"
	"github.com/apedge/apedge/internal/httpjson"
)

//go:embed web openapi.yaml
var files embed.FS

// Site is what the console shows and acts on: the running agent.
type Site interface {
	Status() agent.Status
	Devices() agent.Devices
	Residents() []agent.ResidentView
	Stats() agent.Stats
	Changed() <-chan struct{}
	Journal() *journal.Journal
	RecordChange(ctx context.Context, c register.Change) (int64, error)
	UnlockDoor(ctx context.Context, door, by, reason string, d time.Duration) (sitebus.Result, error)
	// CameraThumbnail is the latest picture from a camera, if the agent holds one.
	CameraThumbnail(id string) (sitebus.CameraThumbnail, bool)
	// Substances is the site's substance testing.
	Substances() *agent.Substances
	// Biometrics is the site's fingerprint enrolment and deletion.
	Biometrics() *agent.Biometrics
	// PAT is the site's register of electrical items.
	PAT() *agent.PATRegister
	// BWC is the site's body-worn camera register.
	BWC() *agent.BWCRegister
}

// Options configure a Server.
type Options struct {
	Site  Site
	Index *eventindex.Index
	Staff *staff.Store
	// Secure marks cookies Secure: set it when serving over TLS.
	Secure bool
	Logger *slog.Logger
	// Clock dates staff actions and answers "now" (nil: the system clock).
	Clock clock.Clock
	// MetricsToken is the bearer token a scraper must send for /metrics; if empty,
	// /metrics is refused (401) to everyone.
	MetricsToken string
	// Alarms overrides alarm types' default priorities and gives their instructions.
	Alarms map[string]config.AlarmPolicy
	// Policy is what each role may do (nil: staff.DefaultPolicy()).
	Policy staff.Policy
}

// Server is the console's HTTP handler.
type Server struct {
	o        Options
	policy   staff.Policy
	clock    clock.Clock
	patterns []string
	perms    map[string]staff.Permission // by pattern
	log      *slog.Logger
	mux      *http.ServeMux
	reg      *prometheus.Registry
	metrics  *httpMetrics
	failures failureLog
	// signInFailures counts failed sign-ins by reason; refused counts requests
	// refused before they were looked at, by why (origin, query, metrics-token).
	signInFailures, refused *prometheus.CounterVec
}

// New returns a console for o.Site.
func New(o Options) (*Server, error) {
	if o.Site == nil || o.Index == nil || o.Staff == nil {
		return nil, errors.New("console: a site, an index and a staff store are needed")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if err := checkAlarmPolicies(o.Alarms); err != nil {
		return nil, err
	}
	s := &Server{o: o, policy: o.Policy, clock: clock.Or(o.Clock), log: o.Logger.With("component", "console"), mux: http.NewServeMux()}
	if s.policy == nil {
		s.policy = staff.DefaultPolicy()
	}
	s.reg = prometheus.NewRegistry()
	s.metrics = newHTTPMetrics(s.reg)
	s.newRefusalMetrics()
	s.registerSiteMetrics()
	s.routes()
	return s, nil
}

// Routes lists the console's route patterns ("GET /api/v1/status", ...).
func Routes() []string {
	s := &Server{mux: http.NewServeMux(), reg: prometheus.NewRegistry()}
	s.metrics = newHTTPMetrics(s.reg)
	s.newRefusalMetrics()
	s.routes()
	return s.patterns
}

// RoutePermissions maps each route pattern that needs sign-in to the permission it
// needs, and each that does not to "".
func RoutePermissions() map[string]staff.Permission {
	s := &Server{mux: http.NewServeMux(), reg: prometheus.NewRegistry()}
	s.metrics = newHTTPMetrics(s.reg)
	s.newRefusalMetrics()
	s.routes()
	return s.perms
}

// Handler returns the console's handler.
func (s *Server) Handler() http.Handler { return s.mux }

// Serve serves the console on ln (over TLS when tc is not nil) until ctx ends.
func (s *Server) Serve(ctx context.Context, ln net.Listener, tc *tls.Config) error {
	srv := &http.Server{
		Handler:           s.mux,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	if tc != nil {
		ln = tls.NewListener(ln, tc)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx) // streams end with the base context
	}()
	err := srv.Serve(ln)
	<-done
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("console: %w", err)
}

func (s *Server) routes() {
	web, _ := fs.Sub(files, "web")
	static := http.FileServerFS(web)
	s.handle("GET /{$}", "", static.ServeHTTP)
	s.handle("GET /app.js", "", static.ServeHTTP)
	s.handle("GET /pat.js", "", static.ServeHTTP)
	s.handle("GET /bwc.js", "", static.ServeHTTP)
	s.handle("GET /style.css", "", static.ServeHTTP)
	s.handle("GET /openapi.yaml", "", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/yaml")
		http.ServeFileFS(w, r, files, "openapi.yaml")
	})
	s.handle("GET /healthz", "", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) })
	s.handle("GET /readyz", "", s.readyz)
	s.patterns = append(s.patterns, "GET /metrics")
	s.mux.Handle("GET /metrics", s.checkQuery(s.metricsHandler()))

	s.handle("POST /api/v1/session", "", s.signIn)
	s.handle("GET /api/v1/session", staff.PermRead, s.currentSession)
	s.handle("DELETE /api/v1/session", staff.PermRead, s.signOut)
	s.handle("POST /api/v1/tokens", "", s.newToken)
	s.handle("DELETE /api/v1/tokens/current", staff.PermRead, s.revokeToken)

	s.handle("GET /api/v1/status", staff.PermRead, s.status)
	s.handle("GET /api/v1/devices", staff.PermRead, s.devices)
	s.handle("GET /api/v1/doors", staff.PermRead, s.doors)
	s.handle("GET /api/v1/cameras", staff.PermRead, s.cameras)
	s.handle("GET /api/v1/cameras/{id}/thumbnail", staff.PermRead, s.cameraThumbnail)
	s.handle("POST /api/v1/doors/{id}/unlock", staff.PermDoors, s.unlock)
	s.handle("POST /api/v1/doors/{id}/hold", staff.PermDoors, s.holdDoor)
	s.handle("GET /api/v1/site/lockdown", staff.PermRead, s.lockdownState)
	s.handle("POST /api/v1/site/lockdown", staff.PermLockdown, s.lockdown)
	s.handle("POST /api/v1/site/release", staff.PermLockdown, s.releaseLockdown)
	s.handle("GET /api/v1/residents", staff.PermRead, s.residents)
	s.handle("POST /api/v1/residents", staff.PermRegister, s.arrival)
	s.handle("POST /api/v1/residents/{crn}/departure", staff.PermRegister, s.departure)
	s.handle("POST /api/v1/residents/{crn}/absences", staff.PermRegister, s.absence)
	s.handle("PATCH /api/v1/residents/{crn}", staff.PermRegister, s.update)
	s.handle("GET /api/v1/curfew/roll", staff.PermRead, s.roll)
	s.handle("GET /api/v1/curfew/events", staff.PermRead, s.curfewEvents)
	s.handle("GET /api/v1/curfew/tonight", staff.PermRead, s.curfewTonight)
	s.handle("POST /api/v1/roll/fire", staff.PermRead, s.fireRoll)
	s.handle("GET /api/v1/residents/{crn}/history", staff.PermRead, s.residentHistory)
	s.handle("GET /api/v1/residents/{crn}/bundle", staff.PermExport, s.residentBundle)
	s.handle("GET /api/v1/alarms", staff.PermRead, s.alarms)
	s.handle("POST /api/v1/alarms/{seq}/ack", staff.PermAlarms, s.ackAlarm)
	s.handle("POST /api/v1/alarms/ack", staff.PermAlarms, s.ackAlarms)
	s.handle("GET /api/v1/journal", staff.PermRead, s.journalSearch)
	s.handle("GET /api/v1/journal/export", staff.PermExport, s.export)
	s.handle("GET /api/v1/delivery", staff.PermRead, s.delivery)
	s.handle("GET /api/v1/audit", staff.PermRead, s.auditLog)
	s.handle("GET /api/v1/users", staff.PermAccounts, s.users)
	s.handle("POST /api/v1/users", staff.PermAccounts, s.addUser)
	s.handle("PATCH /api/v1/users/{name}", staff.PermAccounts, s.changeUser)
	s.handle("GET /api/v1/stream", staff.PermRead, s.stream)
	s.handle("GET /api/v1/substance", staff.PermSubstanceTest, s.substanceOverview)
	s.handle("POST /api/v1/substance/tests", staff.PermSubstanceTest, s.startTest)
	s.handle("GET /api/v1/substance/tests/{id}", staff.PermSubstanceResults, s.testResult)
	s.handle("POST /api/v1/substance/tests/{id}/urine", staff.PermSubstanceTest, s.urineResult)
	s.handle("POST /api/v1/substance/tests/{id}/refusal", staff.PermSubstanceTest, s.refusal)
	s.handle("POST /api/v1/substance/tests/{id}/seal", staff.PermSubstanceTest, s.sealSample)
	s.handle("POST /api/v1/substance/tests/{id}/custody", staff.PermSubstanceTest, s.custody)
	s.handle("POST /api/v1/substance/tests/{id}/lab", staff.PermSubstanceResults, s.labResult)
	s.handle("POST /api/v1/substance/tests/{id}/close", staff.PermSubstanceTest, s.closeTest)
	s.handle("GET /api/v1/biometrics", staff.PermBiometrics, s.biometricsOverview)
	s.handle("GET /api/v1/biometrics/residents/{crn}", staff.PermBiometrics, s.residentBiometrics)
	s.handle("POST /api/v1/biometrics/residents/{crn}/consent", staff.PermBiometrics, s.recordConsent)
	s.handle("POST /api/v1/biometrics/residents/{crn}/deletion", staff.PermBiometrics, s.deleteTemplates)
	s.handle("POST /api/v1/biometrics/enrolments", staff.PermBiometrics, s.startEnrolment)
	s.handle("GET /api/v1/biometrics/enrolments/{id}", staff.PermBiometrics, s.enrolment)
	s.handle("POST /api/v1/biometrics/enrolments/{id}/cancel", staff.PermBiometrics, s.cancelEnrolment)
	s.handle("GET /api/v1/biometrics/deletions", staff.PermBiometrics, s.deletions)
	s.handle("GET /api/v1/pat", staff.PermRead, s.patOverview)
	s.handle("GET /api/v1/pat/items", staff.PermRead, s.patItems)
	s.handle("POST /api/v1/pat/items", staff.PermPAT, s.patRegister)
	s.handle("GET /api/v1/pat/items/{id}", staff.PermRead, s.patItem)
	s.handle("POST /api/v1/pat/items/{id}/tests", staff.PermPAT, s.patTest)
	s.handle("POST /api/v1/pat/items/{id}/authorise", staff.PermPAT, s.patAuthorise)
	s.handle("POST /api/v1/pat/items/{id}/withdraw", staff.PermPAT, s.patWithdraw)
	s.handle("POST /api/v1/pat/import", staff.PermPAT, s.patImport)
	s.handle("GET /api/v1/pat/due", staff.PermRead, s.patDue)
	s.handle("GET /api/v1/pat/handback/{crn}", staff.PermRead, s.patHandBack)
	s.handle("GET /api/v1/pat/labels", staff.PermRead, s.patLabels)
	s.handle("GET /api/v1/bwc", staff.PermRead, s.bwcOverview)
	s.handle("POST /api/v1/bwc/issue", staff.PermBWC, s.bwcIssue)
}

// handle registers h for pattern, behind sign-in with permission perm unless perm is
// empty, and counted in the HTTP metrics under its pattern.
func (s *Server) handle(pattern string, perm staff.Permission, h http.HandlerFunc) {
	s.patterns = append(s.patterns, pattern)
	if s.perms == nil {
		s.perms = map[string]staff.Permission{}
	}
	s.perms[pattern] = perm
	var next http.Handler = h
	if perm != "" {
		next = s.authorize(perm, h)
	}
	s.mux.Handle(pattern, s.metrics.wrap(pattern, securityHeaders(s.checkQuery(next))))
}

// checkQuery refuses with 400 a request whose query string does not parse: a bad
// escape or more parameters than Go parses. (r.URL.Query drops what it cannot parse,
// so such a request would otherwise be answered as if unfiltered.)
func (s *Server) checkQuery(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := url.ParseQuery(r.URL.RawQuery); err != nil {
			s.refused.WithLabelValues("query").Inc()
			httpjson.Error(w, http.StatusBadRequest, "query string: "+err.Error())
			return
		}
		h.ServeHTTP(w, r)
	})
}

// securityHeaders sets headers that keep the console's pages from being framed,
// sniffed or made to load anything from elsewhere.
func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
		hd.Set("Cache-Control", "no-store")
		h.ServeHTTP(w, r)
	})
}

func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	st := s.o.Site.Status()
	if !st.BusUp {
		http.Error(w, "not ready: site bus not connected", http.StatusServiceUnavailable)
		return
	}
	w.Write([]byte("ready\n"))
}
