package bwc

import "reflect"

// SameState says a and b hold the same register (each camera's journaled record:
// its issue, offload state, alarms raised and event count), whatever their
// configurations and telemetry: what replaying a journal must rebuild.
func SameState(a, b *Engine) bool {
	return reflect.DeepEqual(registers(a), registers(b))
}

// registers returns the register of each camera with a journaled event.
func registers(e *Engine) map[string]register {
	out := map[string]register{}
	for s, c := range e.cams {
		if c.reg.events > 0 {
			out[s] = c.reg
		}
	}
	return out
}
