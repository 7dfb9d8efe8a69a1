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
//
// Stop ends all of them and waits until they have exited.
package server

import (
	"errors"
	"fmt"
	"net"

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

// ErrServerStopped is returned by Serve after Stop.
var ErrServerStopped = errors.New("server: the server has been stopped")

// Server answers RPCs on the listeners given to Serve.
type Server struct {
	env     netmodel.Env
	name    string
	handler Handler

	mu        sim.Mutex
	wg        sim.WaitGroup
	stopped   bool
	listeners []net.Listener
	conns     []*serverConn
	acceptErr []error
	served    int
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
		s.mu.Lock()
		if s.stopped {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns = append(s.conns, sc)
		s.wg.Add(1)
		s.mu.Unlock()
		s.env.Go(s.name+"/server.conn", func() {
			defer s.wg.Done()
			sc.serve()
		})
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
	wmu    sim.Mutex // serialises response writes
	closed bool      // guarded by s.mu
}

func (sc *serverConn) close() {
	s := sc.s
	s.mu.Lock()
	already := sc.closed
	sc.closed = true
	s.mu.Unlock()
	if !already {
		sc.c.Close()
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
