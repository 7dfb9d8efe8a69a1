package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const sample = `goos: linux
BenchmarkSwitch/ref=iter.Pull-round-trip-2         	19951137	        60.00 ns/op	       0 B/op	       0 allocs/op
BenchmarkSwitch/sim=Yield-two-tasks-alternating-2  	11108445	       120.0 ns/op	       0 B/op	       0 allocs/op
BenchmarkScenario/priority/fixed-2         	     300	    852171 ns/op	      1173 seeds/s	      4088 steps/seed	  263612 B/op	    5144 allocs/op
PASS
`

func TestTableWithRatios(t *testing.T) {
	rs, err := parse(strings.NewReader(sample))
	require.NoError(t, err)
	require.Len(t, rs, 3)
	assert.Equal(t, "Switch/sim=Yield-two-tasks-alternating", rs[1].name)
	v, ok := rs[2].get("seeds/s")
	assert.True(t, ok)
	assert.Equal(t, 1173.0, v)
	var b strings.Builder
	table(&b, "t", rs)
	out := b.String()
	assert.Contains(t, out, "| benchmark | ns/op | B/op | allocs/op | seeds/s | steps/seed | vs reference |")
	assert.Contains(t, out, "| Switch/sim=Yield-two-tasks-alternating | 120 | 0.00 | 0.00 |  |  | 2.00x iter.Pull-round-trip |")
	assert.Contains(t, out, "| Scenario/priority/fixed | 852171 | 263612 | 5144 | 1173 | 4088 |  |")
}

func TestBadValue(t *testing.T) {
	_, err := parse(strings.NewReader("BenchmarkX-2 10 abc ns/op\n"))
	assert.ErrorContains(t, err, `value "abc"`)
}
