package pickfirst

import (
	"fmt"
	"time"

	"github.com/detsim/detsim/sim"
)

// BackoffConfig is gRPC connection backoff (grpc doc/connection-backoff.md):
// the first attempt waits InitialBackoff, each later one Multiplier times the
// previous nominal delay, capped at MaxBackoff, randomised by ±Jitter of
// itself. A connection attempt gets at least MinConnectTimeout to complete.
type BackoffConfig struct {
	InitialBackoff    time.Duration // 1s
	Multiplier        float64       // 1.6
	Jitter            float64       // 0.2
	MaxBackoff        time.Duration // 120s
	MinConnectTimeout time.Duration // 20s
}

// DefaultBackoff is the spec's (and grpc-js's) default: 1s initial backoff,
// 1.6 multiplier, 0.2 jitter, 120s maximum, 20s minimum connect timeout.
var DefaultBackoff = BackoffConfig{
	InitialBackoff:    time.Second,
	Multiplier:        1.6,
	Jitter:            0.2,
	MaxBackoff:        120 * time.Second,
	MinConnectTimeout: 20 * time.Second,
}

// Validate reports the first invalid field, by name. The comparisons are
// written so that NaN is rejected too.
func (b BackoffConfig) Validate() error {
	switch {
	case b.InitialBackoff <= 0:
		return fmt.Errorf("pickfirst: Backoff.InitialBackoff = %v: must be > 0", b.InitialBackoff)
	case !(b.Multiplier >= 1):
		return fmt.Errorf("pickfirst: Backoff.Multiplier = %v: must be >= 1", b.Multiplier)
	case !(b.Jitter >= 0 && b.Jitter <= 1):
		return fmt.Errorf("pickfirst: Backoff.Jitter = %v: must be in [0, 1]", b.Jitter)
	case b.MaxBackoff < b.InitialBackoff:
		return fmt.Errorf("pickfirst: Backoff.MaxBackoff = %v: must be >= InitialBackoff (%v)", b.MaxBackoff, b.InitialBackoff)
	case b.MinConnectTimeout <= 0:
		return fmt.Errorf("pickfirst: Backoff.MinConnectTimeout = %v: must be > 0", b.MinConnectTimeout)
	}
	return nil
}

// orDefault returns DefaultBackoff for the zero value, b otherwise.
func (b BackoffConfig) orDefault() BackoffConfig {
	if b == (BackoffConfig{}) {
		return DefaultBackoff
	}
	return b
}

// Backoff is grpc-js's BackoffTimeout (backoff-timeout.ts): RunOnce
// schedules fn after the current delay and draws the next one; Stop cancels
// the timer; Reset returns to InitialBackoff.
//
// Delays follow the spec's algorithm: the first is InitialBackoff, and each
// next one is nominal*(1 + Jitter*u), u uniform in [-1, 1), where nominal =
// min(previous nominal*Multiplier, MaxBackoff). grpc-js instead multiplies
// the previous *jittered* delay, so its jitter compounds; the spec's form is
// kept here because it is the one whose bounds the properties check
// ([1-Jitter, 1+Jitter] times the nominal delay).
//
// A Backoff is safe for use by several tasks. fn runs in the timer's own
// task (an AfterFunc task) without the Backoff's lock held, after the
// Backoff has stopped reporting the timer as running (later grpc-js; 1.10
// cleared the flag after the callback returned, so a RunOnce from inside the
// callback was reported as not running).
type Backoff struct {
	env sim.Env
	cfg BackoffConfig
	rnd *sim.Rand
	fn  func()

	mu      sim.Mutex
	nominal float64       // un-jittered delay behind next, in nanoseconds
	next    time.Duration // the delay the next RunOnce uses
	cur     time.Duration // the delay of the running timer
	runs    int           // RunOnce calls since the last Reset
	running bool
	start   time.Time // when the running timer was started by RunOnce
	end     time.Time // when the running timer fires
	timer   sim.Timer
	gen     uint64 // bumped whenever the timer is replaced or stopped
}

// NewBackoff returns a stopped Backoff that calls fn when a timer fires. The
// zero BackoffConfig means DefaultBackoff; any other invalid configuration
// panics (check it with Validate first). Jitter is drawn from rnd.
func NewBackoff(env sim.Env, cfg BackoffConfig, rnd *sim.Rand, fn func()) *Backoff {
	cfg = cfg.orDefault()
	if err := cfg.Validate(); err != nil {
		panic(fmt.Sprintf("pickfirst: NewBackoff: %v", err))
	}
	if rnd == nil || fn == nil {
		panic("pickfirst: NewBackoff: rnd and fn must not be nil")
	}
	b := &Backoff{env: env, cfg: cfg, rnd: rnd, fn: fn, mu: env.NewMutex()}
	b.resetDelayLocked()
	return b
}

func (b *Backoff) resetDelayLocked() {
	b.nominal = float64(b.cfg.InitialBackoff)
	b.next = b.cfg.InitialBackoff
	b.runs = 0
}

// RunOnce starts a timer for the current delay (replacing a running one, as
// grpc-js's clearTimeout does) and draws the delay of the next RunOnce.
func (b *Backoff) RunOnce() {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.env.Now()
	b.start = now
	b.cur = b.next
	b.runs++
	b.runTimerLocked(now, b.cur)

	// Every product is converted explicitly so that no architecture fuses
	// it into an FMA: the delays are the same everywhere.
	nominal := float64(b.nominal * b.cfg.Multiplier)
	if maxB := float64(b.cfg.MaxBackoff); nominal > maxB {
		nominal = maxB
	}
	b.nominal = nominal
	magnitude := float64(nominal * b.cfg.Jitter)
	u := float64(b.rnd.Float64()*2) - 1 // uniform in [-1, 1)
	d := nominal + float64(magnitude*u)
	if d < 0 {
		d = 0
	}
	b.next = time.Duration(d)
}

// runTimerLocked (re)arms the timer to fire d after now.
func (b *Backoff) runTimerLocked(now time.Time, d time.Duration) {
	if b.timer != nil {
		b.timer.Stop()
	}
	b.gen++
	gen := b.gen
	b.running = true
	b.end = now.Add(d)
	b.timer = b.env.AfterFunc(d, func() { b.fire(gen) })
}

// fire runs in the timer's task. A timer that was stopped or replaced after
// its task was started (Stop cannot recall it then) is ignored.
func (b *Backoff) fire(gen uint64) {
	b.mu.Lock()
	if gen != b.gen || !b.running {
		b.mu.Unlock()
		return
	}
	b.running = false
	b.timer = nil
	b.mu.Unlock()
	b.fn()
}

// Stop cancels the running timer, if any: fn is not called until the next
// RunOnce. The next delay is kept.
func (b *Backoff) Stop() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.stopLocked()
}

func (b *Backoff) stopLocked() {
	if b.timer != nil {
		b.timer.Stop()
		b.timer = nil
	}
	b.gen++
	b.running = false
}

// Reset returns the delay to InitialBackoff. As in grpc-js, the reset also
// applies to a running timer: it is rescheduled to fire InitialBackoff after
// the RunOnce that started it, or, if that moment has passed, stopped
// without calling fn.
func (b *Backoff) Reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.resetDelayLocked()
	if !b.running {
		return
	}
	now := b.env.Now()
	end := b.start.Add(b.cfg.InitialBackoff)
	if now.Before(end) {
		b.cur = b.cfg.InitialBackoff
		b.runTimerLocked(now, end.Sub(now))
		b.end = end
		return
	}
	b.stopLocked()
}

// IsRunning reports whether a timer is pending.
func (b *Backoff) IsRunning() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.running
}

// Delay is the delay of the running timer, or, when none is running, the
// delay the next RunOnce will use.
func (b *Backoff) Delay() time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.running {
		return b.cur
	}
	return b.next
}

// Deadline is when the running timer fires, or the zero time if none is
// running.
func (b *Backoff) Deadline() time.Time {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.running {
		return time.Time{}
	}
	return b.end
}

// attempt is the number of RunOnce calls since the last Reset, minus one:
// the 0-based index of the running (or last) timer in the backoff sequence.
func (b *Backoff) attempt() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.runs - 1
}
