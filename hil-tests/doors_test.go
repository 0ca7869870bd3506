package hiltests

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/apedge/apedge/formats/sitebus"
	"github.com/apedge/apedge/formats/sitekey"
	"github.com/apedge/apedge/internal/mqttclient"
)

// SimPD is `apedge sim osdp-pd` as its own process on a pseudo-terminal, driven
// through its standard input as a person at a keyboard would.
type SimPD struct {
	t     testing.TB
	cmd   *exec.Cmd
	stdin io.WriteCloser
	TTY   string

	mu  sync.Mutex
	out []string
}

func startSimPD(t testing.TB, args ...string) *SimPD {
	t.Helper()
	s := &SimPD{t: t}
	s.cmd = exec.Command(apedgeBin, append([]string{"sim", "osdp-pd", "-pty"}, args...)...)
	var err error
	if s.stdin, err = s.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	s.cmd.Stderr = os.Stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.stdin.Close()
		s.cmd.Process.Kill()
		s.cmd.Wait()
	})
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			s.mu.Lock()
			s.out = append(s.out, sc.Text())
			s.mu.Unlock()
		}
	}()
	pts := regexp.MustCompile(`answering on (/dev/pts/\d+)`)
	waitFor(t, 20*time.Second, "simulated readers' pseudo-terminal", func() (bool, string) {
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, l := range s.out {
			if m := pts.FindStringSubmatch(l); m != nil {
				s.TTY = m[1]
				return true, ""
			}
		}
		return false, strings.Join(s.out, "|")
	})
	return s
}

// Do sends one command line to the simulator.
func (s *SimPD) Do(format string, args ...any) {
	s.t.Helper()
	if _, err := fmt.Fprintf(s.stdin, format+"\n", args...); err != nil {
		s.t.Fatal(err)
	}
}

// watcher records every site-bus message of a site on a real broker.
type watcher struct {
	mu   sync.Mutex
	msgs []busMessage
}

type busMessage struct {
	topic sitebus.Topic
	msg   *sitebus.Message
}

func watch(t testing.TB, b Broker, site string) *watcher {
	t.Helper()
	w := &watcher{}
	c := connect(t, b, fmt.Sprintf("hil-watch-%d", time.Now().UnixNano()), "monitor")
	tok := c.Subscribe("apedge/v1/"+site+"/dev/#", 1, func(_ mqtt.Client, m mqtt.Message) {
		tp, err := sitebus.ParseTopic(m.Topic())
		if err != nil {
			return
		}
		msg, err := sitebus.Decode(m.Payload())
		if err != nil {
			t.Errorf("%s: %v", m.Topic(), err)
			return
		}
		w.mu.Lock()
		w.msgs = append(w.msgs, busMessage{tp, msg})
		w.mu.Unlock()
	})
	if err := mqttclient.WaitTimeout(t.Context(), tok, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	return w
}

// find returns the messages of class/id/kind whose message kind is msgKind.
func (w *watcher) find(class, id, kind, msgKind string) []*sitebus.Message {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []*sitebus.Message
	for _, m := range w.msgs {
		if m.topic.Class == class && m.topic.ID == id && m.topic.Kind == kind && m.msg.Kind == msgKind {
			out = append(out, m.msg)
		}
	}
	return out
}

// readerOnline says whether reader id's latest state is online with its secure
// channel up.
func (w *watcher) readerOnline(id string) bool {
	st := w.find(sitebus.ClassReader, id, sitebus.KindState, "status")
	if len(st) == 0 {
		return false
	}
	var s struct{ Online, Secure bool }
	json.Unmarshal(st[len(st)-1].Data, &s)
	return s.Online && s.Secure
}

// TestOSDPBusOfEight runs the real bridge against eight simulated readers on one line
// at 115200 baud, all with secure channel, through a real Mosquitto: every swipe
// reaches the site bus; a reader that loses power is offline after three missed
// replies; once it is back it is re-initialised and its secure channel reopened with
// nobody's help.
func TestOSDPBusOfEight(t *testing.T) {
	t.Parallel()
	const site, readers, swipes = "MAN1", 8, 12
	mq := startMosquitto(t, site)
	dir := t.TempDir()
	key := filepath.Join(dir, "readers.scbk")
	if err := os.WriteFile(key, []byte("0f0e0d0c0b0a09080706050403020100\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var yaml strings.Builder
	fmt.Fprintf(&yaml, "site: %s\nstateDir: state\nbus: %s\nlog: {level: info}\n", site, link(mq, "bridge"))
	sim := startSimPD(t, "-addr", "1,2,3,4,5,6,7,8", "-baud", "115200", "-scbk", key)
	fmt.Fprintf(&yaml, "osdp:\n  - port: %s\n    baud: 115200\n    readers:\n", sim.TTY)
	for i := 1; i <= readers; i++ {
		fmt.Fprintf(&yaml, "      - {id: r%d, address: %d, scbkFile: readers.scbk}\n", i, i)
	}
	yaml.WriteString("doors:\n")
	for d := 1; d <= readers/2; d++ {
		fmt.Fprintf(&yaml, "  - {id: door%d, entryReader: r%d, exitReader: r%d}\n", d, 2*d-1, 2*d)
	}
	// The bridge verifies the agent's lists and commands with the site key beside it.
	siteKey, err := sitekey.Generate(site, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := sitekey.Write(filepath.Join(dir, "keys"), siteKey); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "bridge.yaml")
	if err := os.WriteFile(cfgPath, []byte(yaml.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	w := watch(t, mq, site)
	startProc(t, dir, "bridge", "bridge", "-config", cfgPath)
	waitFor(t, 60*time.Second, "every reader online with secure channel", func() (bool, string) {
		var off []string
		for i := 1; i <= readers; i++ {
			if !w.readerOnline(fmt.Sprintf("r%d", i)) {
				off = append(off, fmt.Sprintf("r%d", i))
			}
		}
		return len(off) == 0, fmt.Sprint("not yet: ", off)
	})

	// Every swipe reaches the bus, from the reader it was made at, with its card.
	want := map[string]bool{}
	for n := range swipes {
		for i := 1; i <= readers; i++ {
			card := fmt.Sprintf("%d:%d", 12, 1000*i+n)
			sim.Do("@%d swipe %s", i, card)
			want[fmt.Sprintf("r%d %s", i, card)] = true
		}
	}
	got := map[string]int{}
	waitFor(t, 60*time.Second, fmt.Sprintf("%d card reads on the bus", len(want)), func() (bool, string) {
		clear(got)
		for i := 1; i <= readers; i++ {
			for _, m := range w.find(sitebus.ClassReader, fmt.Sprintf("r%d", i), sitebus.KindEvent, "card-read") {
				cr, err := sitebus.DecodeCardRead(m.Data)
				if err != nil {
					t.Fatal(err)
				}
				got[fmt.Sprintf("r%d %s", i, cr.Credential.ID())]++
			}
		}
		return len(got) >= len(want), fmt.Sprintf("%d of %d", len(got), len(want))
	})
	for k, n := range got {
		if !want[k] || n != 1 {
			t.Errorf("read %q seen %d times; want each swipe once", k, n)
		}
	}

	// Power loss: offline after OfflineAfter (3) missed replies.
	sim.Do("@3 power off")
	var off []*sitebus.Message
	waitFor(t, 30*time.Second, "r3 offline", func() (bool, string) {
		off = w.find(sitebus.ClassReader, "r3", sitebus.KindEvent, "offline")
		return len(off) > 0, ""
	})
	var od struct {
		MissedReplies int `json:"missedReplies"`
	}
	json.Unmarshal(off[0].Data, &od)
	if od.MissedReplies != 3 {
		t.Errorf("r3 offline after %d missed replies (%s), want 3", od.MissedReplies, off[0].Data)
	}
	// The others kept working meanwhile.
	sim.Do("@4 swipe 12:4999")
	waitFor(t, 30*time.Second, "a read at r4 while r3 is off", func() (bool, string) {
		return len(w.find(sitebus.ClassReader, "r4", sitebus.KindEvent, "card-read")) > swipes, ""
	})

	// It comes back as a freshly booted reader: re-initialised, secure again.
	sim.Do("@3 reboot")
	sim.Do("@3 power on")
	waitFor(t, 30*time.Second, "r3 back online", func() (bool, string) {
		return len(w.find(sitebus.ClassReader, "r3", sitebus.KindEvent, "online")) >= 2, ""
	})
	waitFor(t, 30*time.Second, "r3 secure again", func() (bool, string) { return w.readerOnline("r3"), "" })
	sim.Do("@3 swipe 12:3999")
	waitFor(t, 30*time.Second, "a read at r3 after its reboot", func() (bool, string) {
		return len(w.find(sitebus.ClassReader, "r3", sitebus.KindEvent, "card-read")) > swipes, ""
	})
}

// TestDoorsWorkWithAgentDown: with the agent stopped, the bridge still decides card
// reads from the credential list the agent gave it; once the agent is back, what
// happened meanwhile is journaled, signed and delivered to central.
func TestDoorsWorkWithAgentDown(t *testing.T) {
	t.Parallel()
	mq := startMosquitto(t, "MAN1")
	s := newSite(t, "MAN1", mq, siteOptions{})
	sim := startSimPD(t, "-addr", "1,2", "-baud", "115200")
	bridgeYAML := filepath.Join(s.Dir, "bridge.yaml")
	body := fmt.Sprintf(`site: MAN1
stateDir: bridge-state
bus: %s
osdp:
  - port: %s
    baud: 115200
    readers:
      - {id: front-in, address: 1, insecure: true}
      - {id: front-out, address: 2, insecure: true}
doors:
  - {id: front, entryReader: front-in, exitReader: front-out}
`, link(mq, "bridge"), sim.TTY)
	if err := os.WriteFile(bridgeYAML, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	w := watch(t, mq, "MAN1")
	startProc(t, s.Dir, "central", "central", "-config", s.CentralYAM)
	agent := startProc(t, s.Dir, "agent", "agent", "-config", s.AgentYAML)
	startProc(t, s.Dir, "bridge", "bridge", "-config", bridgeYAML)
	waitFor(t, 60*time.Second, "the agent's credential list kept by the bridge", func() (bool, string) {
		_, err := os.Stat(filepath.Join(s.Dir, "bridge-state", "credentials.json"))
		return err == nil, fmt.Sprint(err)
	})
	if err := agent.Stop(); err != nil {
		t.Fatalf("agent stop: %v", err)
	}

	sim.Do("@1 swipe 12:10001") // on the roster: let in
	sim.Do("@2 swipe 99:1")     // not: refused
	var reads []*sitebus.Message
	waitFor(t, 30*time.Second, "both reads decided with the agent down", func() (bool, string) {
		reads = append(w.find(sitebus.ClassReader, "front-in", sitebus.KindEvent, "card-read"),
			w.find(sitebus.ClassReader, "front-out", sitebus.KindEvent, "card-read")...)
		return len(reads) == 2, fmt.Sprint(len(reads))
	})
	in, _ := sitebus.DecodeCardRead(reads[0].Data)
	out, _ := sitebus.DecodeCardRead(reads[1].Data)
	if !in.Granted || in.ListVersion == 0 || out.Granted || out.Reason != "not-listed" {
		t.Errorf("with the agent down: %+v and %+v; want 12:10001 let in by the kept list, 99:1 refused", in, out)
	}

	agent.Start()
	waitFor(t, 60*time.Second, "the entry journaled once the agent is back", func() (bool, string) {
		for _, e := range s.journalEntries(t) {
			ev := parseEntry(t, e)
			if ev.Type == "approved-premises.movement.entered" {
				if ev.Data.PersonReference == nil || ev.Data.PersonReference.Identifiers[0].Value != "X100001" {
					t.Fatalf("entry seq %d not attributed to X100001: %+v", ev.Seq, ev.Data.PersonReference)
				}
				if at, _ := time.Parse(time.RFC3339Nano, ev.Data.OccurredAt); !at.Equal(reads[0].Time) {
					t.Errorf("entry occurred at %s, want the read's time %v", ev.Data.OccurredAt, reads[0].Time)
				}
				return true, ""
			}
		}
		return false, ""
	})
	waitFor(t, 60*time.Second, "central holding every event", func() (bool, string) {
		n := len(s.journalEntries(t))
		return s.stored(t) == int64(n), fmt.Sprintf("%d of %d", s.stored(t), n)
	})
}

// TestBrokerRestartNothingLost: cards swiped at eight OSDP readers while the site
// broker restarts twice: every one is journaled exactly once and reaches central. The
// bridge keeps each device message until the agent acknowledges it and sends again
// what a broker restart lost, so no accepted read depends on Mosquitto keeping it.
func TestBrokerRestartNothingLost(t *testing.T) {
	t.Parallel()
	const readers, residents, cardsEach = 8, 20, 30
	mq := startMosquitto(t, "HIL5")
	var roster strings.Builder
	for r := range residents {
		fmt.Fprintf(&roster, "  - {crn: X%06d, cards: [", 200000+r)
		for c := range cardsEach {
			if c > 0 {
				roster.WriteString(", ")
			}
			fmt.Fprintf(&roster, "\"12:%d\"", r*cardsEach+c+1)
		}
		roster.WriteString("]}\n")
	}
	s := newSite(t, "HIL5", mq, siteOptions{roster: roster.String()})
	sim := startSimPD(t, "-addr", "1,2,3,4,5,6,7,8", "-baud", "115200")
	var y strings.Builder
	fmt.Fprintf(&y, "site: HIL5\nstateDir: bridge-state\nresendAfter: 2s\nbus: %s\nlog: {level: info}\nosdp:\n  - port: %s\n    baud: 115200\n    readers:\n", link(mq, "bridge"), sim.TTY)
	for i := 1; i <= readers; i++ {
		fmt.Fprintf(&y, "      - {id: r%d, address: %d, insecure: true}\n", i, i)
	}
	y.WriteString("doors:\n")
	for d := 1; d <= readers/2; d++ {
		fmt.Fprintf(&y, "  - {id: door%d, entryReader: r%d, exitReader: r%d}\n", d, 2*d-1, 2*d)
	}
	bridgeYAML := filepath.Join(s.Dir, "bridge.yaml")
	if err := os.WriteFile(bridgeYAML, []byte(y.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	startProc(t, s.Dir, "central", "central", "-config", s.CentralYAM)
	startProc(t, s.Dir, "agent", "agent", "-config", s.AgentYAML)
	br := startProc(t, s.Dir, "bridge", "bridge", "-config", bridgeYAML)
	waitFor(t, 60*time.Second, "the agent's credential list kept by the bridge", func() (bool, string) {
		_, err := os.Stat(filepath.Join(s.Dir, "bridge-state", "credentials.json"))
		return err == nil, fmt.Sprint(err)
	})
	defer func() {
		t.Logf("bridge resends after the restarts: %d", strings.Count(br.Log(), "sending them again"))
	}()

	movements := func() map[string]int {
		got := map[string]int{}
		for _, e := range s.journalEntries(t) {
			ev := parseEntry(t, e)
			if !strings.HasPrefix(ev.Type, "approved-premises.movement.") {
				continue
			}
			var info struct {
				Credential struct{ ID string } `json:"credential"`
			}
			json.Unmarshal(ev.Data.AdditionalInformation, &info)
			got[info.Credential.ID]++
		}
		return got
	}
	total := residents * cardsEach
	third := total / 3
	swipe := func(from, to int) {
		for i := from; i < to; i++ {
			sim.Do("@%d swipe 12:%d", i%readers+1, i+1)
		}
	}
	for round := range 3 {
		swipe(round*third, (round+1)*third)
		waitFor(t, 120*time.Second, "reads flowing", func() (bool, string) {
			n := len(movements())
			return n >= round*third+third/3, fmt.Sprint(n)
		})
		if round < 2 {
			mq.Restart()
			t.Logf("broker restart %d", round+1)
		}
	}
	waitFor(t, 120*time.Second, fmt.Sprintf("all %d swipes journaled", total), func() (bool, string) {
		n := len(movements())
		return n == total, fmt.Sprint(n)
	})
	for card, n := range movements() {
		if n != 1 {
			t.Errorf("card %s journaled %d times", card, n)
		}
	}
	s.checkDelivered(t)
}
