package bridge

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/apedge/apedge/formats/sitebus"
	"github.com/apedge/apedge/internal/clock"
	"github.com/apedge/apedge/internal/sqlitedb"
)

// outboxSize bounds what waits to be written to the outbox file: at a busy AP's rate of
// a few hundred door events an hour, far more than can pile up in a moment.
const outboxSize = 1 << 16

// outMsg is one site-bus message to send.
type outMsg struct {
	at                       time.Time
	class, id, kind, msgKind string
	data                     any
}

// outboxSchema is the outbox file's migrations. A row is a message numbered and encoded
// (sitebus.Prepared), kept until the agent has acknowledged it; sent is when the broker
// last took it (Unix ms), 0 if it is to be sent.
var outboxSchema = []string{`
CREATE TABLE outbox (
	n        INTEGER PRIMARY KEY AUTOINCREMENT,
	boot     TEXT NOT NULL,
	dev      TEXT NOT NULL,
	seq      INTEGER NOT NULL,
	topic    TEXT NOT NULL,
	retained INTEGER NOT NULL,
	body     BLOB NOT NULL,
	sent     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX outbox_unsent ON outbox (sent, n);
CREATE UNIQUE INDEX outbox_msg ON outbox (boot, dev, seq);`}

// outbox decouples the devices from the bus: door logic never waits for the broker, and
// nothing a device said is lost while the bus is down, the broker restarts or the bridge
// restarts. Each message is numbered (boot, per-device seq) and written to a SQLite file
// in the state directory, then sent in order, byte for byte as written. It is deleted
// only when the agent acknowledges it (sitebus.AckTopic); one the broker took but the
// agent never acknowledged is sent again after resendAfter while the agent is online.
// Messages kept from an earlier run keep the boot and seq they were given then, so the
// agent's dedupe on (device, boot, seq) makes every resend harmless.
type outbox struct {
	db    *sql.DB
	pub   *sitebus.Publisher
	clock clock.Clock // dates a message put without a time
	log   *slog.Logger
	ch    chan outMsg
	kept  chan struct{} // something was written, or is to be sent again

	// held is what could not be written, in memory until the file can be (writer's
	// own); retryEvery is how often writing it is tried again, maxHeld how many
	// messages it may hold.
	held       heldQueue
	retryEvery time.Duration
	maxHeld    int
	losses     losses // events lost, reported once writing works again
	// failWrites is a test seam: when set, it is called before each write of the
	// outbox file and an error it returns fails the write as SQLite's would (a full
	// disk, an I/O error). Nil outside tests.
	failWrites func() error
	// onHealth, when set, is called (from the writer) when the outbox starts or stops
	// holding messages in memory, and on each retry while it holds them.
	onHealth func()
	// degraded is set while held is not empty; degradedSince is when it last became
	// so, degradedCauses the causes logged since (writer's own).
	degraded       atomic.Bool
	degradedSince  time.Time
	degradedCauses map[string]bool
	// unmarked are the rows sent whose sent mark could not be written (the disk is
	// full), with when they were sent: the sender does not send them again while it
	// cannot write, and writes their marks first once it can (sender's own).
	unmarked map[int64]int64
	// markFailing is set while marking fails, so that it is logged once, not per try
	// (sender's own).
	markFailing bool

	published, dropped, written, acked, resent atomic.Uint64
}

// openOutbox opens the outbox file in dir.
func openOutbox(ctx context.Context, dir string, pub *sitebus.Publisher, clk clock.Clock, log *slog.Logger) (*outbox, error) {
	db, err := sqlitedb.Open(ctx, filepath.Join(dir, "outbox.db"), outboxSchema)
	if err != nil {
		return nil, fmt.Errorf("bridge: outbox: %w", err)
	}
	return &outbox{db: db, pub: pub, clock: clk, log: log, ch: make(chan outMsg, outboxSize), kept: make(chan struct{}, 1),
		retryEvery: outboxRetry, maxHeld: outboxMaxHeld, held: heldQueue{states: map[string]heldMsg{}}, unmarked: map[int64]int64{}}, nil
}

// put queues m without blocking. If the writer has fallen a whole outboxSize behind, m
// is dropped and counted as lost for its device (reported in a messages-lost event once
// the outbox can write again; logged once per loss, not per message): the doors keep
// working regardless.
func (o *outbox) put(m outMsg) {
	if m.at.IsZero() {
		m.at = o.clock.Now()
	}
	select {
	case o.ch <- m:
	default:
		o.dropped.Add(1)
		if m.kind != sitebus.KindState { // a state is superseded by the next one
			o.noteLost(m.class, m.id, m.at, "outbox queue full")
		}
	}
}

// pending counts the messages kept and not yet acknowledged by the agent.
func (o *outbox) pending(ctx context.Context) (int, error) {
	var n int
	err := o.db.QueryRowContext(ctx, `SELECT count(*) FROM outbox`).Scan(&n)
	return n, err
}

// write keeps queued messages in the file until ctx ends and the queue is empty. While
// the file cannot be written (disk full, I/O error) it holds them in memory
// (outboxhold.go) and tries again every retryEvery.
func (o *outbox) write(ctx context.Context) {
	for {
		var batch []outMsg
		var retry <-chan time.Time
		if o.held.len() > 0 {
			retry = time.After(o.retryEvery)
		}
		select {
		case m := <-o.ch:
			batch = append(batch, m)
		case <-retry:
			o.retry(context.WithoutCancel(ctx))
			continue
		case <-ctx.Done():
			select {
			case m := <-o.ch:
				batch = append(batch, m)
			default:
				o.stopHeld(context.WithoutCancel(ctx))
				return
			}
		}
	more:
		for len(batch) < 512 {
			select {
			case m := <-o.ch:
				batch = append(batch, m)
			default:
				break more
			}
		}
		o.writeBatch(context.WithoutCancel(ctx), batch)
	}
}

// writeBatch numbers and writes a batch, or holds it in memory while the file cannot be
// written: then what is already held goes first, in order.
func (o *outbox) writeBatch(ctx context.Context, batch []outMsg) {
	msgs := o.prepare(batch)
	if o.held.len() > 0 {
		o.hold(msgs)
		return
	}
	if err := o.insert(ctx, msgs); err != nil {
		o.degrade(err)
		o.hold(msgs)
		return
	}
	o.wrote()
}

// wrote wakes the sender.
func (o *outbox) wrote() {
	select {
	case o.kept <- struct{}{}:
	default:
	}
}

// keep numbers and writes a batch in one transaction.
func (o *outbox) keep(ctx context.Context, batch []outMsg) error {
	return o.insert(ctx, o.prepare(batch))
}

// prepare numbers and encodes a batch; a message that cannot be encoded is logged and
// left out.
func (o *outbox) prepare(batch []outMsg) []heldMsg {
	msgs := make([]heldMsg, 0, len(batch))
	for _, m := range batch {
		pm, err := o.pub.Prepare(m.at, m.class, m.id, m.kind, m.msgKind, m.data)
		if err != nil {
			o.log.Error("outbox: message not encodable", "class", m.class, "id", m.id, "kind", m.msgKind, "err", err)
			continue
		}
		msgs = append(msgs, heldMsg{class: m.class, id: m.id, kind: m.kind, at: m.at, pm: pm})
	}
	return msgs
}

// insert writes numbered messages in one transaction.
func (o *outbox) insert(ctx context.Context, msgs []heldMsg) error {
	if len(msgs) == 0 {
		return nil
	}
	if o.failWrites != nil {
		if err := o.failWrites(); err != nil {
			return err
		}
	}
	tx, err := o.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, m := range msgs {
		if _, err := tx.ExecContext(ctx, `INSERT INTO outbox (boot, dev, seq, topic, retained, body) VALUES (?, ?, ?, ?, ?, ?)`,
			m.pm.Msg.Boot, m.dev(), m.pm.Msg.Seq, m.pm.Topic, m.pm.Retained, m.pm.Body); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	o.written.Add(uint64(len(msgs)))
	return nil
}

// send sends kept messages in order until ctx ends; after that it goes on for up to
// linger to send what is left, and what it cannot send stays kept for the next run.
func (o *outbox) send(ctx context.Context, linger time.Duration) {
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	go func() {
		<-ctx.Done()
		select {
		case <-time.After(linger):
		case <-sctx.Done():
		}
		cancel()
	}()
	for sctx.Err() == nil {
		n, err := o.sendKept(sctx)
		if err != nil && sctx.Err() == nil {
			o.log.Error("outbox", "err", err)
		}
		if n > 0 {
			continue
		}
		if ctx.Err() != nil {
			return // stopping and nothing left
		}
		select {
		case <-o.kept:
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

// sendKept sends the oldest messages to be sent and marks each sent once the broker
// has it. A mark that cannot be written (the disk is full) is kept in memory instead:
// the message is not sent again every second while the disk stays full, and its mark
// is written once it can be.
func (o *outbox) sendKept(ctx context.Context) (int, error) {
	o.writeMarks(ctx)
	rows, err := o.db.QueryContext(ctx, `SELECT n, topic, retained, body FROM outbox WHERE sent = 0 ORDER BY n LIMIT ?`, 256+len(o.unmarked))
	if err != nil {
		return 0, fmt.Errorf("read: %w", err)
	}
	type kept struct {
		n  int64
		pm sitebus.Prepared
	}
	var ks []kept
	for rows.Next() {
		var k kept
		if err := rows.Scan(&k.n, &k.pm.Topic, &k.pm.Retained, &k.pm.Body); err != nil {
			rows.Close()
			return 0, fmt.Errorf("read: %w", err)
		}
		ks = append(ks, k)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("read: %w", err)
	}
	sent := 0
	for _, k := range ks {
		if _, ok := o.unmarked[k.n]; ok {
			continue // sent; only its mark waits for room on the disk
		}
		k.pm.Msg, _ = sitebus.Decode(k.pm.Body) // for naming it in errors only
		if err := o.pub.Send(ctx, &k.pm); err != nil {
			return sent, err
		}
		// When it was sent times the resend (against applyAcks's ticker), not an event:
		// the system clock, not the bridge's.
		at := time.Now().UnixMilli()
		if err := o.mark(ctx, k.n, at); err != nil {
			o.unmarked[k.n] = at
			o.markFailed(err)
		}
		sent++
		o.published.Add(1)
		if strings.HasSuffix(k.pm.Topic, "/"+sitebus.KindEvent) {
			o.log.Debug("published", "topic", k.pm.Topic)
		}
	}
	return sent, nil
}

// mark writes that row n was sent at (Unix ms).
func (o *outbox) mark(ctx context.Context, n, at int64) error {
	if o.failWrites != nil {
		if err := o.failWrites(); err != nil {
			return err
		}
	}
	_, err := o.db.ExecContext(context.WithoutCancel(ctx), `UPDATE outbox SET sent = ? WHERE n = ?`, at, n)
	return err
}

// writeMarks writes the marks kept in memory, if any, as far as it can.
func (o *outbox) writeMarks(ctx context.Context) {
	for n, at := range o.unmarked {
		if err := o.mark(ctx, n, at); err != nil {
			o.markFailed(err)
			return
		}
		delete(o.unmarked, n)
	}
	if o.markFailing && len(o.unmarked) == 0 {
		o.markFailing = false
		o.log.Info("outbox: sent marks written again")
	}
}

// markFailed logs, once until marking works again, that a sent mark could not be written.
func (o *outbox) markFailed(err error) {
	if !o.markFailing {
		o.markFailing = true
		o.log.Warn("outbox: cannot mark messages sent; they are not sent again meanwhile, and marked once the disk has room (logged once)",
			"err", err, "unmarked", len(o.unmarked))
	}
}

// ack deletes the messages the agent has handled.
func (o *outbox) ack(ctx context.Context, a *sitebus.Ack) error {
	tx, err := o.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	st, err := tx.PrepareContext(ctx, `DELETE FROM outbox WHERE boot = ? AND dev = ? AND seq = ?`)
	if err != nil {
		return err
	}
	var n int64
	for dev, seqs := range a.Done {
		for _, seq := range seqs {
			r, err := st.ExecContext(ctx, a.Boot, dev, seq)
			if err != nil {
				return err
			}
			k, _ := r.RowsAffected()
			n += k
		}
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	o.acked.Add(uint64(n))
	return nil
}

// resend marks for sending again every message the broker took before the cutoff and
// the agent has not acknowledged, and reports how many.
func (o *outbox) resend(ctx context.Context, cutoff time.Time) (int64, error) {
	r, err := o.db.ExecContext(ctx, `UPDATE outbox SET sent = 0 WHERE sent > 0 AND sent < ?`, cutoff.UnixMilli())
	if err != nil {
		return 0, err
	}
	n, _ := r.RowsAffected()
	if n > 0 {
		o.resent.Add(uint64(n))
		select {
		case o.kept <- struct{}{}:
		default:
		}
	}
	return n, nil
}
