package central

import (
	"golang.org/x/mod/sumdb/tlog"

	"bytes"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/apedge/apedge/formats/envelope"
	"github.com/apedge/apedge/formats/event"
	"github.com/apedge/apedge/formats/uplink"
)

// job is one message on its way through the pipeline.
type job struct {
	site    string // "" if the topic names none
	at      time.Time
	refusal *entry  // set if the whole message is refused
	entries []entry // one per envelope, in batch order
	pending atomic.Int32
	done    chan struct{} // closed once every entry is checked
}

// entry is one envelope and what the workers found.
type entry struct {
	raw    []byte
	reason Reason // "" if verified
	detail string
	// Set when verified (seq and id also, as far as known, when refused).
	seq    uint64
	id     string
	source string
	hash   [32]byte  // of the payload
	prev   [32]byte  // the event's prevhash
	f      fields    // what queries select it by
	at     time.Time // when received
	leaf   tlog.Hash // its Merkle leaf hash: tlog.RecordHash of the payload
	// cp is the signed checkpoint a log.checkpoint event carries, opened with the
	// site's keys (nil for other events); cpErr says why one could not be opened.
	cp    *checkpointInfo
	cpErr error
}

// chunk is a run of a job's entries for one worker.
type chunk struct {
	j      *job
	lo, hi int
}

// newJob decodes a message into a job whose entries still need checking.
func (r *Receiver) newJob(m inMsg) *job {
	j := &job{at: m.at, done: make(chan struct{})}
	site, err := uplink.SiteFromTopic(m.topic)
	switch {
	case err != nil || m.topic != uplink.EventsTopic(site):
		j.refusal = &entry{reason: ReasonBadTopic, detail: fmt.Sprintf("topic %q is not a site's events topic", m.topic), raw: m.msg}
	default:
		j.site = site
		envs, err := uplink.DecodeBatch(m.msg)
		if err != nil {
			j.refusal = &entry{reason: ReasonMalformed, detail: err.Error(), raw: m.msg}
			break
		}
		j.entries = make([]entry, len(envs))
		for i, raw := range envs {
			j.entries[i] = entry{raw: raw, at: m.at}
		}
	}
	if j.refusal != nil {
		j.refusal.at = m.at
	}
	j.pending.Store(int32((len(j.entries) + chunkLen - 1) / chunkLen))
	if len(j.entries) == 0 {
		close(j.done)
	}
	return j
}

// verifyChunk checks a chunk's envelopes and marks the job done after its last chunk.
func (r *Receiver) verifyChunk(c chunk) {
	for i := c.lo; i < c.hi; i++ {
		r.check(c.j.site, &c.j.entries[i])
	}
	if c.j.pending.Add(-1) == 0 {
		close(c.j.done)
	}
}

// check verifies one envelope received on site's topic: decoding, canonical form,
// signature by a trusted key of that site, and an event of that site. It fills e with
// the event, or with the reason for refusing it.
func (r *Receiver) check(site string, e *entry) {
	env, err := envelope.Decode(e.raw)
	if err != nil {
		e.reason, e.detail = ReasonMalformed, err.Error()
		return
	}
	refuse := func(reason Reason, detail string) {
		e.reason, e.detail = reason, detail
		e.id, e.seq = event.Claimed(env.Payload)
	}
	if !bytes.Equal(e.raw, envelope.Encode(env)) {
		refuse(ReasonMalformed, "envelope is not canonically encoded")
		return
	}
	key, err := r.trust.Verify(env)
	switch {
	case errors.Is(err, envelope.ErrUnknownKey):
		refuse(ReasonUnknownKey, err.Error())
		return
	case err != nil:
		refuse(ReasonBadSignature, err.Error())
		return
	case key.Site != site:
		refuse(ReasonWrongSite, fmt.Sprintf("signed by key %s of site %s on site %s's topic", key.ID, key.Site, site))
		return
	}
	ev, err := event.Parse(env.Payload)
	if err != nil {
		refuse(ReasonMalformed, err.Error())
		return
	}
	if ev.Site() != key.Site {
		refuse(ReasonWrongSite, fmt.Sprintf("event of site %s signed by key %s of site %s", ev.Site(), key.ID, key.Site))
		return
	}
	if p, ok := r.o.KeyPeriods[key.ID]; ok {
		if t, err := time.Parse(time.RFC3339Nano, ev.Time); err == nil && !p.Contains(t) {
			refuse(ReasonKeyPeriod, fmt.Sprintf("signed at %s by key %s, valid %s", ev.Time, key.ID, p))
			return
		}
	}
	e.seq, e.id, e.source = ev.Seq, ev.ID, ev.Source
	e.hash, e.prev = event.Hash(env.Payload), ev.Prev()
	e.f = fieldsOf(ev)
	e.leaf = tlog.RecordHash(env.Payload)
	if ev.Type == event.TypePrefix+CheckpointType {
		e.cp, e.cpErr = r.openCheckpoint(site, ev)
	}
}
