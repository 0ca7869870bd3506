// Package standin is a stand-in door reader: it presents cards at random moments and
// reports each read as a reader would, with the door and direction it stands for. It
// drives the event path until the OSDP readers of package osdp replace it.
package standin

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/apedge/apedge/sitebus"
)

// Reader is one stand-in reader.
type Reader struct {
	ID        string
	Door      string
	Direction string // "entry" or "exit"
}

// Site is a set of stand-in readers presenting a set of cards.
type Site struct {
	Readers []Reader
	Cards   []string
	// Every is the mean time between reads across all readers.
	Every time.Duration
	// Rand picks readers, cards and gaps; nil uses a random seed.
	Rand *rand.Rand
}

// Read is one card read by one reader.
type Read struct {
	Reader Reader
	Data   sitebus.CardRead
}

// Run calls emit for each read until ctx ends or emit returns an error, which Run
// returns. Gaps between reads are exponentially distributed with mean Every.
func (s *Site) Run(ctx context.Context, emit func(context.Context, Read) error) error {
	r := s.Rand
	if r == nil {
		r = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		// select picks at random when both are ready: never read after ctx has ended.
		if ctx.Err() != nil {
			return nil
		}
		rd := s.Readers[r.IntN(len(s.Readers))]
		card := s.Cards[r.IntN(len(s.Cards))]
		err := emit(ctx, Read{Reader: rd, Data: sitebus.CardRead{
			Door: rd.Door, Direction: rd.Direction,
			Credential: sitebus.Credential{Kind: "card", Number: card, Format: "raw"},
		}})
		if err != nil {
			return err
		}
		t.Reset(time.Duration(r.ExpFloat64() * float64(s.Every)))
	}
}
