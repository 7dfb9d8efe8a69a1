package grpcsync

import (
	"context"
	"errors"

	"github.com/detsim/detsim/sim"
)

// ErrSerializerClosed is returned by ScheduleAndWait once the serializer no
// longer accepts callbacks.
var ErrSerializerClosed = errors.New("grpcsync: callback serializer is closed")

// CallbackSerializer runs scheduled callbacks one at a time, in the order
// they were scheduled, on a task of its own named "<name>/CallbackSerializer.run"
// (grpc-go's grpcsync.CallbackSerializer).
//
// Shutdown follows grpc-go: once the serializer's context is cancelled
// (Close, or the parent context given to NewCallbackSerializer), no new
// callback is accepted; callbacks already accepted still run, in order, with
// the cancelled context (they should check ctx.Err() and return early), and
// then the task exits and Done is closed.
type CallbackSerializer struct {
	env       sim.Env
	ctx       sim.Context
	cancel    context.CancelFunc
	callbacks *Unbounded[func(sim.Context)]
	done      sim.Chan[struct{}]
}

// NewCallbackSerializer starts a serializer whose callbacks receive a child
// of parent (nil means env.Background()); cancelling parent shuts it down as
// Close does. The task is started with env.Go, so on a netmodel host it
// belongs to the host.
func NewCallbackSerializer(env sim.Env, parent sim.Context, name string) *CallbackSerializer {
	if parent == nil {
		parent = env.Background()
	}
	ctx, cancel := env.WithCancel(parent)
	cs := &CallbackSerializer{
		env:       env,
		ctx:       ctx,
		cancel:    cancel,
		callbacks: NewUnbounded[func(sim.Context)](env),
		done:      sim.NewChan[struct{}](env, 0),
	}
	env.Go(name+"/CallbackSerializer.run", cs.run)
	return cs
}

// TrySchedule queues f; it reports false (and drops f) once the serializer
// is closed or its context cancelled.
func (cs *CallbackSerializer) TrySchedule(f func(ctx sim.Context)) bool {
	if cs.ctx.Err() != nil {
		return false
	}
	return cs.callbacks.Put(f) == nil
}

// ScheduleOr queues f, or calls onFailure inline if the serializer is
// closed.
func (cs *CallbackSerializer) ScheduleOr(f func(ctx sim.Context), onFailure func()) {
	if !cs.TrySchedule(f) {
		onFailure()
	}
}

// ScheduleAndWait queues f and blocks until it has run, or returns
// ErrSerializerClosed if it could not be queued. It must not be called from
// a callback of the same serializer (that would wait for itself).
func (cs *CallbackSerializer) ScheduleAndWait(f func(ctx sim.Context)) error {
	ran := sim.NewChan[struct{}](cs.env, 0)
	if !cs.TrySchedule(func(ctx sim.Context) {
		defer ran.Close()
		f(ctx)
	}) {
		return ErrSerializerClosed
	}
	ran.Recv()
	return nil
}

// Close stops accepting callbacks and cancels the context the callbacks
// see; the ones already queued still run, then the task exits. Close does
// not wait: receive from Done for that (not from inside a callback).
func (cs *CallbackSerializer) Close() {
	cs.cancel()
	cs.callbacks.Close()
}

// Done is closed when the serializer's task has exited.
func (cs *CallbackSerializer) Done() sim.Chan[struct{}] { return cs.done }

func (cs *CallbackSerializer) run() {
	defer cs.done.Close()
	ctxDone := cs.ctx.DoneChan()
	get := cs.callbacks.Get()
	for {
		var cb func(sim.Context)
		var ok bool
		if ctxDone != nil {
			if sim.Select(cs.env, sim.RecvCase(get, &cb, &ok), sim.RecvCase(ctxDone, nil, nil)) == 1 {
				// No new callbacks; drain those already accepted.
				cs.callbacks.Close()
				ctxDone = nil
				continue
			}
		} else {
			cb, ok = get.Recv2()
		}
		if !ok {
			return
		}
		cs.callbacks.Load()
		cb(cs.ctx)
	}
}
