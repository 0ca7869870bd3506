package hiltests

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/apedge/apedge/agent"
	"github.com/apedge/apedge/formats/sitebus"
	"github.com/apedge/apedge/internal/clock/clocktest"
	"github.com/apedge/apedge/internal/config"
)

// TestCurfewNightAt40 runs a night at an AP with 40 residents through a real Mosquitto
// and the central receiver (its own process): the agent runs in this process on a
// clock the test moves, and the card reads come over the site bus as the bridge sends
// them. 34 residents are in by 23:00; five come back late (23:10 to 01:15); one of
// those in leaves at 02:00; one never returns. Central ends with exactly the expected
// curfew events, verified there: one roll, six absences, five late returns and one
// breach, each signed and in the chain.
//
// It runs on each of clocktest.Nights, in parallel, each with its own broker and central.
func TestCurfewNightAt40(t *testing.T) {
	t.Parallel()
	for _, n := range clocktest.Nights() {
		t.Run(n.Name, func(t *testing.T) {
			t.Parallel()
			curfewNightAt40(t, n)
		})
	}
}

func curfewNightAt40(t *testing.T, n clocktest.Night) {
	const residents = 40
	mq := startMosquitto(t, "HIL6")
	var roster strings.Builder
	for r := range residents {
		fmt.Fprintf(&roster, "  - {crn: X%06d, cards: [\"12:%d\"]}\n", 300000+r, r+1)
	}
	s := newSite(t, "HIL6", mq, siteOptions{roster: roster.String()})
	startProc(t, s.Dir, "central", "central", "-config", s.CentralYAM)

	at := func(day, h, m int) time.Time { return n.At(day-22, h, m) } // day 22 is the evening, 23 the morning
	clock := clocktest.New(at(22, 18, 0))
	cfg, err := config.LoadAgent(s.AgentYAML)
	if err != nil {
		t.Fatal(err)
	}
	ag, err := agent.New(context.Background(), cfg, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})), agent.WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	defer ag.Close()
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ag.Run(ctx) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("agent: %v", err)
		}
	}()

	// The agent announces itself online once it has subscribed to the site bus.
	online := connect(t, mq, "hil-watch-agent", "monitor")
	up := make(chan struct{}, 1)
	online.Subscribe(sitebus.AgentStateTopic(s.Code), 1, func(_ mqtt.Client, m mqtt.Message) {
		var st sitebus.AgentState
		if json.Unmarshal(m.Payload(), &st) == nil && st.Status == "online" {
			select {
			case up <- struct{}{}:
			default:
			}
		}
	}).Wait()
	select {
	case <-up:
	case <-time.After(60 * time.Second):
		t.Fatal("the agent never came online on the site bus")
	}
	d := newBusDriver(t, s.Code, mq, "front-in")
	crn := func(r int) string { return fmt.Sprintf("X%06d", 300000+r) }
	move := func(when time.Time, r int, dir string) {
		t.Helper()
		clock.Set(when)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_, err := d.pub.PublishAt(ctx, when, sitebus.ClassReader, "front-"+map[string]string{"entry": "in", "exit": "out"}[dir], sitebus.KindEvent, "card-read",
			sitebus.CardRead{Door: "front", Direction: dir, Granted: true,
				Credential: sitebus.Credential{Kind: "card", Format: "wiegand-26", Bits: 26, Facility: 12, Number: fmt.Sprint(r + 1)}})
		if err != nil {
			t.Fatal(err)
		}
	}
	movements := 0
	waitJournaled := func(what string, n int) {
		t.Helper()
		waitFor(t, 60*time.Second, what, func() (bool, string) {
			got := 0
			types := map[string]int{}
			for _, e := range s.journalEntries(t) {
				typ := parseEntry(t, e).Type
				types[typ]++
				if strings.HasPrefix(typ, "approved-premises.movement.") {
					got++
				}
			}
			return got >= n, fmt.Sprint(got, types)
		})
	}

	// Evening: residents 0-33 come in; 34-38 go out (back late); 39 goes out for good.
	for r := range 34 {
		move(at(22, 18, 1).Add(time.Duration(r)*time.Minute), r, "entry")
		movements++
	}
	for r := 34; r < residents; r++ {
		move(at(22, 19, 0).Add(time.Duration(r)*time.Minute), r, "exit")
		movements++
	}
	waitJournaled("the evening's movements", movements)
	late := map[int]time.Time{34: at(22, 23, 10), 35: at(22, 23, 25), 36: at(22, 23, 45), 37: at(23, 0, 30), 38: at(23, 1, 15)}
	for _, r := range []int{34, 35, 36, 37, 38} {
		move(late[r], r, "entry")
		movements++
		waitJournaled("a late return", movements)
	}
	move(at(23, 2, 0), 5, "exit") // leaves at 02:00
	movements++
	waitJournaled("the 02:00 exit", movements)
	clock.Set(at(23, 6, 30))

	// What central holds, verified there.
	want := map[string]int{"curfew.roll": 1, "curfew.absent": 6, "curfew.returned-late": 5, "curfew.breached": 1}
	var got map[string]int
	var byType map[string][]map[string]any
	waitFor(t, 60*time.Second, "central holding the night's curfew events", func() (bool, string) {
		got, byType = map[string]int{}, map[string][]map[string]any{}
		for _, line := range strings.Split(strings.TrimSpace(string(s.export(t))), "\n") {
			if line == "" {
				continue // nothing stored yet
			}
			var env struct{ Payload string }
			if err := json.Unmarshal([]byte(line), &env); err != nil {
				t.Fatal(err)
			}
			raw, _ := base64.StdEncoding.DecodeString(env.Payload)
			var ev struct {
				Type string
				Data struct {
					PersonReference *struct{ Identifiers []struct{ Value string } }
					Info            map[string]any `json:"additionalInformation"`
				}
			}
			json.Unmarshal(raw, &ev)
			typ := strings.TrimPrefix(ev.Type, "approved-premises.")
			if strings.HasPrefix(typ, "curfew.") {
				got[typ]++
				info := ev.Data.Info
				if p := ev.Data.PersonReference; p != nil {
					info["crn"] = p.Identifiers[0].Value
				}
				byType[typ] = append(byType[typ], info)
			}
		}
		return fmt.Sprint(got) == fmt.Sprint(want), fmt.Sprint(got)
	})
	s.checkDelivered(t) // central holds exactly the journal, every signature and link checked

	roll := byType["curfew.roll"][0]
	if n := len(roll["in"].([]any)); n != 34 || len(roll["out"].([]any)) != 6 {
		t.Errorf("roll: %d in, %v out; want 34 in and 6 out", n, roll["out"])
	}
	var absent, lateCRNs []string
	for _, a := range byType["curfew.absent"] {
		absent = append(absent, a["crn"].(string))
	}
	for _, l := range byType["curfew.returned-late"] {
		lateCRNs = append(lateCRNs, fmt.Sprintf("%s %v", l["crn"], l["minutesLate"]))
	}
	slices.Sort(absent)
	slices.Sort(lateCRNs)
	if want := []string{crn(34), crn(35), crn(36), crn(37), crn(38), crn(39)}; !slices.Equal(absent, want) {
		t.Errorf("absent %v, want %v", absent, want)
	}
	// Minutes late are real minutes since 23:00, which a clock change makes differ
	// from the local times' difference (01:15 is 135 minutes after 23:00 on most nights).
	var wantLate []string
	for _, r := range []int{34, 35, 36, 37, 38} {
		wantLate = append(wantLate, fmt.Sprintf("%s %d", crn(r), int(late[r].Sub(at(22, 23, 0)).Minutes())))
	}
	if n.Name == "2026-11-22" && !slices.Equal(wantLate, []string{crn(34) + " 10", crn(35) + " 25", crn(36) + " 45", crn(37) + " 90", crn(38) + " 135"}) {
		t.Fatalf("the test's own arithmetic is off: %v", wantLate)
	}
	if want := wantLate; !slices.Equal(lateCRNs, want) {
		t.Errorf("returned late %v, want %v", lateCRNs, want)
	}
	if b := byType["curfew.breached"][0]; b["crn"] != crn(5) {
		t.Errorf("breach by %v, want %s", b["crn"], crn(5))
	}
}
