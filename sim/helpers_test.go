package sim_test

import (
	"testing"

	"github.com/detsim/detsim/sim"
	"github.com/stretchr/testify/require"
)

// run runs main in a fresh World and returns the result.
func run(t testing.TB, opts sim.Options, main func(w *sim.World)) sim.Result {
	t.Helper()
	w, err := sim.New(opts)
	require.NoError(t, err)
	res, err := w.Run(func() { main(w) })
	require.NoError(t, err)
	return res
}

// mustPass runs main and fails the test if the run failed.
func mustPass(t testing.TB, opts sim.Options, main func(w *sim.World)) sim.Result {
	t.Helper()
	res := run(t, opts, main)
	if res.Failure != nil {
		t.Fatalf("run failed: %v\n%s", res.Failure, res.Failure.Stack)
	}
	return res
}
