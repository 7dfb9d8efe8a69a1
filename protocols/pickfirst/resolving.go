package pickfirst

import (
	"github.com/detsim/detsim/protocols/grpc/connectivity"
)

// resolvingLB is grpc-js's ResolvingLoadBalancer: it owns the resolver and
// the child policy (pick_first), re-resolves with backoff, and wraps an
// IDLE child's picker in a QueuePicker that targets itself, so the first
// RPC while IDLE re-resolves as well as reconnecting. Every method runs on
// the channel's serializer.
type resolvingLB struct {
	ch       *Channel
	resolver *Resolver
	child    *PickFirst
	cfg      Config

	state             connectivity.State
	latestChildState  connectivity.State
	latestChildPicker Picker
	backoff           *Backoff
	continueResolving bool
	destroyed         bool
}

func newResolvingLB(ch *Channel, cfg Config, bo BackoffConfig) *resolvingLB {
	r := &resolvingLB{ch: ch, cfg: cfg, latestChildState: connectivity.Idle}
	r.latestChildPicker = NewQueuePicker(ch.Schedule, r, nil)
	r.backoff = NewBackoff(ch.env, bo, ch.env.Rand("pickfirst/resolving-backoff"), func() {
		ch.Schedule(r.onBackoffEnd)
	})
	r.child = NewPickFirst(childHelper{r}, ch.opts.Variant)
	r.updateState(connectivity.Idle, r.latestChildPicker)
	return r
}

func (r *resolvingLB) onBackoffEnd() {
	if r.destroyed {
		return
	}
	if r.continueResolving {
		r.updateResolution()
		r.continueResolving = false
	} else {
		r.updateState(r.latestChildState, r.latestChildPicker)
	}
}

func (r *resolvingLB) updateResolution() {
	r.resolver.UpdateResolution()
	r.ch.resolutionsRequested++
	if r.state == connectivity.Idle {
		r.updateState(connectivity.Connecting, r.latestChildPicker)
	}
	r.backoff.RunOnce()
}

// ExitIdle re-resolves if the channel is IDLE or in TRANSIENT_FAILURE and
// always forwards to the child.
func (r *resolvingLB) ExitIdle() {
	if r.destroyed {
		return
	}
	if r.state == connectivity.Idle || r.state == connectivity.TransientFailure {
		r.observeRequest(ResolveExitIdle)
		if r.backoff.IsRunning() {
			r.continueResolving = true
		} else {
			r.updateResolution()
		}
	}
	r.child.ExitIdle()
}

func (r *resolvingLB) requestReresolution() {
	r.observeRequest(ResolveChildRequest)
	if r.backoff.IsRunning() {
		r.continueResolving = true
	} else {
		r.updateResolution()
	}
}

func (r *resolvingLB) observeRequest(c ResolveCause) {
	if f := r.ch.opts.OnResolveRequest; f != nil {
		f(c)
	}
}

func (r *resolvingLB) childUpdateState(s connectivity.State, p Picker) {
	r.latestChildState, r.latestChildPicker = s, p
	r.updateState(s, p)
}

func (r *resolvingLB) updateState(s connectivity.State, p Picker) {
	if s == connectivity.Idle {
		// Make the next pick call this ExitIdle (and so re-resolve).
		p = NewQueuePicker(r.ch.Schedule, r, p)
	}
	r.state = s
	r.ch.updateState(s, p)
}

func (r *resolvingLB) onResolved(addrs []string) {
	if r.destroyed {
		return
	}
	r.backoff.Stop()
	r.backoff.Reset()
	if f := r.ch.opts.OnResolved; f != nil {
		f(addrs)
	}
	r.child.UpdateAddressList(addrs, r.cfg)
}

func (r *resolvingLB) onResolveError(err error) {
	if r.destroyed {
		return
	}
	if r.latestChildState == connectivity.Idle {
		r.updateState(connectivity.TransientFailure, UnavailablePicker{Err: err})
	}
}

func (r *resolvingLB) destroy() {
	r.destroyed = true
	r.child.Destroy()
	r.backoff.Stop()
	r.resolver.Destroy()
}

// resolverListener hops resolver callbacks onto the serializer.
type resolverListener struct{ r *resolvingLB }

func (l resolverListener) OnResolved(addrs []string) {
	addrs = append([]string(nil), addrs...)
	l.r.ch.Schedule(func() { l.r.onResolved(addrs) })
}

func (l resolverListener) OnResolveError(err error) {
	l.r.ch.Schedule(func() { l.r.onResolveError(err) })
}
