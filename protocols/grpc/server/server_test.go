package server_test

import (
	"bufio"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/detsim/detsim/netmodel"
	"github.com/detsim/detsim/protocols/grpc/server"
	"github.com/detsim/detsim/protocols/grpc/wire"
	"github.com/detsim/detsim/sim"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type lan struct {
	w              *sim.World
	n              *netmodel.Network
	client, server *netmodel.Host
}

func newLAN(t *testing.T, seed uint64) *lan {
	w, err := sim.New(sim.Options{Seed: seed, CheckLeaks: true})
	require.NoError(t, err)
	n, err := netmodel.New(w, netmodel.Options{})
	require.NoError(t, err)
	require.NoError(t, n.AddSegment("lan", netip.MustParsePrefix("10.0.0.0/24"), netmodel.Link{Latency: netmodel.Constant(0)}))
	c, err := n.AddHost("client", nil, netmodel.Iface{Segment: "lan", Addr: netip.MustParseAddr("10.0.0.1")})
	require.NoError(t, err)
	s, err := n.AddHost("backend", nil, netmodel.Iface{Segment: "lan", Addr: netip.MustParseAddr("10.0.0.2")})
	require.NoError(t, err)
	return &lan{w: w, n: n, client: c, server: s}
}

func (l *lan) run(t *testing.T, main func()) {
	res, err := l.w.Run(main)
	require.NoError(t, err)
	require.Nil(t, res.Failure, "%v", res.Failure)
}

func (l *lan) serve(t *testing.T, name string, opts ...server.Option) *server.Server {
	env := l.server.Env()
	srv := server.New(env, name, opts...)
	ln, err := env.Net().Listen("tcp", ":7000")
	require.NoError(t, err)
	require.NoError(t, srv.Serve(ln))
	return srv
}

func roundTrip(t *testing.T, c net.Conn, br *bufio.Reader, req *wire.Request) *wire.Response {
	require.NoError(t, wire.WriteFrame(c, req))
	f, err := wire.ReadFrame(br)
	require.NoError(t, err)
	return f.(*wire.Response)
}

func TestServerAnswersWithItsName(t *testing.T) {
	l := newLAN(t, 1)
	l.run(t, func() {
		srv := l.serve(t, "backend-1")
		c, err := l.client.Env().Net().Dial("tcp", "10.0.0.2:7000")
		require.NoError(t, err)
		br := bufio.NewReader(c)
		for id := uint32(1); id <= 3; id++ {
			resp := roundTrip(t, c, br, &wire.Request{StreamID: id, Method: "/a/b", Payload: []byte("x")})
			assert.Equal(t, &wire.Response{StreamID: id, Code: wire.OK, Payload: []byte("backend-1")}, resp)
		}
		assert.Equal(t, 3, srv.Served())
		c.Close()
		srv.Stop()
	})
}

func TestServerHandlerAndConcurrentStreams(t *testing.T) {
	l := newLAN(t, 2)
	l.run(t, func() {
		env := l.server.Env()
		srv := l.serve(t, "h", server.WithHandler(func(method string, req []byte) ([]byte, error) {
			switch method {
			case "/slow":
				env.Sleep(time.Second)
				return []byte("slow"), nil
			case "/status":
				return nil, wire.Errorf(wire.PermissionDenied, "nope")
			case "/ok-status":
				return nil, &wire.Status{Code: wire.OK, Message: "an error with code OK"}
			}
			return nil, errors.New("plain error")
		}))
		c, err := l.client.Env().Net().Dial("tcp", "10.0.0.2:7000")
		require.NoError(t, err)
		br := bufio.NewReader(c)
		// The slow RPC does not hold up the ones behind it on the same
		// connection: responses come back as they finish.
		require.NoError(t, wire.WriteFrame(c, &wire.Request{StreamID: 1, Method: "/slow"}))
		require.NoError(t, wire.WriteFrame(c, &wire.Request{StreamID: 2, Method: "/status"}))
		require.NoError(t, wire.WriteFrame(c, &wire.Request{StreamID: 3, Method: "/other"}))
		require.NoError(t, wire.WriteFrame(c, &wire.Request{StreamID: 4, Method: "/ok-status"}))
		got := map[uint32]*wire.Response{}
		var order []uint32
		for range 4 {
			f, err := wire.ReadFrame(br)
			require.NoError(t, err)
			got[f.Stream()] = f.(*wire.Response)
			order = append(order, f.Stream())
		}
		assert.Equal(t, uint32(1), order[3], "the slow response comes last: %v", order)
		assert.Equal(t, []byte("slow"), got[1].Payload)
		assert.Equal(t, wire.PermissionDenied, got[2].Code)
		assert.Equal(t, "nope", got[2].Message)
		assert.Equal(t, wire.Unknown, got[3].Code)
		assert.Equal(t, "plain error", got[3].Message)
		assert.Equal(t, wire.Unknown, got[4].Code)
		c.Close()
		srv.Stop()
	})
}

// TestStopEndsEverythingAndTheServerRestarts: Stop closes the listener
// and connections and waits for every task (a handler in the middle of an
// RPC included); a new server can listen on the same port; a stopped one
// refuses to Serve. The run checks for leaks.
func TestStopEndsEverythingAndTheServerRestarts(t *testing.T) {
	l := newLAN(t, 3)
	l.run(t, func() {
		env := l.server.Env()
		srv := l.serve(t, "first", server.WithHandler(func(string, []byte) ([]byte, error) {
			env.Sleep(time.Second)
			return []byte("late"), nil
		}))
		c, err := l.client.Env().Net().Dial("tcp", "10.0.0.2:7000")
		require.NoError(t, err)
		require.NoError(t, wire.WriteFrame(c, &wire.Request{StreamID: 1, Method: "/x"}))
		env.Sleep(100 * time.Millisecond)
		start := env.Now()
		srv.Stop()
		assert.Equal(t, 900*time.Millisecond, env.Since(start), "Stop waits for the running handler")
		_, err = wire.ReadFrame(bufio.NewReader(c))
		assert.Error(t, err, "the connection was closed")
		c.Close()

		ln, err := env.Net().Listen("tcp", ":7001")
		require.NoError(t, err)
		assert.ErrorIs(t, srv.Serve(ln), server.ErrServerStopped)
		srv.Stop() // idempotent

		srv2 := l.serve(t, "second")
		c, err = l.client.Env().Net().Dial("tcp", "10.0.0.2:7000")
		require.NoError(t, err)
		resp := roundTrip(t, c, bufio.NewReader(c), &wire.Request{StreamID: 9, Method: "/x"})
		assert.Equal(t, []byte("second"), resp.Payload)
		c.Close()
		srv2.Stop()
		assert.Empty(t, srv2.AcceptErrors())
	})
}

func TestMalformedInputDropsTheConnection(t *testing.T) {
	l := newLAN(t, 4)
	l.run(t, func() {
		srv := l.serve(t, "s")
		c, err := l.client.Env().Net().Dial("tcp", "10.0.0.2:7000")
		require.NoError(t, err)
		_, err = c.Write([]byte{0, 0, 0, 3, 9, 9, 9})
		require.NoError(t, err)
		_, err = wire.ReadFrame(bufio.NewReader(c))
		assert.Error(t, err)
		c.Close()
		// A response frame sent to the server is a protocol error too.
		c, err = l.client.Env().Net().Dial("tcp", "10.0.0.2:7000")
		require.NoError(t, err)
		require.NoError(t, wire.WriteFrame(c, &wire.Response{StreamID: 1}))
		_, err = wire.ReadFrame(bufio.NewReader(c))
		assert.Error(t, err)
		c.Close()
		srv.Stop()
	})
}

func TestCrashKillsTheServer(t *testing.T) {
	l := newLAN(t, 5)
	l.run(t, func() {
		srv := l.serve(t, "s")
		c, err := l.client.Env().Net().Dial("tcp", "10.0.0.2:7000")
		require.NoError(t, err)
		require.NoError(t, l.n.Crash("backend"))
		_, err = wire.ReadFrame(bufio.NewReader(c))
		assert.Error(t, err, "reset by the crash")
		c.Close()
		srv.Stop() // its tasks are already gone; Stop returns at once
		require.NoError(t, l.n.Restart("backend"))
	})
}
