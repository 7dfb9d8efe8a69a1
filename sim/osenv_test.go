package sim_test

import (
	"testing"
	"time"

	"github.com/detsim/detsim/sim"
	"github.com/detsim/detsim/sim/osrt"
	"github.com/stretchr/testify/assert"
)

// TestSameProgramRunsOnAnOSEnv: the same function runs in simulation and
// on the OS runtime (sim/osrt, which has its own tests).
func TestSameProgramRunsOnAnOSEnv(t *testing.T) {
	env := osrt.New(osrt.Options{Seed: 1})
	assert.Equal(t, 40, lockedCounter(env))
	w, err := sim.New(sim.Options{Seed: 1})
	assert.NoError(t, err)
	res, err := w.Run(func() { assert.Equal(t, 40, lockedCounter(w)) })
	assert.NoError(t, err)
	assert.True(t, res.Passed())

	ch := sim.NewChan[int](env, 0)
	env.Go("sender", func() { ch.Send(7) })
	var v int
	tm := env.NewTimer(10 * time.Second)
	defer tm.Stop()
	i := sim.Select(env, sim.RecvCase(ch, &v, nil), sim.RecvCase(tm.C(), nil, nil))
	assert.Equal(t, []int{0, 7}, []int{i, v})

	ctx, cancel := env.WithCancel(env.Background())
	cancel()
	_, ok := ctx.DoneChan().Recv2()
	assert.False(t, ok, "a cancelled context's DoneChan is closed")
	assert.Equal(t, 1, sim.Select(env, sim.RecvCase(ch, nil, nil), sim.DefaultCase()))
}

// lockedCounter is correct concurrent code written against sim.Env: four
// tasks add to a counter under a Mutex, and results are collected over a
// Chan.
func lockedCounter(env sim.Env) int {
	mu := env.NewMutex()
	counter := 0
	done := sim.NewChan[bool](env, 4)
	for i := 0; i < 4; i++ {
		env.Go("adder", func() {
			for j := 0; j < 10; j++ {
				mu.Lock()
				counter++
				mu.Unlock()
				env.Yield()
			}
			done.Send(true)
		})
	}
	for i := 0; i < 4; i++ {
		done.Recv()
	}
	mu.Lock()
	defer mu.Unlock()
	return counter
}
