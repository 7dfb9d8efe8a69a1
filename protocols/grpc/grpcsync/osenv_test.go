package grpcsync_test

// osEnv is a minimal sim.Env over goroutines, package sync and the real
// clock, so the helpers can be checked on an OS runtime (and under -race).
// It is test code, hence the allow directives.

import (
	"context"
	"log/slog"
	"runtime"
	"sync"
	"time"

	"github.com/detsim/detsim/sim"
)

type osEnv struct{}

var _ sim.Env = osEnv{}

func (osEnv) Now() time.Time                  { return time.Now() }    //detsim:allow OS runtime for tests
func (osEnv) Since(t time.Time) time.Duration { return time.Since(t) } //detsim:allow OS runtime for tests
func (osEnv) Until(t time.Time) time.Duration { return time.Until(t) } //detsim:allow OS runtime for tests
func (osEnv) Sleep(d time.Duration)           { time.Sleep(d) }        //detsim:allow OS runtime for tests
func (osEnv) Go(name string, fn func())       { go fn() }              //detsim:allow OS runtime for tests
func (osEnv) Yield()                          { runtime.Gosched() }
func (osEnv) NewMutex() sim.Mutex             { return &sync.Mutex{} }     //detsim:allow OS runtime for tests
func (osEnv) NewRWMutex() sim.RWMutex         { return &sync.RWMutex{} }   //detsim:allow OS runtime for tests
func (osEnv) NewCond(l sync.Locker) sim.Cond  { return sync.NewCond(l) }   //detsim:allow OS runtime for tests
func (osEnv) NewWaitGroup() sim.WaitGroup     { return &sync.WaitGroup{} } //detsim:allow OS runtime for tests
func (osEnv) NewOnce() sim.Once               { return &sync.Once{} }      //detsim:allow OS runtime for tests
func (osEnv) Rand(name string) *sim.Rand      { return sim.NewRand(uint64(len(name))) }
func (osEnv) Logger() *slog.Logger            { return slog.Default() }
func (osEnv) Sim() *sim.World                 { return nil }
func (osEnv) NewTimer(d time.Duration) sim.Timer {
	return osTimer{time.NewTimer(d)} //detsim:allow OS runtime for tests
}
func (osEnv) AfterFunc(d time.Duration, f func()) sim.Timer {
	return osTimer{time.AfterFunc(d, f)} //detsim:allow OS runtime for tests
}
func (osEnv) NewTicker(d time.Duration) sim.Ticker { panic("not needed") }
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

type osCtx struct{ context.Context }

func (c osCtx) DoneChan() sim.Chan[struct{}] { return sim.NativeRecvChan(c.Done()) }
