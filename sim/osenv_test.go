package sim_test

import (
	"context"
	"log/slog"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/detsim/detsim/sim"
	"github.com/stretchr/testify/assert"
)

// osEnv implements sim.Env over goroutines, the real clock and package
// sync, from outside package sim. It exists to prove the interface can be
// implemented by an OS runtime without changing protocol code; the real one
// (with sockets) is sim/osrt's job.
type osEnv struct{}

var _ sim.Env = osEnv{}

func (osEnv) Now() time.Time                     { return time.Now() }
func (osEnv) Since(t time.Time) time.Duration    { return time.Since(t) }
func (osEnv) Until(t time.Time) time.Duration    { return time.Until(t) }
func (osEnv) Sleep(d time.Duration)              { time.Sleep(d) }
func (osEnv) Go(name string, fn func())          { go fn() }
func (osEnv) Yield()                             { runtime.Gosched() }
func (osEnv) NewMutex() sim.Mutex                { return &sync.Mutex{} }
func (osEnv) NewRWMutex() sim.RWMutex            { return &sync.RWMutex{} }
func (osEnv) NewCond(l sync.Locker) sim.Cond     { return sync.NewCond(l) }
func (osEnv) NewWaitGroup() sim.WaitGroup        { return &sync.WaitGroup{} }
func (osEnv) NewOnce() sim.Once                  { return &sync.Once{} }
func (osEnv) Rand(name string) *sim.Rand         { return sim.NewRand(uint64(time.Now().UnixNano())) }
func (osEnv) Logger() *slog.Logger               { return slog.Default() }
func (osEnv) Sim() *sim.World                    { return nil }
func (osEnv) NewTimer(d time.Duration) sim.Timer { return osTimer{time.NewTimer(d)} }
func (osEnv) AfterFunc(d time.Duration, f func()) sim.Timer {
	return osTimer{time.AfterFunc(d, f)}
}
func (osEnv) NewTicker(d time.Duration) sim.Ticker { return osTicker{time.NewTicker(d)} }
func (osEnv) Background() sim.Context              { return osCtx{context.Background()} }
func (osEnv) WithCancel(p sim.Context) (sim.Context, context.CancelFunc) {
	c, cancel := context.WithCancel(p)
	return osCtx{c}, cancel
}
func (osEnv) WithDeadline(p sim.Context, d time.Time) (sim.Context, context.CancelFunc) {
	c, cancel := context.WithDeadline(p, d)
	return osCtx{c}, cancel
}
func (osEnv) WithTimeout(p sim.Context, d time.Duration) (sim.Context, context.CancelFunc) {
	c, cancel := context.WithTimeout(p, d)
	return osCtx{c}, cancel
}

type osTimer struct{ t *time.Timer }

func (o osTimer) C() sim.Chan[time.Time] {
	if o.t.C == nil {
		return nil
	}
	return sim.NativeRecvChan(o.t.C)
}
func (o osTimer) Stop() bool                 { return o.t.Stop() }
func (o osTimer) Reset(d time.Duration) bool { return o.t.Reset(d) }

type osTicker struct{ t *time.Ticker }

func (o osTicker) C() sim.Chan[time.Time] { return sim.NativeRecvChan(o.t.C) }
func (o osTicker) Stop()                  { o.t.Stop() }
func (o osTicker) Reset(d time.Duration)  { o.t.Reset(d) }

type osCtx struct{ context.Context }

func (c osCtx) DoneChan() sim.Chan[struct{}] { return sim.NativeRecvChan(c.Done()) }

func TestSameProgramRunsOnAnOSEnv(t *testing.T) {
	// The same function runs in simulation and on the OS env.
	assert.Equal(t, 40, lockedCounter(osEnv{}))
	w, err := sim.New(sim.Options{Seed: 1})
	assert.NoError(t, err)
	res, err := w.Run(func() { assert.Equal(t, 40, lockedCounter(w)) })
	assert.NoError(t, err)
	assert.True(t, res.Passed())

	env := osEnv{}

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
