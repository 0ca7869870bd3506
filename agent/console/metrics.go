package console

import (
	"context"
	"crypto/subtle"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/apedge/apedge/agent/eventindex"
	"github.com/apedge/apedge/formats/sitebus"
	"github.com/apedge/apedge/internal/httpjson"
)

// httpMetrics counts the console's requests by route pattern and status.
type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newHTTPMetrics(reg *prometheus.Registry) *httpMetrics {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "apedge_http_requests_total",
			Help: "Console HTTP requests by route and status code."}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "apedge_http_request_duration_seconds",
			Help: "Console HTTP request durations by route (streams count until they end).", Buckets: prometheus.DefBuckets},
			[]string{"route"}),
	}
	reg.MustRegister(m.requests, m.duration)
	return m
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (m *httpMetrics) wrap(route string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		h.ServeHTTP(rec, r)
		if rec.code == 0 {
			rec.code = http.StatusOK
		}
		m.requests.WithLabelValues(route, strconv.Itoa(rec.code)).Inc()
		m.duration.WithLabelValues(route).Observe(time.Since(start).Seconds())
	})
}

// siteCollector reports the site's figures at each scrape.
type siteCollector struct {
	s                                                  *Server
	readerUp, readerSecure, readerTamper, doorState    *prometheus.Desc
	bridgeUp, busUp, centralUp, clockSynced            *prometheus.Desc
	journalLast, journalAcked, backlog, indexed        *prometheus.Desc
	busMessages, badMessages, duplicates, seqGaps      *prometheus.Desc
	unknownCards, residents, alarmsOpen, indexUnparsed *prometheus.Desc
	curfewOpen, cameraState                            *prometheus.Desc
}

func (s *Server) registerSiteMetrics() {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("apedge_"+name, help, labels, nil)
	}
	c := &siteCollector{s: s,
		readerUp:     d("reader_online", "1 while a reader answers its polls.", "reader", "door"),
		readerSecure: d("reader_secure", "1 while a reader's secure channel is up.", "reader", "door"),
		readerTamper: d("reader_tamper", "1 while a reader reports tamper.", "reader", "door"),
		doorState:    d("door_state", "1 for each door's current state (locked, unlocked, open, forced, held-open).", "door", "state"),
		cameraState: d("camera_state", "1 for each camera's reported verdict (unknown, online, offline, auth-failed, stalled, degraded, frozen).",
			"camera", "verdict"),
		bridgeUp:      d("bridge_online", "1 while the firmware bridge is online."),
		busUp:         d("bus_connected", "1 while the agent is connected to the site bus."),
		centralUp:     d("central_connected", "1 while the link to central is up."),
		clockSynced:   d("clock_synced", "1 while the system clock is known to be right (curfew decisions are made)."),
		journalLast:   d("journal_last_seq", "Seq of the last event journaled."),
		journalAcked:  d("forwarder_acked_seq", "Highest seq central has acknowledged."),
		backlog:       d("forwarder_backlog_events", "Events journaled and not yet acknowledged by central."),
		indexed:       d("index_last_seq", "Seq of the last event indexed for search and the dashboard."),
		indexUnparsed: d("index_unparsed_total", "Journal entries the index could not parse."),
		busMessages:   d("bus_messages_total", "Device messages received from the site bus."),
		badMessages:   d("bus_bad_messages_total", "Site bus messages refused as malformed."),
		duplicates:    d("bus_duplicates_total", "Redelivered site bus messages already journaled."),
		seqGaps:       d("bus_seq_gaps_total", "Gaps seen in devices' message numbering."),
		unknownCards:  d("unknown_cards_total", "Card reads of credentials on nobody's record."),
		residents:     d("curfew_residents", "Residents by presence.", "presence"),
		alarmsOpen:    d("alarms_open", "Alarms not yet acknowledged."),
		curfewOpen:    d("curfew_absent_open", "Residents absent at the start of a curfew window who have not come back since."),
	}
	s.reg.MustRegister(c, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
}

// Describe implements prometheus.Collector.
func (c *siteCollector) Describe(ch chan<- *prometheus.Desc) { prometheus.DescribeByCollect(c, ch) }

// Collect implements prometheus.Collector.
func (c *siteCollector) Collect(ch chan<- prometheus.Metric) {
	g := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	n := func(d *prometheus.Desc, v uint64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	b := func(x bool) float64 {
		if x {
			return 1
		}
		return 0
	}
	site := c.s.o.Site
	devs := site.Devices()
	for _, r := range devs.Readers {
		g(c.readerUp, b(r.Online), r.ID, r.Door)
		g(c.readerSecure, b(r.Secure), r.ID, r.Door)
		g(c.readerTamper, b(r.Tamper), r.ID, r.Door)
	}
	for _, d := range doorsOf(devs) {
		for _, st := range []string{"locked", "unlocked", "open", "forced", "held-open"} {
			g(c.doorState, b(d.State == st), d.ID, st)
		}
	}
	for _, cam := range devs.Cameras {
		for _, v := range cameraVerdicts {
			g(c.cameraState, b(cam.Verdict == v), cam.ID, v)
		}
	}
	st := site.Status()
	g(c.bridgeUp, b(devs.Bridge.Status == "online"))
	g(c.busUp, b(st.BusUp))
	g(c.centralUp, b(st.CentralUp))
	g(c.clockSynced, b(st.ClockSynced))
	g(c.journalLast, float64(st.Journaled))
	g(c.journalAcked, float64(st.Acked))
	g(c.backlog, float64(st.Journaled-min(st.Acked, st.Journaled)))
	g(c.indexed, float64(c.s.o.Index.Indexed()))
	n(c.indexUnparsed, c.s.o.Index.Unparsed())
	stats := site.Stats()
	n(c.busMessages, stats.BusMessages)
	n(c.badMessages, stats.BadMessages)
	n(c.duplicates, stats.Duplicates)
	n(c.seqGaps, stats.SeqGaps)
	n(c.unknownCards, stats.UnknownCards)
	count := map[string]int{"in": 0, "out": 0, "unknown": 0}
	for _, r := range site.Residents() {
		count[r.Presence]++
	}
	for p, v := range count {
		g(c.residents, float64(v), p)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if as, err := c.s.o.Index.Alarms(ctx, true, eventindex.MaxLimit); err == nil {
		g(c.alarmsOpen, float64(len(as)))
	}
	if evs, err := c.s.curfewEventsNow(ctx); err == nil {
		open := 0
		for _, e := range evs {
			if e.Open {
				open++
			}
		}
		g(c.curfewOpen, float64(open))
	}
}

// cameraVerdicts are the verdicts apedge_camera_state reports, one series each.
var cameraVerdicts = []string{sitebus.CameraUnknown, sitebus.CameraOnline, sitebus.CameraOffline, sitebus.CameraAuthFailed,
	sitebus.CameraStalled, sitebus.CameraDegraded, sitebus.CameraFrozen}

func (s *Server) newRefusalMetrics() {
	s.signInFailures = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "apedge_console_sign_in_failures_total",
		Help: "Failed sign-ins to the console by reason."}, []string{"reason"})
	s.refused = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "apedge_console_refused_requests_total",
		Help: "Console requests refused before they were looked at, by why: origin (a sign-in from another site's page), query (a query string that does not parse), metrics-token."},
		[]string{"why"})
	for _, r := range []string{reasonBadCredentials, reasonBackedOff, reasonDisabled} {
		s.signInFailures.WithLabelValues(r)
	}
	for _, w := range []string{"origin", "query", "metrics-token"} {
		s.refused.WithLabelValues(w)
	}
	s.reg.MustRegister(s.signInFailures, s.refused)
}

// metricsHandler serves the metrics to a scraper with the bearer token of
// Options.MetricsToken, and refuses everyone else with 401.
func (s *Server) metricsHandler() http.Handler {
	h := promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{Registry: s.reg})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if s.o.MetricsToken == "" || !ok || subtle.ConstantTimeCompare([]byte(tok), []byte(s.o.MetricsToken)) != 1 {
			s.refused.WithLabelValues("metrics-token").Inc()
			w.Header().Set("WWW-Authenticate", `Bearer realm="apedge metrics"`)
			if s.o.MetricsToken == "" {
				httpjson.Error(w, http.StatusUnauthorized, "metrics are off: set console.metricsTokenFile and scrape with that bearer token")
				return
			}
			httpjson.Error(w, http.StatusUnauthorized, "metrics need the bearer token of console.metricsTokenFile")
			return
		}
		h.ServeHTTP(w, r)
	})
}
