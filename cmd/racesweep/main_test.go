package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestSweepFindsAndReplays(t *testing.T) {
	var out, errb bytes.Buffer
	code := run([]string{"-seeds", "50"}, &out, &errb)
	assert.Equal(t, 1, code, "a failure was found")
	assert.Contains(t, out.String(), "first failing seed 6: no-lost-update")
	assert.Contains(t, out.String(), "same as the sweep: true")
	assert.Contains(t, out.String(), "replay: go run ./cmd/racesweep -program lost-update -strategy random -seed 6")

	out.Reset()
	assert.Equal(t, 1, run([]string{"-seed", "6", "-trace"}, &out, &errb))
	assert.Contains(t, out.String(), "violation")
	assert.Contains(t, out.String(), `run     task 1 "main"`)

	out.Reset()
	assert.Equal(t, 0, run([]string{"-strategy", "fifo", "-seeds", "5"}, &out, &errb))
}

func TestBadInput(t *testing.T) {
	for _, args := range [][]string{
		{"-program", "nope"}, {"-strategy", "pct:0"}, {"-seeds", "0"}, {"-bogus"}, {"extra"},
	} {
		var out, errb bytes.Buffer
		assert.Equal(t, 2, run(args, &out, &errb), args)
		msg := errb.String()
		assert.True(t, strings.HasPrefix(msg, "racesweep: "), msg)
		assert.Equal(t, 1, strings.Count(msg, "\n"), "one-line reason for %v: %q", args, msg)
	}
	var out, errb bytes.Buffer
	assert.Equal(t, 0, run([]string{"-h"}, &out, &errb))
	assert.Contains(t, errb.String(), "depth-three")
}
