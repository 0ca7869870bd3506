package journal

import (
	"context"
	"fmt"
	"testing"
	"time"
)

func TestZZCommitCost(t *testing.T) {
	key := testKey(t)
	for _, bs := range []int{16, 64, 128} {
		j := openTest(t, key, "", Options{})
		env := make([]byte, 1400)
		for i := range env {
			env[i] = 'a' + byte(i%26)
		}
		seq := uint64(0)
		total := 12000
		cpu0, t0 := cpuTime(), time.Now()
		var args []any
		for done := 0; done < total; done += bs {
			rows := make([]*request, bs)
			for i := range rows {
				seq++
				d := typicalDraft(seq)
				rows[i] = &request{d: d, at: time.Now().UnixNano(), rec: Record{Seq: seq, Envelope: env}}
			}
			var err error
			if args, err = j.write(rows, args); err != nil {
				t.Fatal(err)
			}
		}
		cpu, wall := cpuTime()-cpu0, time.Since(t0)
		fmt.Printf("batch %4d: cpu %5.1f us/row wall %5.1f us/row (%.0f%% cpu)\n", bs, float64(cpu.Microseconds())/float64(seq), float64(wall.Microseconds())/float64(seq), 100*cpu.Seconds()/wall.Seconds())
		_ = context.Background
	}
}
