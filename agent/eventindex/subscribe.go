package eventindex

// subscriber is one Subscribe call's channel.
type subscriber struct{ ch chan Summary }

// Subscribe returns a channel that receives the Summary of every entry indexed from now
// on, once Run has caught up with the journal (entries indexed during the catch-up at
// its start are not sent), in seq order, and a function that ends the subscription and
// closes the channel (calling it again does nothing).
//
// Indexing never waits for a subscriber: one that falls SubscriberBuffer summaries
// behind is unsubscribed and its channel closed (and counted in Lagged), so the stream
// it received has no gaps. It can subscribe again and fill the gap with Search, After
// the last seq it saw. To show history and then live entries, subscribe first, then
// Search, and skip received seqs at or below the last one Search gave. Close closes
// every channel too. Receivers must not modify a
// Summary's Data, which subscribers share.
func (x *Index) Subscribe() (<-chan Summary, func()) {
	s := &subscriber{ch: make(chan Summary, SubscriberBuffer)}
	x.subMu.Lock()
	if x.closed {
		close(s.ch)
	} else {
		x.subs[s] = struct{}{}
	}
	x.subMu.Unlock()
	return s.ch, func() {
		x.subMu.Lock()
		defer x.subMu.Unlock()
		if _, ok := x.subs[s]; ok {
			delete(x.subs, s)
			close(s.ch)
		}
	}
}

// publish sends ss to every subscriber, closing those that cannot take them all.
func (x *Index) publish(ss []Summary) {
	x.subMu.Lock()
	defer x.subMu.Unlock()
	for s := range x.subs {
		for _, sum := range ss {
			select {
			case s.ch <- sum:
				continue
			default:
			}
			delete(x.subs, s)
			close(s.ch)
			x.lagged.Add(1)
			x.log.Warn("event index subscriber fell behind: closed", "seq", sum.Seq)
			break
		}
	}
}
