package pat

import "reflect"

// SameState says a and b hold the same register, whatever their configurations:
// every field of the engine but cfg, compared deeply.
func SameState(a, b *Engine) bool {
	return reflect.DeepEqual(a.items, b.items)
}
