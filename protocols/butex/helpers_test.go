package butex_test

import (
	"testing"
	"time"

	"github.com/detsim/detsim/protocols/butex"
	"github.com/detsim/detsim/sim"
	"github.com/stretchr/testify/require"
)

// env is what a test body gets: the World, the runtime and the main task's
// Pthread handle.
type env struct {
	w    *sim.World
	rt   *butex.Runtime
	main *butex.Pthread
}

// runWorld runs body as the main task of a World (seed, leak check on)
// with a runtime built from opts; the runtime is stopped and its workers
// joined when body returns. It returns the run's result; callers assert on
// it (pass, or the failure they expect).
func runWorld(t *testing.T, seed uint64, opts butex.Options, body func(e env)) sim.Result {
	t.Helper()
	w, err := sim.New(sim.Options{Seed: seed, CheckLeaks: true, MaxTime: time.Hour})
	require.NoError(t, err)
	res, err := w.Run(func() {
		rt, err := butex.New(w, opts)
		if err != nil {
			panic(err)
		}
		body(env{w: w, rt: rt, main: rt.NewPthread("main")})
		rt.Stop()
		rt.WaitWorkers()
	})
	require.NoError(t, err)
	return res
}

// mustPass runs body and requires the run to pass.
func mustPass(t *testing.T, seed uint64, opts butex.Options, body func(e env)) sim.Result {
	t.Helper()
	res := runWorld(t, seed, opts, body)
	require.Nil(t, res.Failure, "seed %d: %v", seed, res.Failure)
	return res
}

// options returns the default options with the given workers per tag.
func options(v butex.Variant, workers ...int) butex.Options {
	o := butex.DefaultOptions()
	o.Variant = v
	o.Workers = workers
	return o
}

// start starts a bthread from the main pthread and panics on error.
func (e env) start(tag butex.Tag, name string, fn func(bt *butex.Bthread)) *butex.Bthread {
	bt, err := e.rt.Start(e.main, tag, name, fn)
	if err != nil {
		panic(err)
	}
	return bt
}

// join joins bthreads from the main pthread, with a generous timeout.
func (e env) join(bts ...*butex.Bthread) {
	for _, bt := range bts {
		if err := e.rt.Join(e.main, bt, time.Minute); err != nil {
			panic(err)
		}
	}
}
