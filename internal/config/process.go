package config

import (
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"time"

	"github.com/apedge/apedge/formats/sitekey"
	"github.com/apedge/apedge/internal/secret"
)

// Agent is the agent's configuration.
type Agent struct {
	// Site is the AP's code, e.g. "MAN1": it names topics, event ids and the key.
	Site string `yaml:"site"`
	// Key is the site's private signing key file (mode 0600), from `apedge keygen`.
	Key string `yaml:"key"`
	// Database is the SQLite file holding the journal and registers.
	Database string `yaml:"database"`
	// Bus is the site MQTT bus shared with the bridge.
	Bus MQTT `yaml:"bus"`
	// Central is the central MQTT broker events are forwarded to.
	Central Forward `yaml:"central"`
	// Roster lists residents, staff and contractors with their credentials, and
	// residents' curfew conditions and approved absences; or RosterFile names a YAML
	// file holding that list.
	Roster     []Resident `yaml:"roster,omitempty"`
	RosterFile string     `yaml:"rosterFile,omitempty"`
	// Curfew configures curfew decisions.
	Curfew Curfews `yaml:"curfew,omitempty"`
	// Console is the agent's HTTP console: staff API, dashboard, metrics.
	Console Console `yaml:"console,omitempty"`
	// Checkpoints configures the signed checkpoints of the agent's Merkle log.
	Checkpoints Checkpoints `yaml:"checkpoints,omitempty"`
	// Devices names the site's devices: the agent journals a device message only from
	// one of them.
	Devices Devices `yaml:"devices"`
	// Substance configures substance testing.
	Substance Substance `yaml:"substance,omitempty"`
	// Biometrics configures fingerprint enrolment and the deletion of templates.
	Biometrics Biometrics `yaml:"biometrics,omitempty"`
	// BWCDocks are the site's body-worn camera docks; BWC configures their register.
	BWCDocks []BWCDock `yaml:"bwcDocks,omitempty"`
	BWC      BWC       `yaml:"bwc,omitempty"`
	// PAT configures the register of electrical items (PAT).
	PAT PAT `yaml:"pat,omitempty"`
	// Disk sets the free space below which the agent raises a low-disk alarm.
	Disk Disk `yaml:"disk,omitempty"`
	Log  Log  `yaml:"log,omitempty"`
}

// Devices is what the agent knows of the site's devices and how it dates their
// messages.
type Devices struct {
	// BridgeConfig is the firmware bridge's configuration file (relative to this one):
	// the agent takes the site's doors and readers, with each reader's door and
	// direction, from it, and refuses a message from any other device.
	BridgeConfig string `yaml:"bridgeConfig"`
	// MaxLate is the oldest a device message may be, by the agent's clock, when it
	// arrives (default 72h: a weekend's outage); an older one is refused and alarmed. The bridge's outbox
	// keeps a message until the agent acknowledges it, so only an agent away longer
	// than this refuses what the bridge kept.
	MaxLate time.Duration `yaml:"maxLate,omitempty"`
	// LateAfter is how old a message may be and still count as on time (default 2m);
	// an older one, within MaxLate, is journaled marked late with both times.
	LateAfter time.Duration `yaml:"lateAfter,omitempty"`
	// Doors and Readers are the doors and the readers (with their places) of
	// BridgeConfig, filled in when the configuration is loaded.
	Doors   map[string]bool        `yaml:"-"`
	Readers map[string]ReaderPlace `yaml:"-"`
	// Cameras are the cameras of BridgeConfig by id, with the name of each (where
	// it looks), filled in when the configuration is loaded.
	Cameras map[string]string `yaml:"-"`
	// SubstanceTesters are the substance testers of BridgeConfig by id, with the
	// kind of each (breath-alcohol, oral-fluid).
	SubstanceTesters map[string]string `yaml:"-"`
	// PATTesters are the PAT testers of BridgeConfig by id, with the name of each.
	PATTesters map[string]string `yaml:"-"`
	// Biometrics are the fingerprint terminals of BridgeConfig by id, with the door
	// each guards (none: an enrolment desk) and its name; EnhancedSecurity is
	// BridgeConfig's. Filled in when the configuration is loaded.
	Biometrics       map[string]BiometricPlace `yaml:"-"`
	EnhancedSecurity EnhancedSecurity          `yaml:"-"`
}

// check sets the defaults of the devices section, loads the bridge configuration it
// names (resolved against dir) for site, and checks it.
func (d *Devices) check(c *checker, dir, site string) {
	if d.MaxLate == 0 {
		d.MaxLate = 72 * time.Hour
	}
	if d.LateAfter == 0 {
		d.LateAfter = 2 * time.Minute
	}
	if d.MaxLate < time.Minute || d.MaxLate > 30*24*time.Hour {
		c.add("devices.maxLate", d.MaxLate.String(), "use 1m to 720h; 72h is usual")
	} else if d.LateAfter < time.Second || d.LateAfter >= d.MaxLate {
		c.add("devices.lateAfter", d.LateAfter.String(), "use at least 1s and less than devices.maxLate; 2m is usual")
	}
	d.BridgeConfig = resolve(dir, d.BridgeConfig)
	if d.BridgeConfig == "" {
		c.add("devices.bridgeConfig", "missing",
			"name the firmware bridge's configuration file, e.g. devices: {bridgeConfig: bridge.yaml}: the agent journals only what the site's configured doors and readers say")
		return
	}
	b, err := LoadBridge(d.BridgeConfig)
	if err != nil {
		c.add("devices.bridgeConfig", err.Error(), "fix the bridge's configuration, or name the file the bridge runs with")
		return
	}
	if b.Site != site && sitekey.ValidSiteCode(site) { // an invalid site is reported as such
		c.add("devices.bridgeConfig", d.BridgeConfig+" is for site "+b.Site+", not "+site, "name the bridge configuration of site "+site)
		return
	}
	d.Doors = map[string]bool{}
	for _, door := range b.Doors {
		d.Doors[door.ID] = true
	}
	d.Readers = b.Readers()
	d.Cameras = map[string]string{}
	for _, cam := range b.Cameras {
		d.Cameras[cam.ID] = cam.Name
	}
	d.SubstanceTesters = map[string]string{}
	for _, st := range b.SubstanceTesters {
		d.SubstanceTesters[st.ID] = st.Kind
	}
	d.PATTesters = map[string]string{}
	for _, pt := range b.PATTesters {
		d.PATTesters[pt.ID] = pt.Name
	}
	d.Biometrics = map[string]BiometricPlace{}
	for _, t := range b.FingerprintTerminals {
		d.Biometrics[t.ID] = BiometricPlace{Door: t.Door, Name: t.Name}
	}
	d.EnhancedSecurity = b.EnhancedSecurity
}

// Console configures the agent's HTTP console.
type Console struct {
	// Listen is the address it serves on (default 127.0.0.1:8080). An address that
	// other machines can reach needs TLS.
	Listen string `yaml:"listen,omitempty"`
	// TLS is the console's certificate and key (PEM files; the key mode 0600).
	TLS *ConsoleTLS `yaml:"tls,omitempty"`
	// FirstAdmin creates the first admin account when there is none, from a password
	// file (mode 0600). Without it the agent asks on its terminal at first start.
	FirstAdmin *FirstAdmin `yaml:"firstAdmin,omitempty"`
	// Users is the staff accounts database (default staff.db beside the journal).
	Users string `yaml:"users,omitempty"`
	// MetricsTokenFile holds the bearer token (at least 16 characters; mode 0600) a
	// Prometheus scraper must send for /metrics (authorization: {credentials_file:
	// ...} in its scrape config). Without it /metrics is refused (401) to everyone.
	MetricsTokenFile string `yaml:"metricsTokenFile,omitempty"`
	// Off turns the console off.
	Off bool `yaml:"off,omitempty"`
	// Alarms overrides, per alarm type ("door.forced"), its priority and gives the
	// instructions shown with it to the operator.
	Alarms map[string]AlarmPolicy `yaml:"alarms,omitempty"`
	// Permissions replaces, per role (staff, keyworker, security, manager, admin),
	// what it may do: read, register, doors, lockdown, alarms, export, accounts,
	// substance-test, substance-results, biometrics. Roles not named keep their
	// defaults; the agent refuses an unknown role or permission at start.
	Permissions map[string][]string `yaml:"permissions,omitempty"`
}

// AlarmPolicy is how the console treats one alarm type.
type AlarmPolicy struct {
	// Priority is 1 (urgent: shown first, with a sound) to 4 (low); 0 keeps the default.
	Priority int `yaml:"priority,omitempty"`
	// Instructions are what the operator is to do, shown with each alarm of the type.
	Instructions string `yaml:"instructions,omitempty"`
}

// MinMetricsToken is the shortest token console.metricsTokenFile may hold.
const MinMetricsToken = 16

// ConsoleTLS names the console's certificate and key files.
type ConsoleTLS struct {
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
}

// FirstAdmin is the first admin account, made at first start.
type FirstAdmin struct {
	Name         string `yaml:"name"`
	PasswordFile string `yaml:"passwordFile"`
}

// Forward is the link to central and how events are sent on it.
type Forward struct {
	MQTT `yaml:",inline"`
	// Batch is the most envelopes in one message (default 256).
	Batch int `yaml:"batch,omitempty"`
	// Window is the most unacknowledged batches in flight (default 8).
	Window int `yaml:"window,omitempty"`
	// ResendAfter rewinds to central's ack when it has not moved for this long
	// while events are outstanding (default 10s).
	ResendAfter time.Duration `yaml:"resendAfter,omitempty"`
}

// LoadAgent reads and validates an agent configuration file.
func LoadAgent(path string) (*Agent, error) {
	var a Agent
	if err := decode(path, &a); err != nil {
		return nil, err
	}
	dir := filepath.Dir(path)
	a.Key = resolve(dir, a.Key)
	a.Database = resolve(dir, a.Database)
	resolveMQTT(&a.Bus, dir)
	resolveMQTT(&a.Central.MQTT, dir)
	if a.Bus.ClientID == "" {
		a.Bus.ClientID = "apedge-agent-" + a.Site
	}
	if a.Central.ClientID == "" {
		a.Central.ClientID = "apedge-agent-" + a.Site + "-uplink"
	}
	if a.Central.Batch == 0 {
		a.Central.Batch = 256
	}
	if a.Central.Window == 0 {
		a.Central.Window = 8
	}
	if a.Central.ResendAfter == 0 {
		a.Central.ResendAfter = 10 * time.Second
	}
	var c checker
	checkSite(&c, "site", a.Site)
	if a.Key == "" {
		c.add("key", "missing", "run `apedge keygen -site "+a.Site+" -out keys` and set key: keys/"+a.Site+".key")
	} else {
		checkSecretFile(&c, "key", a.Key)
	}
	if a.Database == "" {
		c.add("database", "missing", "set it to a file path such as agent.db")
	}
	checkMQTT(&a.Bus, &c, "bus", true)
	checkMQTT(&a.Central.MQTT, &c, "central", true)
	if a.Central.Batch < 1 || a.Central.Batch > 4096 {
		c.add("central.batch", fmt.Sprintf("%d out of range", a.Central.Batch), "use 1..4096")
	}
	if a.Central.Window < 1 || a.Central.Window > 1024 {
		c.add("central.window", fmt.Sprintf("%d out of range", a.Central.Window), "use 1..1024")
	}
	if a.Central.ResendAfter < 100*time.Millisecond {
		c.add("central.resendAfter", a.Central.ResendAfter.String()+" too short", "use at least 100ms, e.g. 10s")
	}
	a.RosterFile = resolve(dir, a.RosterFile)
	if a.RosterFile != "" {
		if len(a.Roster) > 0 {
			c.add("rosterFile", "set together with roster", "keep the roster in one place: the file or the list")
		} else if err := loadRosterFile(a.RosterFile, &a.Roster); err != nil {
			c.add("rosterFile", err.Error(), "point it at a YAML file holding a list of people (see configs/roster.yaml)")
		}
	}
	checkRoster(&c, a.Roster)
	a.Curfew.check(&c)
	a.Console.check(&c, dir, a.Database)
	a.Checkpoints.check(&c)
	a.Disk.check(&c)
	a.Substance.check(&c)
	a.Biometrics.check(&c)
	a.PAT.check(&c)
	a.Devices.check(&c, dir, a.Site)
	a.checkBWC(&c)
	a.Log.check(&c)
	return &a, c.err(path)
}

func (k *Console) check(c *checker, dir, database string) {
	if k.Listen == "" {
		k.Listen = "127.0.0.1:8080"
	}
	k.Users = resolve(dir, k.Users)
	if k.Users == "" && database != "" {
		k.Users = filepath.Join(filepath.Dir(database), "staff.db")
	}
	host, _, err := net.SplitHostPort(k.Listen)
	if err != nil {
		c.add("console.listen", err.Error(), "use host:port, e.g. 127.0.0.1:8080")
	} else if k.TLS == nil && !isLoopback(host) {
		c.add("console.listen", k.Listen+" is reachable from other machines without TLS",
			"set console.tls.cert and console.tls.key, or listen on 127.0.0.1")
	}
	if k.TLS != nil {
		k.TLS.Cert, k.TLS.Key = resolve(dir, k.TLS.Cert), resolve(dir, k.TLS.Key)
		checkReadable(c, "console.tls.cert", k.TLS.Cert)
		checkSecretFile(c, "console.tls.key", k.TLS.Key)
	}
	if k.MetricsTokenFile != "" {
		k.MetricsTokenFile = resolve(dir, k.MetricsTokenFile)
		checkSecretFile(c, "console.metricsTokenFile", k.MetricsTokenFile)
		if tok, err := secret.Read(k.MetricsTokenFile); err == nil && len(strings.TrimSpace(tok)) < MinMetricsToken {
			c.add("console.metricsTokenFile", fmt.Sprintf("the token is shorter than %d characters", MinMetricsToken),
				"write a random token to it: openssl rand -hex 32 > "+k.MetricsTokenFile)
		}
	}
	for typ, p := range k.Alarms {
		if p.Priority < 0 || p.Priority > 4 {
			c.add("console.alarms."+typ+".priority", fmt.Sprintf("%d is not a priority", p.Priority), "use 1 (urgent) to 4 (low), or leave it out for the default")
		}
		if len(p.Instructions) > 2000 {
			c.add("console.alarms."+typ+".instructions", "longer than 2000 characters", "keep it to what the operator does first")
		}
	}
	if a := k.FirstAdmin; a != nil {
		a.PasswordFile = resolve(dir, a.PasswordFile)
		if a.Name == "" {
			c.add("console.firstAdmin.name", "missing", "name the first admin account, e.g. admin")
		}
		checkSecretFile(c, "console.firstAdmin.passwordFile", a.PasswordFile)
	}
}

// Central is the central receiver's configuration.
type Central struct {
	// Database is the store: an SQLite file (one receiver), or the URL of a PostgreSQL
	// database that several receivers may share:
	// postgres://apedge@db.example.org:5432/apedge?sslmode=verify-full&sslrootcert=ca.pem&passfile=pgpass
	// The password is never in the URL: it comes from the passfile the URL names (or
	// PGPASSFILE, or ~/.pgpass), mode 0600, or a client certificate (sslcert, sslkey
	// mode 0600). A server off this box needs sslmode=verify-full or verify-ca. File
	// names in the URL are relative to this file.
	Database string `yaml:"database"`
	Broker   MQTT   `yaml:"broker"`
	// ShareGroup, if set, makes this receiver one of several that share the sites'
	// batches through the MQTT shared subscription
	// $share/{ShareGroup}/apedge/v1/central/+/events, each batch going to one of them.
	// Every receiver of a group must use the same database (PostgreSQL, for receivers
	// on several machines). Each subscribes on a clean session with broker.clientID and
	// a random suffix, so that the broker sends nothing to a receiver that has gone.
	ShareGroup string `yaml:"shareGroup,omitempty"`
	// HTTP serves queries across sites (GET /v1/events); off unless set.
	HTTP *CentralHTTP `yaml:"http,omitempty"`
	// Trust lists every site's public key.
	Trust []TrustedSite `yaml:"trust"`
	// GapAlarmAfter is how long a gap in a site's seq may stay open before it is an
	// alarm (default 30s).
	GapAlarmAfter time.Duration `yaml:"gapAlarmAfter,omitempty"`
	Log           Log           `yaml:"log,omitempty"`
}

// CentralHTTP configures central's HTTP query API.
type CentralHTTP struct {
	// Listen is the address it serves on (default 127.0.0.1:8090). An address that
	// other machines can reach needs TLS with client certificates.
	Listen string `yaml:"listen,omitempty"`
	// TLS is the server's certificate and key and the CA of the clients it accepts.
	TLS *ServerTLS `yaml:"tls,omitempty"`
}

// ServerTLS names a TLS server's certificate and key (PEM files; the key mode 0600)
// and, if set, the CA whose client certificates it requires.
type ServerTLS struct {
	Cert     string `yaml:"cert"`
	Key      string `yaml:"key"`
	ClientCA string `yaml:"clientCA,omitempty"`
}

// TrustedSite is one site's public key.
type TrustedSite struct {
	Site   string `yaml:"site"`
	PubKey string `yaml:"pubkey"`
	// ValidFrom and ValidUntil bound when the key may sign (zero: open). A site that
	// rotates its key is listed once per key: the old key with ValidUntil the moment
	// of the rotation, the new one with ValidFrom it, so that what the old key signed
	// while it was the site's key still verifies.
	ValidFrom  time.Time `yaml:"validFrom,omitempty"`
	ValidUntil time.Time `yaml:"validUntil,omitempty"`
}

// LoadCentral reads and validates a central configuration file.
func LoadCentral(path string) (*Central, error) {
	var ce Central
	if err := decode(path, &ce); err != nil {
		return nil, err
	}
	dir := filepath.Dir(path)
	if !isPostgresURL(ce.Database) {
		ce.Database = resolve(dir, ce.Database)
	}
	resolveMQTT(&ce.Broker, dir)
	if ce.Broker.ClientID == "" {
		ce.Broker.ClientID = "apedge-central"
	}
	if ce.GapAlarmAfter == 0 {
		ce.GapAlarmAfter = 30 * time.Second
	}
	var c checker
	switch {
	case ce.Database == "":
		c.add("database", "missing", "set it to a file path such as central.db, or a postgres:// URL")
	case isPostgresURL(ce.Database):
		ce.Database = checkPostgres(&c, "database", ce.Database, dir)
	}
	checkMQTT(&ce.Broker, &c, "broker", true) // central refuses plain TCP off the box, as the agent does
	if g := ce.ShareGroup; g != "" && (strings.ContainsAny(g, "/+#$ ") || len(g) > 64) {
		c.add("shareGroup", fmt.Sprintf("%q is not a share name", g), "use letters, digits, dashes, e.g. apedge-central")
	}
	if ce.HTTP != nil {
		ce.HTTP.check(&c, dir)
	}
	if len(ce.Trust) == 0 {
		c.add("trust", "empty", "list each site with its public key: - {site: MAN1, pubkey: keys/MAN1.pub}")
	}
	seen := map[string]bool{}
	for i := range ce.Trust {
		t := &ce.Trust[i]
		f := fmt.Sprintf("trust[%d]", i)
		t.PubKey = resolve(dir, t.PubKey)
		checkSite(&c, f+".site", t.Site)
		if seen[t.Site+"\x00"+t.PubKey] {
			c.add(f+".pubkey", t.Site+"'s key "+t.PubKey+" listed twice", "list each key once (a rotated site lists each of its keys)")
		}
		seen[t.Site+"\x00"+t.PubKey] = true
		if !t.ValidFrom.IsZero() && !t.ValidUntil.IsZero() && !t.ValidUntil.After(t.ValidFrom) {
			c.add(f+".validUntil", "not after validFrom", "a key is valid from validFrom until validUntil")
		}
		if _, err := sitekey.LoadPublic(t.PubKey, t.Site); err != nil {
			c.add(f+".pubkey", err.Error(), "point it at the site's .pub file from apedge keygen")
		}
	}
	ce.Log.check(&c)
	return &ce, c.err(path)
}

func (h *CentralHTTP) check(c *checker, dir string) {
	if h.Listen == "" {
		h.Listen = "127.0.0.1:8090"
	}
	host, _, err := net.SplitHostPort(h.Listen)
	switch {
	case err != nil:
		c.add("http.listen", err.Error(), "use host:port, e.g. 127.0.0.1:8090")
	case !isLoopback(host) && (h.TLS == nil || h.TLS.ClientCA == ""):
		c.add("http.listen", h.Listen+" is reachable from other machines without TLS and client certificates",
			"set http.tls.cert, http.tls.key and http.tls.clientCA, or listen on 127.0.0.1")
	}
	if t := h.TLS; t != nil {
		t.Cert, t.Key, t.ClientCA = resolve(dir, t.Cert), resolve(dir, t.Key), resolve(dir, t.ClientCA)
		checkReadable(c, "http.tls.cert", t.Cert)
		checkSecretFile(c, "http.tls.key", t.Key)
		if t.ClientCA != "" {
			checkReadable(c, "http.tls.clientCA", t.ClientCA)
		}
	}
}

func checkSite(c *checker, field, site string) {
	if !sitekey.ValidSiteCode(site) {
		c.add(field, fmt.Sprintf("%q is not a site code", site), "use the AP's code: 1-32 letters, digits or dashes")
	}
}

func validCRN(s string) bool {
	if len(s) != 7 || s[0] < 'A' || s[0] > 'Z' {
		return false
	}
	for _, r := range s[1:] {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

func validNOMS(s string) bool {
	if len(s) != 7 {
		return false
	}
	for i, r := range s {
		letter := r >= 'A' && r <= 'Z'
		digit := r >= '0' && r <= '9'
		if (i == 0 || i >= 5) && !letter || i >= 1 && i <= 4 && !digit {
			return false
		}
	}
	return true
}

func validDeviceID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}
