package archtest_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apedge/apedge/internal/archtest"
)

const module = "github.com/apedge/apedge"

// moduleRoot is the repository's root: two levels up from this package.
func moduleRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("no go.mod at %s: %v", root, err)
	}
	return root
}

func load(t *testing.T) []*archtest.Package {
	t.Helper()
	pkgs, err := archtest.Load(moduleRoot(t), module)
	if err != nil {
		t.Fatal(err)
	}
	return pkgs
}

// rules are the directions dependencies may not take. The processes sit on the
// formats and the infrastructure; the device layer knows nothing of the bus, the
// processes or one another's insides.
var rules = []archtest.Rule{
	{From: module + "/devices/...", Not: []string{module + "/formats/sitebus", module + "/formats/uplink",
		module + "/firmware-bridge/...", module + "/agent/...", module + "/central/...", module + "/cmd/..."},
		Why: "devices know nothing of the bus or the processes: the bridge publishes what they report"},
	{From: module + "/devices/...", Not: []string{module + "/internal/mqttclient", module + "/internal/broker/...", "github.com/eclipse/paho.mqtt.golang"},
		Why: "devices do not speak MQTT themselves (config, which they read, names MQTT links)", Direct: true},
	{From: module + "/agent/...", Not: []string{module + "/firmware-bridge/...", module + "/central/...", module + "/cmd/..."},
		Why: "the agent hears devices only through the site bus's vocabulary (formats/sitebus)"},
	{From: module + "/agent/...", Not: []string{module + "/devices/..."}, Direct: true,
		Why: "the agent hears devices only through the site bus's vocabulary (formats/sitebus); config checks devices' settings with their parsers"},
	{From: module + "/firmware-bridge/...", Not: []string{module + "/agent/...", module + "/central/...", module + "/cmd/...", module + "/formats/uplink"},
		Why: "the bridge holds no site policy and never talks to central"},
	{From: module + "/central/...", Not: []string{module + "/agent/...", module + "/firmware-bridge/...", module + "/cmd/...", module + "/formats/sitebus"},
		Why: "central is the reference receiver: it knows sites only by what they send over the uplink"},
	{From: module + "/central/...", Not: []string{module + "/devices/..."}, Direct: true,
		Why: "central is the reference receiver: it knows sites only by what they send over the uplink"},
	{From: module + "/formats/...", Not: []string{module + "/agent/...", module + "/firmware-bridge/...", module + "/devices/...", module + "/central/...",
		module + "/cmd/...", module + "/internal/config", module + "/internal/mqttclient", module + "/internal/broker/...", module + "/internal/sqlitedb", module + "/internal/pgtest"},
		Why: "the evidence and wire formats are for other implementations to import: they stand alone"},
	{From: module + "/internal/mqttclient", Not: []string{module + "/internal/config"},
		Why: "mqttclient takes its own options (Link); config uses its types, not the other way"},
	{From: module + "/internal/...", Not: []string{module + "/agent/...", module + "/firmware-bridge/...", module + "/central/...", module + "/cmd/..."},
		Why: "infrastructure is below every process"},
}

func init() {
	// Below the device layer too: all of internal but config, which checks the
	// devices' settings (a simulated card's number, say) with their own parsers.
	for _, p := range []string{"clock/...", "wait", "testlog", "secret", "httpjson", "mqttclient", "broker/...", "sqlitedb", "pgtest", "archtest"} {
		rules = append(rules, archtest.Rule{From: module + "/internal/" + p, Not: []string{module + "/devices/..."},
			Why: "infrastructure is below the device layer"})
	}
}

// TestImports fails the build on an import against the direction of dependencies.
func TestImports(t *testing.T) {
	for _, bad := range archtest.CheckImports(load(t), rules) {
		t.Error(bad)
	}
}

// allowedTimeNow lists, by file and function, the calls of time.Now outside package
// clock that measure a duration on the monotonic clock rather than tell the time. A
// time of day anywhere else comes from the injected clock.Clock.
var allowedTimeNow = map[string]string{
	"internal/clock/clock.go system.Now":              "the system clock itself",
	"internal/clock/clocktest/clocktest.go Running":   "a running test clock's start on the monotonic clock",
	"internal/clock/clocktest/clocktest.go Clock.Set": "a running test clock's restart on the monotonic clock",
	"agent/checkpoint.go Agent.checkpoints":           "the checkpoint interval, measured",
	"agent/forwarder/forwarder.go Forwarder.loop":     "time since central's last progress, measured",
	"agent/eventindex/eventindex.go Index.run":        "how long catching up took, for the log",
	"agent/console/metrics.go httpMetrics.wrap":       "request duration, for /metrics",
	"devices/osdp/panel.go Panel.Run":                 "poll scheduling on the monotonic clock",
	"devices/osdp/panel.go runner.turn":               "poll scheduling on the monotonic clock",
	"devices/osdp/panel.go runner.goOffline":          "probe scheduling on the monotonic clock",
	"devices/doorio/input.go Input.Run":               "debounce timing",
	"devices/doorio/wiegand.go Wiegand.Run":           "Wiegand frame gap timing",
	"devices/doorio/wiegand.go watchPulses":           "Wiegand pulse timing",
	"devices/doorio/sim.go SimDoor.SendWiegand":       "the simulator's pulse timing",
	"firmware-bridge/outbox.go outbox.sendKept":       "resend timing, kept in the outbox across restarts",
	"devices/rtsp/client.go Session.Play":             "how long UDP stays silent, on the monotonic clock",
	"devices/rtsp/client.go Session.play":             "keep-alive and receiver-report scheduling",
	"devices/rtsp/client.go Session.ReadPacket":       "read deadlines and keep-alive scheduling",
	"devices/rtsp/client.go Session.answerServer":     "a write deadline",
	"devices/rtsp/client.go Session.keepAlive":        "keep-alive and receiver-report scheduling",
	"devices/rtsp/client.go Session.sendRR":           "a write deadline",
	"devices/rtsp/client.go Session.send":             "a write deadline",
	"devices/rtsp/client.go Session.answer":           "a read deadline",
	"devices/rtsp/sim.go SimCamera.readRTCP":          "the simulator's read deadline",
	"devices/rtsp/sim.go simConn.write":               "the simulator's write deadline",
	"devices/rtsp/sim.go simConn.serve":               "the simulator's read deadline",
	"devices/substance/driver.go tester.session":      "silence timing (offline after 60 s unheard)",
	"devices/substance/driver.go tester.ask":          "when identity was last asked, for the heartbeat",
	"devices/substance/driver.go tester.handle":       "silence timing (offline after 60 s unheard)",
	"devices/camera/check.go Watch.Sample":            "how long media was read and has been quiet, on the monotonic clock",
}

// TestTimeNow: no time of day is read from the wall clock outside package clock.
func TestTimeNow(t *testing.T) {
	root := moduleRoot(t)
	calls, err := archtest.TimeNowCalls(root, load(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range archtest.CheckTimeNow(calls, allowedTimeNow) {
		t.Error(bad)
	}
}

// TestChecksCatch runs the checks on a small module of the test's own with one
// forbidden import and two calls of time.Now, one allowed: each check reports exactly
// what is wrong, so the tests above would fail on such code in the real tree.
func TestChecksCatch(t *testing.T) {
	root := t.TempDir()
	write := func(path, src string) {
		t.Helper()
		p := filepath.Join(root, path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", "module example.com/m\n")
	write("devices/cam/cam.go", `package cam

import (
	"example.com/m/formats/sitebus"
	"example.com/m/internal/x"
	clk "time"
)

var _, _ = sitebus.X, x.Y

func Stamp() clk.Time { return clk.Now() }

type Cam struct{}

func (*Cam) took(start clk.Time) clk.Duration { _ = clk.Now(); return clk.Since(start) }
`)
	write("devices/cam/cam_test.go", "package cam\n\nimport (\"testing\"; \"time\"; \"example.com/m/agent\")\n\nfunc TestX(t *testing.T) { _ = time.Now(); _ = agent.X }\n")
	write("formats/sitebus/sitebus.go", "package sitebus\n\nvar X = 1\n")
	write("internal/x/x.go", "package x\n\nimport \"example.com/m/agent\"\n\nvar Y = agent.X\n")
	write("agent/agent.go", "package agent\n\nvar X = 1\n")
	write("devices/cam/testdata/bad.go", "package bad\n\nimport \"example.com/m/agent\"\n")
	pkgs, err := archtest.Load(root, "example.com/m")
	if err != nil {
		t.Fatal(err)
	}
	bad := archtest.CheckImports(pkgs, []archtest.Rule{{From: "example.com/m/devices/...", Not: []string{"example.com/m/formats/sitebus", "example.com/m/agent/..."}, Why: "test"}})
	if len(bad) != 2 || !strings.Contains(bad[0], "example.com/m/devices/cam imports example.com/m/agent (via example.com/m/internal/x)") ||
		!strings.Contains(bad[1], "example.com/m/devices/cam imports example.com/m/formats/sitebus (in cam.go)") {
		t.Errorf("CheckImports = %q, want agent through internal/x and sitebus from cam.go (test files and testdata are not checked)", bad)
	}
	direct := archtest.CheckImports(pkgs, []archtest.Rule{{From: "example.com/m/devices/...", Not: []string{"example.com/m/agent/..."}, Why: "test", Direct: true}})
	if len(direct) != 0 {
		t.Errorf("CheckImports of a direct rule = %q, want nothing: cam imports agent only through internal/x", direct)
	}
	calls, err := archtest.TimeNowCalls(root, pkgs)
	if err != nil {
		t.Fatal(err)
	}
	bad = archtest.CheckTimeNow(calls, map[string]string{"devices/cam/cam.go Cam.took": "a duration", "devices/cam/cam.go Gone": "stale"})
	if len(bad) != 2 || !strings.Contains(bad[0], `"devices/cam/cam.go Gone" matches no call`) || !strings.Contains(bad[1], "devices/cam/cam.go:11: time.Now() in Stamp") {
		t.Errorf("CheckTimeNow = %q, want Stamp's call and the stale entry", bad)
	}
}
