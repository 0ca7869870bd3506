package central

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/apedge/apedge/formats/uplink"
	"github.com/apedge/apedge/internal/clock/clocktest"
)

// ackLog records every ack each receiver published, checking at each one that the
// store had committed at least that head (acks only after commit, from the committed
// head) and that no receiver's acks of a site go backwards.
type ackLog struct {
	t    *testing.T
	addr string
	ro   *store

	mu   sync.Mutex
	max  map[string]uint64         // highest ack of each site, from any receiver
	last map[int]map[string]uint64 // each receiver's last ack of each site
	errs []string
}

func newAckLog(t *testing.T, addr string) *ackLog {
	// Make the store, then watch it through a connection of its own.
	r, err := Open(context.Background(), Options{Path: addr, Trust: testTrust(t), Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	ro, err := openReadOnly(context.Background(), addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ro.db.Close() })
	return &ackLog{t: t, addr: addr, ro: ro, max: map[string]uint64{}, last: map[int]map[string]uint64{}}
}

// publish returns receiver i's Options.Publish.
func (l *ackLog) publish(i int) func(site string, seq uint64) {
	return func(site string, seq uint64) {
		var head int64
		err := l.ro.db.QueryRow(l.ro.q(`SELECT seq FROM heads WHERE site = ?`), site).Scan(&head)
		l.mu.Lock()
		defer l.mu.Unlock()
		switch {
		case err != nil:
			l.errs = append(l.errs, fmt.Sprintf("receiver %d acked %s %d: reading the head: %v", i, site, seq, err))
		case uint64(head) < seq:
			l.errs = append(l.errs, fmt.Sprintf("receiver %d acked %s %d but the store's head is %d", i, site, seq, head))
		}
		if l.last[i] == nil {
			l.last[i] = map[string]uint64{}
		}
		if seq < l.last[i][site] {
			l.errs = append(l.errs, fmt.Sprintf("receiver %d acked %s %d after %d", i, site, seq, l.last[i][site]))
		}
		l.last[i][site] = seq
		l.max[site] = max(l.max[site], seq)
	}
}

func (l *ackLog) highest(site string) uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.max[site]
}

func (l *ackLog) check() {
	l.t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.errs) > 0 {
		l.t.Fatalf("%d bad acks, first: %s", len(l.errs), l.errs[0])
	}
}

// TestSharedStoreReceivers runs three receivers on one store, as a shared subscription
// would: two sites' batches, resent, overlapping and out of order, are dealt to the
// receivers at random. Every event is stored exactly once and in order, whichever
// receiver got it, and every ack is a head the store had committed.
func TestSharedStoreReceivers(t *testing.T) {
	eachStore(t, func(t *testing.T, newStore func() string) {
		addr := newStore()
		acks := newAckLog(t, addr)
		const receivers = 3
		hs := make([]*harness, receivers)
		for i := range hs {
			hs[i] = start(t, Options{Path: addr, Publish: acks.publish(i)})
		}
		chains := map[string][][]byte{"ABC": makeChain(t, testKey(t, "ABC"), 2000), "XYZ": makeChain(t, testKey(t, "XYZ"), 700)}
		type msg struct {
			site string
			envs [][]byte
		}
		var msgs []msg
		rng := rand.New(rand.NewPCG(1, 2))
		for site, envs := range chains {
			// Batches as the agent sends them, then a resend of a random window, as
			// after a silence.
			for lo := 0; lo < len(envs); lo += 50 {
				msgs = append(msgs, msg{site, envs[lo:min(lo+50, len(envs))]})
			}
			for range 5 {
				lo := rng.IntN(len(envs) - 60)
				msgs = append(msgs, msg{site, envs[lo : lo+60]})
			}
		}
		// Out of order within a small window, as several receivers' pipelines would
		// finish them; the order each site's batches were first sent is kept loosely.
		for i := range msgs {
			j := min(i+rng.IntN(4), len(msgs)-1)
			msgs[i], msgs[j] = msgs[j], msgs[i]
		}
		for _, m := range msgs {
			hs[rng.IntN(receivers)].send(m.site, m.envs...)
		}
		for site, envs := range chains {
			eventually(t, "every "+site+" event acked", func() bool { return acks.highest(site) == uint64(len(envs)) })
		}
		acks.check()
		for site, envs := range chains {
			checkStored(t, addr, site, envs)
		}
		var stored uint64
		for _, h := range hs {
			s := h.r.Stats()
			stored += s.Stored
			if rejected(s) != 0 {
				t.Fatalf("rejections: %+v", s)
			}
		}
		if want := uint64(len(chains["ABC"]) + len(chains["XYZ"])); stored != want {
			t.Fatalf("receivers stored %d in all, want %d", stored, want)
		}
		heads, err := hs[0].r.StoredHeads(context.Background())
		if err != nil || heads["ABC"] != 2000 || heads["XYZ"] != 700 {
			t.Fatalf("StoredHeads %v, %v", heads, err)
		}
	})
}

// TestGapFilledByAnotherReceiver: one receiver holds what came after a gap; another
// fills the gap and stores the held envelopes too, and acknowledges them; the first
// then goes on from the head the second committed.
func TestGapFilledByAnotherReceiver(t *testing.T) {
	eachStore(t, func(t *testing.T, newStore func() string) {
		addr := newStore()
		acks := newAckLog(t, addr)
		open := func(i int) *Receiver {
			r, err := Open(context.Background(), Options{Path: addr, Trust: testTrust(t), Logger: testLogger(t), Publish: acks.publish(i)})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { r.Close() })
			return r
		}
		r1, r2 := open(1), open(2)
		abc := makeChain(t, testKey(t, "ABC"), 12)
		topic := uplink.EventsTopic("ABC")
		r1.processSync(topic, uplink.EncodeBatch(abc[4:8])) // 5-8: held
		if s := r1.Stats(); s.Held != 4 || s.HeldNow != 4 || s.Gaps != 1 || acks.highest("ABC") != 0 {
			t.Fatalf("after the gap: %+v, ack %d", s, acks.highest("ABC"))
		}
		r2.processSync(topic, uplink.EncodeBatch(abc[8:10])) // 9-10: held beside them
		r2.processSync(topic, uplink.EncodeBatch(abc[4:6]))  // 5-6 again: duplicates of held ones
		if s := r2.Stats(); s.Held != 2 || s.Duplicates != 2 || s.HeldNow != 6 {
			t.Fatalf("r2 after holding: %+v", s)
		}
		r2.processSync(topic, uplink.EncodeBatch(abc[0:4])) // 1-4: fills the gap, releases 5-10
		if s := r2.Stats(); s.Stored != 10 || s.HeldNow != 0 || acks.highest("ABC") != 10 {
			t.Fatalf("r2 after filling: %+v, ack %d", s, acks.highest("ABC"))
		}
		r1.processSync(topic, uplink.EncodeBatch(abc[9:12])) // 10 a duplicate, then 11-12
		if s := r1.Stats(); s.Stored != 2 || s.Duplicates != 1 || r1.Heads()["ABC"] != 12 || s.HeldNow != 0 {
			t.Fatalf("r1 after the head moved elsewhere: %+v, heads %v", s, r1.Heads())
		}
		acks.check()
		checkStored(t, addr, "ABC", abc)
	})
}

// TestGapAlarmedByAnotherReceiver: the receiver that saw a gap open stops; another
// alarms the gap once it is due, once.
func TestGapAlarmedByAnotherReceiver(t *testing.T) {
	eachStore(t, func(t *testing.T, newStore func() string) {
		addr := newStore()
		clock := clocktest.New(time.Date(2026, 3, 29, 0, 59, 0, 0, time.UTC))
		ctx := context.Background()
		o := Options{Path: addr, Trust: testTrust(t), Logger: testLogger(t), Clock: clock, GapAlarmAfter: 30 * time.Second}
		r1, err := Open(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		abc := makeChain(t, testKey(t, "ABC"), 5)
		r1.processSync(uplink.EventsTopic("ABC"), uplink.EncodeBatch(abc[3:5]))
		r1.Close()
		r2, err := Open(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		defer r2.Close()
		if s := r2.Stats(); s.HeldNow != 2 {
			t.Fatalf("held seen at open: %+v", s)
		}
		r2.alarmGaps(ctx)
		if a, _ := r2.Alarms(ctx, "ABC"); len(a) != 0 {
			t.Fatalf("alarmed early: %+v", a)
		}
		clock.Add(31 * time.Second)
		r2.alarmGaps(ctx)
		r2.alarmGaps(ctx)
		a, err := r2.Alarms(ctx, "ABC")
		if err != nil || len(a) != 1 || a[0].Reason != ReasonGap || a[0].Seq != 1 || string(a[0].Evidence) != string(abc[3]) {
			t.Fatalf("gap alarms: %+v, %v", a, err)
		}
		if s := r2.Stats(); s.GapAlarms != 1 {
			t.Fatalf("stats %+v", s)
		}
		r2.processSync(uplink.EventsTopic("ABC"), uplink.EncodeBatch(abc[:3]))
		checkStored(t, addr, "ABC", abc)
	})
}

// TestBusySiteDoesNotHoldUpOthers: while another transaction holds one site's head (a
// receiver writing it), a receiver given batches of that site and another stores the
// other's at once, then the busy site's once it is free. PostgreSQL only: SQLite has one
// writer at a time.
func TestBusySiteDoesNotHoldUpOthers(t *testing.T) {
	addr := storeKinds[1].newStore(t)
	ctx := context.Background()
	r, err := Open(ctx, Options{Path: addr, Trust: testTrust(t), Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	abc, xyz := makeChain(t, testKey(t, "ABC"), 4), makeChain(t, testKey(t, "XYZ"), 4)
	r.processSync(uplink.EventsTopic("ABC"), uplink.EncodeBatch(abc[:1]))
	r.processSync(uplink.EventsTopic("XYZ"), uplink.EncodeBatch(xyz[:1]))

	other, err := r.st.db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.ExecContext(ctx, `SELECT seq FROM heads WHERE site = 'ABC' FOR UPDATE`); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		ja := r.newJob(inMsg{topic: uplink.EventsTopic("ABC"), msg: uplink.EncodeBatch(abc[1:]), at: time.Now()})
		jx := r.newJob(inMsg{topic: uplink.EventsTopic("XYZ"), msg: uplink.EncodeBatch(xyz[1:]), at: time.Now()})
		for _, j := range []*job{ja, jx} {
			for lo := 0; lo < len(j.entries); lo += chunkLen {
				r.verifyChunk(chunk{j: j, lo: lo, hi: min(lo+chunkLen, len(j.entries))})
			}
		}
		r.apply(ctx, []*job{ja, jx})
	}()
	eventually(t, "XYZ stored while ABC is held elsewhere", func() bool {
		h, err := r.StoredHeads(ctx)
		return err == nil && h["XYZ"] == 4
	})
	if h, _ := r.StoredHeads(ctx); h["ABC"] != 1 {
		t.Fatalf("ABC's head moved while locked elsewhere: %v", h)
	}
	select {
	case <-done:
		t.Fatal("apply returned with ABC's batch unapplied")
	default:
	}
	if err := other.Commit(); err != nil {
		t.Fatal(err)
	}
	<-done
	checkStored(t, addr, "ABC", abc)
	checkStored(t, addr, "XYZ", xyz)
	if got := slices.Sorted(func(yield func(string) bool) {
		for s := range r.Heads() {
			if !yield(s) {
				return
			}
		}
	}); !slices.Equal(got, []string{"ABC", "XYZ"}) {
		t.Fatalf("heads %v", got)
	}
}
