package sitebus

import (
	"encoding/json"
	"fmt"
	"time"
)

// KindMessagesLost is the kind of the device event by which the bridge reports that it
// lost some of that device's events: its outbox could not write them (disk full or
// failing) and its memory bound was exceeded. Its data is MessagesLost.
const KindMessagesLost = "messages-lost"

// MessagesLost is the data of a messages-lost event: how many of the device's events
// were lost, the times of the first and last of them, and why.
type MessagesLost struct {
	Count uint64    `json:"count"`
	From  time.Time `json:"from"`
	To    time.Time `json:"to"`
	Cause string    `json:"cause"`
}

// DecodeMessagesLost parses and checks a messages-lost event's data: a count of at
// least one, a period whose end is not before its start, and a cause of at most 256
// bytes.
func DecodeMessagesLost(b []byte) (*MessagesLost, error) {
	if len(b) > MaxMessage {
		return nil, fmt.Errorf("%w: messages-lost of %d bytes", ErrMessage, len(b))
	}
	var l MessagesLost
	if err := json.Unmarshal(b, &l); err != nil {
		return nil, fmt.Errorf("%w: messages-lost: %v", ErrMessage, err)
	}
	if l.Count == 0 || l.From.IsZero() || l.To.Before(l.From) || len(l.Cause) > 256 {
		return nil, fmt.Errorf("%w: messages-lost: count %d, period %s..%s", ErrMessage, l.Count, l.From, l.To)
	}
	return &l, nil
}
