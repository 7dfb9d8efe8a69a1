// Package server is the server side of the simulated gRPC stack: it accepts
// stream connections, reads request frames (package wire) and answers each
// with a response frame. By default every RPC succeeds with the server's
// name as the response payload, so a client can tell which backend served
// it.
//
// Tasks (started with env.Go, so on a netmodel host they belong to the host
// and die with it):
//
//	"<name>/server.accept"   one per Serve call: the accept loop
//	"<name>/server.conn"     one per connection: reads request frames
//	"<name>/server.handler"  one per RPC: runs the handler, writes the response
//	"<name>/server.maxage"   one per connection with WithMaxConnectionAge: closes
//	                         the connection when its age runs out
//
// Stop ends all of them and waits until they have exited.
package server

import (
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/detsim/detsim/netmodel"
	"github.com/detsim/detsim/protocols/grpc/wire"
	"github.com/detsim/detsim/sim"
)

// Handler serves one RPC. A returned *wire.Status error is sent with its
// code and message; any other error is sent as Unknown with err.Error().
type Handler func(method string, req []byte) ([]byte, error)

// Option configures a Server.
type Option func(*Server)

// WithHandler replaces the default handler (which answers with the server's
// name).
func WithHandler(h Handler) Option { return func(s *Server) { s.handler = h } }

// WithMaxConnectionAge makes the server close every connection it accepts
// about d after accepting it, whether or not RPCs are in flight, as
// grpc-go's keepalive.ServerParameters.MaxConnectionAge does with no
// MaxConnectionAgeGrace (there is no GOAWAY here: the connection is simply
// closed, and responses still being written are lost). As in grpc-go, each
// connection's age is jittered by up to ±10%: it is drawn uniformly from
// [0.9d, 1.1d) from the random stream "server/<name>/max-age" (prefixed
// with the host's name on a netmodel host), one draw per accepted
// connection in accept order. d <= 0 (the default) means no limit.
//
// It reproduces servers that drop connections on a schedule, such as the
// one in grpc-node #2784 that closed each connection after 1 second.
func WithMaxConnectionAge(d time.Duration) Option {
	return func(s *Server) { s.maxAge = max(d, 0) }
}

// ErrServerStopped is returned by Serve after Stop.
var ErrServerStopped = errors.New("server: the server has been stopped")

// Server answers RPCs on the listeners given to Serve.
type Server struct {
	env     netmodel.Env
	name    string
	handler Handler
	maxAge  time.Duration // 0: no limit

	mu        sim.Mutex
	wg        sim.WaitGroup
	stopped   bool
	listeners []net.Listener
	conns     []*serverConn
	acceptErr []error
	served    int
	agedOut   int
}

// New returns a server called name (its default response payload).
func New(env netmodel.Env, name string, opts ...Option) *Server {
	s := &Server{env: env, name: name, mu: env.NewMutex(), wg: env.NewWaitGroup()}
	s.handler = func(string, []byte) ([]byte, error) { return []byte(s.name), nil }
	for _, o := range opts {
		o(s)
	}
	return s
}

// Name is the server's name.
func (s *Server) Name() string { return s.name }

// Served counts the RPCs answered so far.
func (s *Server) Served() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.served
}

// Serve starts accepting connections on ln in a task of its own and
// returns at once. After Stop it closes ln and returns ErrServerStopped.
// The server owns ln from then on: Stop closes it.
func (s *Server) Serve(ln net.Listener) error {
	if ln == nil {
		return fmt.Errorf("server %s: Serve: nil listener", s.name)
	}
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		ln.Close()
		return ErrServerStopped
	}
	s.listeners = append(s.listeners, ln)
	s.wg.Add(1)
	s.mu.Unlock()
	s.env.Go(s.name+"/server.accept", func() {
		defer s.wg.Done()
		s.acceptLoop(ln)
	})
	return nil
}

// AgedOut counts the connections closed because their maximum age (see
// WithMaxConnectionAge) ran out.
func (s *Server) AgedOut() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.agedOut
}

// connAge draws the age of a new connection: maxAge ±10%, as grpc-go's
// getJitter does.
func (s *Server) connAge() time.Duration {
	r := int64(s.maxAge / 10)
	if r <= 0 {
		return s.maxAge
	}
	j := s.env.Rand("server/"+s.name+"/max-age").Int63n(2*r) - r
	return s.maxAge + time.Duration(j)
}

// AcceptErrors lists the errors that ended accept loops other than Stop
// (for example a crash closing the listener).
func (s *Server) AcceptErrors() []error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]error(nil), s.acceptErr...)
}

func (s *Server) acceptLoop(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			if !s.stopped {
				s.acceptErr = append(s.acceptErr, err)
			}
			s.mu.Unlock()
			return
		}
		sc := &serverConn{s: s, c: c, wmu: s.env.NewMutex()}
		var expiry time.Time
		tasks := 1
		if s.maxAge > 0 {
			// The age counts from the accept, not from when the
			// max-age task first runs.
			expiry = s.env.Now().Add(s.connAge())
			sc.done = sim.NewChan[struct{}](s.env, 0)
			tasks++
		}
		s.mu.Lock()
		if s.stopped {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns = append(s.conns, sc)
		s.wg.Add(tasks)
		s.mu.Unlock()
		s.env.Go(s.name+"/server.conn", func() {
			defer s.wg.Done()
			sc.serve()
		})
		if sc.done != nil {
			s.env.Go(s.name+"/server.maxage", func() {
				defer s.wg.Done()
				sc.ageOut(expiry)
			})
		}
	}
}

// Stop closes every listener and connection and waits until every task of
// the server has exited (handlers still running are waited for). It is
// idempotent; call it from a task that is not one of the server's.
func (s *Server) Stop() {
	s.mu.Lock()
	s.stopped = true
	lns, conns := s.listeners, s.conns
	s.listeners, s.conns = nil, nil
	s.mu.Unlock()
	for _, ln := range lns {
		ln.Close()
	}
	for _, c := range conns {
		c.close()
	}
	s.wg.Wait()
}

func (s *Server) removeConn(sc *serverConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, c := range s.conns {
		if c == sc {
			s.conns = append(s.conns[:i], s.conns[i+1:]...)
			return
		}
	}
}

// serverConn is one accepted connection.
type serverConn struct {
	s      *Server
	c      net.Conn
	wmu    sim.Mutex          // serialises response writes
	done   sim.Chan[struct{}] // with a max age: closed by close, ends ageOut
	closed bool               // guarded by s.mu
}

func (sc *serverConn) close() { sc.shut(false) }

// shut closes the connection once; aged says the max age ran out.
func (sc *serverConn) shut(aged bool) {
	s := sc.s
	s.mu.Lock()
	already := sc.closed
	sc.closed = true
	if aged && !already {
		s.agedOut++
	}
	s.mu.Unlock()
	if !already {
		if sc.done != nil {
			sc.done.Close()
		}
		sc.c.Close()
	}
}

// ageOut closes the connection at expiry unless it is closed first (by the
// peer, a protocol error or Stop). The timer is stopped on every way out,
// so a closed connection leaves no timer behind.
func (sc *serverConn) ageOut(expiry time.Time) {
	s := sc.s
	tm := s.env.NewTimer(s.env.Until(expiry))
	defer tm.Stop()
	if sim.Select(s.env, sim.RecvCase(tm.C(), nil, nil), sim.RecvCase(sc.done, nil, nil)) == 0 {
		sc.shut(true)
	}
}

// serve reads requests until the connection fails or is closed, handing
// each to a handler task.
func (sc *serverConn) serve() {
	s := sc.s
	defer s.removeConn(sc)
	defer sc.close()
	for {
		f, err := wire.ReadFrame(sc.c)
		if err != nil {
			return
		}
		req, ok := f.(*wire.Request)
		if !ok {
			return // a protocol violation: drop the connection
		}
		s.mu.Lock()
		if s.stopped {
			s.mu.Unlock()
			return
		}
		s.wg.Add(1)
		s.mu.Unlock()
		s.env.Go(s.name+"/server.handler", func() {
			defer s.wg.Done()
			sc.handle(req)
		})
	}
}

func (sc *serverConn) handle(req *wire.Request) {
	s := sc.s
	payload, err := s.handler(req.Method, req.Payload)
	resp := &wire.Response{StreamID: req.StreamID, Code: wire.CodeOf(err), Message: wire.MessageOf(err)}
	if err == nil {
		resp.Payload = payload
	} else if resp.Code == wire.OK {
		resp.Code = wire.Unknown // a *Status with code OK is still an error
	}
	b, encErr := wire.Encode(resp)
	if encErr != nil {
		b, _ = wire.Encode(&wire.Response{StreamID: req.StreamID, Code: wire.ResourceExhausted,
			Message: "server: response does not fit in a frame: " + encErr.Error()})
	}
	sc.wmu.Lock()
	_, werr := sc.c.Write(b)
	sc.wmu.Unlock()
	if werr == nil {
		s.mu.Lock()
		s.served++
		s.mu.Unlock()
	}
}
