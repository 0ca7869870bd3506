package biometric

import (
	"cmp"
	"slices"
	"time"

	"github.com/apedge/apedge/formats/sitebus"
)

// Defaults of [NewVerifier]: three failed second factors within ten minutes, for one
// person or at one door, raise biometric.verification-failed.
const (
	DefaultVerifyWindow    = 10 * time.Minute
	DefaultVerifyThreshold = 3
)

// FailedFactor says a card read's second-factor result (sitebus.SecondFactor.Result)
// is a failure that counts: a finger that matched nothing, matched someone else, did
// not come, or a card holder with no template on the terminal. A terminal that did
// not answer and the alternative (staff confirmation) are not the person's failures.
func FailedFactor(result string) bool {
	switch result {
	case sitebus.FactorNotMatched, sitebus.FactorOtherPerson, sitebus.FactorNoFinger, sitebus.FactorNotEnrolled:
		return true
	}
	return false
}

// FactorFailure is one card read whose second factor failed.
type FactorFailure struct {
	// Read identifies the card read (its device message), so that a read the
	// bridge sends again is counted once.
	Read string `json:"read"`
	// CRN is the card holder's, a resident; Holder the roster id of a card holder who
	// is not a resident; both empty for a card of no one known.
	CRN      string    `json:"crn,omitempty"`
	Holder   string    `json:"holder,omitempty"`
	Door     string    `json:"door"`
	Reader   string    `json:"reader"`
	Terminal string    `json:"terminal"`
	Result   string    `json:"result"`
	At       time.Time `json:"at"`
}

// Verification is the Info of a biometric.verification-failed alarm: failed second
// factors for one person, or at one door, within the window.
type Verification struct {
	// CRN, Holder, Door, Reader and Terminal are those of the read that raised it.
	CRN      string `json:"crn,omitempty"`
	Holder   string `json:"holder,omitempty"`
	Door     string `json:"door"`
	Reader   string `json:"reader"`
	Terminal string `json:"terminal"`
	// For says whose failures reached the threshold: "person", "door" or both.
	For []string `json:"for"`
	// Count is how many failures Failures lists; WindowSeconds the window.
	Count         int             `json:"count"`
	WindowSeconds int64           `json:"windowSeconds"`
	Failures      []FactorFailure `json:"failures"`
	At            time.Time       `json:"at"`
}

// Scopes of a Verification.
const (
	ForPerson = "person"
	ForDoor   = "door"
)

// maxVerifyKeys bounds the people and doors a Verifier remembers.
const maxVerifyKeys = 4096

// Verifier counts failed second factors per person and per door and says when they
// reach the threshold within the window: at most once per window for each. It
// keeps only what the window needs, reads no clock (each failure's time is its
// read's) and journals nothing. It is not safe for concurrent use.
type Verifier struct {
	window    time.Duration
	threshold int
	scopes    map[string]*verifyScope
	seen      map[string]time.Time // reads counted, by FactorFailure.Read
}

type verifyScope struct {
	failures []FactorFailure
	alarmed  time.Time
}

// NewVerifier returns a Verifier raising at threshold failures within window (zero:
// the defaults).
func NewVerifier(window time.Duration, threshold int) *Verifier {
	if window <= 0 {
		window = DefaultVerifyWindow
	}
	if threshold <= 0 {
		threshold = DefaultVerifyThreshold
	}
	return &Verifier{window: window, threshold: threshold, scopes: map[string]*verifyScope{}, seen: map[string]time.Time{}}
}

// Add counts f and returns the alarm's Info when f makes the threshold, for its
// person or its door, and neither raised within the window before. A read counted
// already (f.Read) is not counted again.
func (v *Verifier) Add(f FactorFailure) (Verification, bool) {
	f.At = f.At.UTC()
	if _, dup := v.seen[f.Read]; dup && f.Read != "" {
		return Verification{}, false
	}
	v.prune(f.At)
	if f.Read != "" {
		v.seen[f.Read] = f.At
	}
	keys := map[string]string{ForDoor: "door:" + f.Door}
	switch {
	case f.CRN != "":
		keys[ForPerson] = "crn:" + f.CRN
	case f.Holder != "":
		keys[ForPerson] = "holder:" + f.Holder
	}
	alarm := Verification{CRN: f.CRN, Holder: f.Holder, Door: f.Door, Reader: f.Reader, Terminal: f.Terminal,
		WindowSeconds: int64(v.window / time.Second), At: f.At}
	for _, scope := range []string{ForPerson, ForDoor} {
		key, ok := keys[scope]
		if !ok {
			continue
		}
		s := v.scopes[key]
		if s == nil {
			s = &verifyScope{}
			v.scopes[key] = s
		}
		s.failures = append(slices.DeleteFunc(s.failures, func(x FactorFailure) bool { return !v.within(x.At, f.At) }), f)
		if len(s.failures) < v.threshold || !s.alarmed.IsZero() && f.At.Sub(s.alarmed) < v.window {
			continue
		}
		s.alarmed = f.At
		alarm.For = append(alarm.For, scope)
		for _, x := range s.failures {
			if !slices.ContainsFunc(alarm.Failures, func(y FactorFailure) bool { return y.Read == x.Read && y.At.Equal(x.At) }) {
				alarm.Failures = append(alarm.Failures, x)
			}
		}
	}
	if len(alarm.For) == 0 {
		return Verification{}, false
	}
	slices.SortStableFunc(alarm.Failures, func(a, b FactorFailure) int { return cmp.Compare(a.At.UnixNano(), b.At.UnixNano()) })
	alarm.Count = len(alarm.Failures)
	return alarm, true
}

// within says a failure at x counts in the window of one at now.
func (v *Verifier) within(x, now time.Time) bool {
	d := now.Sub(x)
	return d < v.window && d > -v.window
}

// prune forgets the reads, people and doors with nothing within the window of now,
// once there are too many to keep.
func (v *Verifier) prune(now time.Time) {
	if len(v.seen) >= maxVerifyKeys {
		for r, at := range v.seen {
			if !v.within(at, now) {
				delete(v.seen, r)
			}
		}
		if len(v.seen) >= maxVerifyKeys {
			clear(v.seen)
		}
	}
	if len(v.scopes) >= maxVerifyKeys {
		for k, s := range v.scopes {
			if !slices.ContainsFunc(s.failures, func(x FactorFailure) bool { return v.within(x.At, now) }) &&
				(s.alarmed.IsZero() || !v.within(s.alarmed, now)) {
				delete(v.scopes, k)
			}
		}
	}
}
