package netmodel

import (
	"testing"
	"time"

	"pgregory.net/rapid"
)

// fifo behaves as a slice queue under any sequence of pushes and pops, and
// keeps its array once drained.
func TestFifoMatchesASliceQueue(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var q fifo[int]
		var model []int
		next := 0
		for range rapid.IntRange(0, 200).Draw(t, "ops") {
			if len(model) > 0 && rapid.Bool().Draw(t, "pop") {
				if got := q.pop(); got != model[0] {
					t.Fatalf("pop = %d, want %d", got, model[0])
				}
				model = model[1:]
			} else {
				q.push(next)
				model = append(model, next)
				next++
			}
			if q.len() != len(model) {
				t.Fatalf("len = %d, want %d", q.len(), len(model))
			}
			for i, v := range model {
				if *q.at(i) != v {
					t.Fatalf("at(%d) = %d, want %d", i, *q.at(i), v)
				}
			}
		}
	})
	var q fifo[int]
	q.push(1)
	q.pop()
	allocs := testing.AllocsPerRun(100, func() { q.push(1); q.pop() })
	if allocs != 0 {
		t.Fatalf("a drained fifo allocates %v times per push+pop", allocs)
	}
}

// compactHist gives the Histogram that Histogram.Add gives, for any
// durations in any order.
func TestCompactHistMatchesHistogram(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var c compactHist
		var h Histogram
		for _, d := range rapid.SliceOf(rapid.Int64Range(-5, 1<<62)).Draw(t, "durations") {
			c.Add(time.Duration(d))
			h.Add(time.Duration(d))
		}
		if got := c.histogram(); got != h {
			t.Fatalf("compact %+v, want %+v", got, h)
		}
	})
}
