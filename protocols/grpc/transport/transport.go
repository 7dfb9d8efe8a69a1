// Package transport is the client side of one connection to a
// protocols/grpc/server: requests are multiplexed on it by stream id with
// the wire framing, and a reader task completes them. The grpc-go model
// (clientconn) and the grpc-js model (pickfirst) both run on it.
package transport

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"

	"github.com/detsim/detsim/protocols/grpc/wire"
	"github.com/detsim/detsim/sim"
)

// ErrClosed means the request was not sent because the transport had
// already failed: the caller may pick again (gRPC's transparent retry).
var ErrClosed = errors.New("transport is closing")

// callResult completes one pending call.
type callResult struct {
	resp *wire.Response
	err  error
}

// Transport is the client side of one READY connection (grpc-go's
// http2Client, grpc-js's Http2Transport): calls are multiplexed on it by
// stream id, and the owner's reader task (running ReadLoop) completes the
// pending calls. When the connection fails every pending call fails with
// Unavailable and the owner is told.
type Transport struct {
	env  sim.Env
	addr string
	conn net.Conn
	wmu  sim.Mutex // serialises frame writes

	mu      sim.Mutex
	nextID  uint32
	pending map[uint32]sim.Chan[callResult]
	closed  bool
}

// New wraps conn, a connection to addr (used in error messages).
func New(env sim.Env, addr string, conn net.Conn) *Transport {
	return &Transport{
		env: env, addr: addr, conn: conn, wmu: env.NewMutex(), mu: env.NewMutex(),
		nextID: 1, pending: map[uint32]sim.Chan[callResult]{},
	}
}

// CtxStatus turns a context error into the RPC status gRPC reports for it.
func CtxStatus(err error, when string) error {
	code := wire.DeadlineExceeded
	if errors.Is(err, context.Canceled) {
		code = wire.Canceled
	}
	return wire.Wrap(code, err, fmt.Sprintf("context %v %s", err, when))
}

// IsClosed reports whether the transport has failed.
func (t *Transport) IsClosed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.closed
}

// Call sends one request and waits for its response, for ctx to end or for
// the transport to fail. ErrClosed means nothing was sent.
func (t *Transport) Call(ctx sim.Context, method string, req []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, CtxStatus(err, "before the request was sent")
	}
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil, ErrClosed
	}
	id := t.nextID
	t.nextID++
	ch := sim.NewChan[callResult](t.env, 1) // buffered: the reader never blocks on it
	t.pending[id] = ch
	t.mu.Unlock()

	b, err := wire.Encode(&wire.Request{StreamID: id, Method: method, Payload: req})
	if err != nil {
		t.forget(id)
		code := wire.Internal
		if errors.Is(err, wire.ErrFrameTooLarge) {
			code = wire.ResourceExhausted
		}
		return nil, wire.Wrap(code, err, err.Error())
	}
	t.wmu.Lock()
	_, err = t.conn.Write(b)
	t.wmu.Unlock()
	if err != nil {
		t.forget(id)
		t.Fail(err)
		return nil, wire.Wrap(wire.Unavailable, err, fmt.Sprintf("connection to %s failed while sending: %v", t.addr, err))
	}

	var res callResult
	if sim.Select(t.env, sim.RecvCase(ch, &res, nil), sim.RecvCase(ctx.DoneChan(), nil, nil)) == 1 {
		t.forget(id)
		return nil, CtxStatus(ctx.Err(), "while waiting for the response")
	}
	if res.err != nil {
		return nil, res.err
	}
	if res.resp.Code != wire.OK {
		return nil, &wire.Status{Code: res.resp.Code, Message: res.resp.Message}
	}
	return res.resp.Payload, nil
}

func (t *Transport) forget(id uint32) {
	t.mu.Lock()
	delete(t.pending, id)
	t.mu.Unlock()
}

// Fail marks the transport closed, fails every pending call with
// Unavailable and closes the connection (which ends the reader). Only the
// first call counts.
func (t *Transport) Fail(err error) {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return
	}
	t.closed = true
	pending := t.pending
	t.pending = nil
	t.mu.Unlock()
	st := wire.Wrap(wire.Unavailable, err, fmt.Sprintf("connection to %s closed: %v", t.addr, err))
	for _, id := range slices.Sorted(maps.Keys(pending)) {
		pending[id].TrySend(callResult{err: st}) // buffered 1: never blocks
	}
	t.conn.Close()
}

// ReadLoop is the reader task's body: it completes pending calls until the
// connection fails, then calls closed (the owner's READY -> IDLE).
func (t *Transport) ReadLoop(closed func()) {
	defer closed()
	br := bufio.NewReader(t.conn)
	for {
		f, err := wire.ReadFrame(br)
		if err != nil {
			t.Fail(err)
			return
		}
		resp, ok := f.(*wire.Response)
		if !ok {
			t.Fail(fmt.Errorf("protocol error: server sent a %v frame", f.Kind()))
			return
		}
		t.mu.Lock()
		ch, ok := t.pending[resp.StreamID]
		delete(t.pending, resp.StreamID)
		t.mu.Unlock()
		if ok {
			ch.TrySend(callResult{resp: resp})
		}
	}
}
