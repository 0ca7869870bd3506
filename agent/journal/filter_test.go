package journal

import (
	"strconv"
	"testing"
)

func TestOriginFilter(t *testing.T) {
	tests := []struct {
		name            string
		expected, added int
	}{
		{"within capacity", 50_000, 40_000},
		{"grows past capacity", 0, 100_000}, // starts at bloomMinOrigins, adds layers
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newOriginFilter(tc.expected)
			for i := range tc.added {
				f.Add("sitebus:reader-01:" + strconv.Itoa(i))
			}
			for i := range tc.added {
				if o := "sitebus:reader-01:" + strconv.Itoa(i); !f.MayContain(o) {
					t.Fatalf("added %q but MayContain says no", o)
				}
			}
			fp := 0
			const probes = 100_000
			for i := range probes {
				if f.MayContain("sitebus:reader-02:" + strconv.Itoa(i)) {
					fp++
				}
			}
			if rate := float64(fp) / probes; rate > 0.03 {
				t.Fatalf("false positive rate %.2f%% with %d layers, want under 3%%", 100*rate, len(f.layers))
			}
		})
	}
}
