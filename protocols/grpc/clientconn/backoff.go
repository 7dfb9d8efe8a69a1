package clientconn

import (
	"fmt"
	"time"

	"github.com/detsim/detsim/sim"
)

// BackoffConfig is gRPC's connection backoff (connection-backoff.md): the
// n-th consecutive failed attempt waits min(BaseDelay*Multiplier^n,
// MaxDelay), randomised by ±Jitter. As in grpc-go's backoff.Exponential,
// a MaxDelay below BaseDelay caps every retry after the first: grpc-go's
// tests set only BaseDelay (MaxDelay 0) to retry at once after the first
// failure.
type BackoffConfig struct {
	BaseDelay  time.Duration
	Multiplier float64
	Jitter     float64
	MaxDelay   time.Duration
}

// DefaultBackoffConfig is gRPC's default: 1s base, 1.6 multiplier, 0.2
// jitter, 120s maximum.
var DefaultBackoffConfig = BackoffConfig{
	BaseDelay:  time.Second,
	Multiplier: 1.6,
	Jitter:     0.2,
	MaxDelay:   120 * time.Second,
}

func (b BackoffConfig) validate() error {
	switch {
	case b.BaseDelay <= 0:
		return fmt.Errorf("Options.Backoff.BaseDelay = %v: must be > 0", b.BaseDelay)
	case b.MaxDelay > b.BaseDelay && !(b.Multiplier >= 1):
		return fmt.Errorf("Options.Backoff.Multiplier = %v: must be >= 1 when MaxDelay (%v) exceeds BaseDelay", b.Multiplier, b.MaxDelay)
	case !(b.Jitter >= 0 && b.Jitter <= 1):
		return fmt.Errorf("Options.Backoff.Jitter = %v: must be in [0, 1]", b.Jitter)
	case b.MaxDelay < 0:
		return fmt.Errorf("Options.Backoff.MaxDelay = %v: must be >= 0", b.MaxDelay)
	}
	return nil
}

// delay is the wait after retries consecutive failures (grpc-go's
// backoff.Exponential). Every product is converted explicitly so that no
// architecture fuses it into an FMA: the result is the same everywhere.
func (b BackoffConfig) delay(retries int, rnd *sim.Rand) time.Duration {
	if retries == 0 {
		return b.BaseDelay
	}
	backoff, maxDelay := float64(b.BaseDelay), float64(b.MaxDelay)
	for backoff < maxDelay && retries > 0 {
		backoff = float64(backoff * b.Multiplier)
		retries--
	}
	if backoff > maxDelay {
		backoff = maxDelay
	}
	r := float64(rnd.Float64() * 2)
	backoff = float64(backoff * float64(1+float64(b.Jitter*float64(r-1))))
	if backoff < 0 {
		return 0
	}
	return time.Duration(backoff)
}
