package clientconn

import (
	"errors"
	"fmt"

	"github.com/detsim/detsim/protocols/grpc/balancer"
	"github.com/detsim/detsim/protocols/grpc/transport"
	"github.com/detsim/detsim/protocols/grpc/wire"
	"github.com/detsim/detsim/sim"
)

// ErrClientConnClosing is returned by RPCs and calls on a closed ClientConn.
var ErrClientConnClosing error = &wire.Status{Code: wire.Canceled, Message: "grpc: the client connection is closing"}

// pickerWrapper holds the balancer's current picker; blocked picks wait
// for the next one (grpc-go's pickerWrapper).
type pickerWrapper struct {
	env      sim.Env
	mu       sim.Mutex
	picker   balancer.Picker
	gen      int
	blocking sim.Chan[struct{}] // closed (and replaced) by every update
	closed   bool
}

func newPickerWrapper(env sim.Env) *pickerWrapper {
	return &pickerWrapper{env: env, mu: env.NewMutex(), blocking: sim.NewChan[struct{}](env, 0)}
}

func (pw *pickerWrapper) update(p balancer.Picker) {
	if p == nil {
		p = balancer.ErrPicker{Err: balancer.ErrNoSubConnAvailable}
	}
	pw.mu.Lock()
	defer pw.mu.Unlock()
	if pw.closed {
		return
	}
	pw.picker = p
	pw.gen++
	pw.blocking.Close()
	pw.blocking = sim.NewChan[struct{}](pw.env, 0)
}

func (pw *pickerWrapper) close() {
	pw.mu.Lock()
	defer pw.mu.Unlock()
	if pw.closed {
		return
	}
	pw.closed = true
	pw.blocking.Close()
}

// pick returns a READY transport and the pick's Done. ErrNoSubConnAvailable,
// a picked SubConn that is not READY and (unless failFast) picker errors
// make it wait for the next picker; *lastGen carries the generation of the
// last picker tried across calls, so a retry waits for a new one.
func (pw *pickerWrapper) pick(ctx sim.Context, failFast bool, info balancer.PickInfo, lastGen *int) (*transport.Transport, func(balancer.DoneInfo), error) {
	var lastErr error
	for {
		if err := ctx.Err(); err != nil {
			when := "while waiting for a connection to become ready"
			if lastErr != nil {
				when += fmt.Sprintf(" (last pick error: %v)", lastErr)
			}
			return nil, nil, transport.CtxStatus(err, when)
		}
		pw.mu.Lock()
		if pw.closed {
			pw.mu.Unlock()
			return nil, nil, ErrClientConnClosing
		}
		if pw.picker == nil || pw.gen == *lastGen {
			ch := pw.blocking
			pw.mu.Unlock()
			sim.Select(pw.env, sim.RecvCase(ch, nil, nil), sim.RecvCase(ctx.DoneChan(), nil, nil))
			continue
		}
		p := pw.picker
		*lastGen = pw.gen
		pw.mu.Unlock()

		res, err := p.Pick(info)
		if err != nil {
			if errors.Is(err, balancer.ErrNoSubConnAvailable) {
				continue
			}
			if failFast {
				if _, ok := wire.FromError(err); ok {
					return nil, nil, err
				}
				return nil, nil, wire.Wrap(wire.Unavailable, err, err.Error())
			}
			lastErr = err
			continue
		}
		sc := unwrapSubConn(res.SubConn)
		if sc == nil {
			if res.Done != nil {
				res.Done(balancer.DoneInfo{})
			}
			return nil, nil, wire.Errorf(wire.Internal, "picker returned %T, not a SubConn of this channel", res.SubConn)
		}
		if t := sc.readyTransport(); t != nil {
			return t, res.Done, nil
		}
		// Not READY any more: a new picker is on its way.
		if res.Done != nil {
			res.Done(balancer.DoneInfo{})
		}
	}
}

// Unwrapper is implemented by SubConn wrappers (of balancers that wrap the
// SubConns of their children) that do not unwrap them in their picker.
type Unwrapper interface {
	Unwrap() balancer.SubConn
}

func unwrapSubConn(s balancer.SubConn) *subConn {
	for i := 0; i < 16 && s != nil; i++ {
		switch x := s.(type) {
		case *subConn:
			return x
		case Unwrapper:
			s = x.Unwrap()
		default:
			return nil
		}
	}
	return nil
}
