package netmodel_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/detsim/detsim/netmodel"
	"github.com/detsim/detsim/sim"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// pair returns a connected stream pair (client on a, server on b) and the
// virtual time the dial took.
func pair(t *testing.T, l *lan) (client, server net.Conn, took time.Duration) {
	ln, err := l.b.Env().Net().Listen("tcp", ":7000")
	require.NoError(t, err)
	accepted := sim.NewChan[net.Conn](l.w, 1)
	l.b.Env().Go("acceptor", func() {
		c, err := ln.Accept()
		assert.NoError(t, err)
		accepted.Send(c)
		ln.Close()
	})
	start := l.w.Elapsed()
	client, err = l.a.Env().Net().Dial("tcp", "10.0.0.2:7000")
	require.NoError(t, err)
	took = l.w.Elapsed() - start
	return client, accepted.Recv(), took
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() && errors.Is(err, os.ErrDeadlineExceeded)
}

// The conformance tests follow golang.org/x/net/nettest's TestConn.

func TestConnBasicIO(t *testing.T) {
	l := newLAN(t, sim.Options{Seed: 1}, netmodel.Options{SendBuffer: 4096}, netmodel.Link{Latency: netmodel.Uniform(time.Millisecond, 9*time.Millisecond)})
	l.run(t, func() {
		c1, c2, took := pair(t, l)
		assert.Greater(t, took, time.Duration(0))
		want := make([]byte, 1<<16)
		l.w.Rand("data").Shuffle(len(want), func(i, j int) { want[i], want[j] = byte(i), byte(j*7) })
		done := sim.NewChan[[]byte](l.w, 1)
		l.b.Env().Go("reader", func() {
			got, err := io.ReadAll(c2)
			assert.NoError(t, err)
			done.Send(got)
		})
		for rest := want; len(rest) > 0; {
			k := min(len(rest), 1000)
			n, err := c1.Write(rest[:k])
			require.NoError(t, err)
			require.Equal(t, k, n)
			rest = rest[k:]
		}
		require.NoError(t, c1.Close())
		assert.True(t, bytes.Equal(want, done.Recv()), "bytes arrive in order, exactly once, then EOF")
		require.NoError(t, c2.Close())
	})
}

func TestConnDialTakesOneRoundTrip(t *testing.T) {
	l := newLAN(t, sim.Options{}, netmodel.Options{})
	l.run(t, func() {
		_, _, took := pair(t, l)
		assert.Equal(t, 2*time.Millisecond, took)
	})
}

func TestConnPingPong(t *testing.T) {
	l := newLAN(t, sim.Options{Seed: 2}, netmodel.Options{})
	l.run(t, func() {
		c1, c2, _ := pair(t, l)
		l.b.Env().Go("echo", func() {
			buf := make([]byte, 8)
			for {
				n, err := c2.Read(buf)
				if err != nil {
					c2.Close()
					return
				}
				c2.Write(buf[:n])
			}
		})
		start := l.w.Elapsed()
		buf := make([]byte, 8)
		for i := 0; i < 10; i++ {
			_, err := c1.Write([]byte{byte(i)})
			require.NoError(t, err)
			n, err := c1.Read(buf)
			require.NoError(t, err)
			require.Equal(t, []byte{byte(i)}, buf[:n])
		}
		assert.Equal(t, 20*time.Millisecond, l.w.Elapsed()-start, "ten round trips of 2ms")
		c1.Close()
	})
}

func TestConnPastAndFutureDeadlines(t *testing.T) {
	l := newLAN(t, sim.Options{}, netmodel.Options{SendBuffer: 10})
	l.run(t, func() {
		c1, c2, _ := pair(t, l)
		env := l.a.Env()
		// Past: fail at once.
		require.NoError(t, c1.SetDeadline(env.Now().Add(-time.Second)))
		_, err := c1.Read(make([]byte, 1))
		assert.True(t, isTimeout(err), "%v", err)
		_, err = c1.Write([]byte("x"))
		assert.True(t, isTimeout(err), "%v", err)

		// Future: block exactly until the deadline.
		require.NoError(t, c1.SetDeadline(env.Now().Add(50*time.Millisecond)))
		start := l.w.Elapsed()
		_, err = c1.Read(make([]byte, 1))
		assert.True(t, isTimeout(err), "%v", err)
		assert.Equal(t, 50*time.Millisecond, l.w.Elapsed()-start)

		// A writer blocked on a full send buffer times out too, having
		// written what fitted.
		require.NoError(t, c1.SetDeadline(env.Now().Add(time.Second)))
		n, err := c1.Write(make([]byte, 25))
		assert.True(t, isTimeout(err), "%v", err)
		assert.Equal(t, 10, n)

		// Clearing the deadline; moving it while a reader is blocked.
		require.NoError(t, c1.SetDeadline(time.Time{}))
		l.a.Env().Go("mover", func() {
			l.w.Sleep(time.Second)
			c1.SetReadDeadline(env.Now().Add(time.Second))
		})
		start = l.w.Elapsed()
		_, err = c1.Read(make([]byte, 1))
		assert.True(t, isTimeout(err), "%v", err)
		assert.Equal(t, 2*time.Second, l.w.Elapsed()-start)
		c1.Close()
		c2.Close()
	})
}

func TestConnCloseUnblocksReadersAndWriters(t *testing.T) {
	l := newLAN(t, sim.Options{}, netmodel.Options{SendBuffer: 4})
	l.run(t, func() {
		c1, c2, _ := pair(t, l)
		errs := sim.NewChan[error](l.w, 2)
		l.a.Env().Go("reader", func() {
			_, err := c1.Read(make([]byte, 1))
			errs.Send(err)
		})
		l.a.Env().Go("writer", func() {
			_, err := c1.Write(make([]byte, 100)) // blocks: the buffer holds 4
			errs.Send(err)
		})
		l.w.Sleep(time.Second)
		require.NoError(t, c1.Close())
		for i := 0; i < 2; i++ {
			err := errs.Recv()
			assert.ErrorIs(t, err, net.ErrClosed)
		}
		_, err := c1.Read(nil)
		assert.ErrorIs(t, err, net.ErrClosed)
		assert.ErrorIs(t, c1.Close(), net.ErrClosed)
		// The peer reads the 4 bytes that were sent, then EOF.
		got, err := io.ReadAll(c2)
		assert.NoError(t, err)
		assert.Len(t, got, 4)
	})
}

func TestDialRefusedWhenNothingListens(t *testing.T) {
	l := newLAN(t, sim.Options{}, netmodel.Options{})
	l.run(t, func() {
		start := l.w.Elapsed()
		_, err := l.a.Env().Net().Dial("tcp", "b:9")
		assert.ErrorIs(t, err, syscall.ECONNREFUSED)
		assert.Contains(t, err.Error(), "dial tcp 10.0.0.1:")
		assert.Equal(t, 2*time.Millisecond, l.w.Elapsed()-start, "the RST comes back after one round trip")
	})
}

func TestDialAcrossPartitionTimesOut(t *testing.T) {
	l := newLAN(t, sim.Options{}, netmodel.Options{})
	l.run(t, func() {
		ln, err := l.b.Env().Net().Listen("tcp", ":80")
		require.NoError(t, err)
		defer ln.Close()
		require.NoError(t, l.n.Partition([]string{"a"}, []string{"b"}))
		start := l.w.Elapsed()
		_, err = l.a.Env().Net().DialTimeout("tcp", "b:80", 5*time.Second)
		assert.True(t, isTimeout(err), "%v", err)
		assert.Equal(t, 5*time.Second, l.w.Elapsed()-start)

		// Healed during the dial: a retransmitted SYN gets through (after
		// 1s, 2s, 4s: the third retransmission, at 7s).
		l.w.AfterFunc(3*time.Second, l.n.Heal)
		start = l.w.Elapsed()
		c, err := l.a.Env().Net().Dial("tcp", "b:80")
		require.NoError(t, err)
		assert.Equal(t, 7*time.Second+2*time.Millisecond, l.w.Elapsed()-start)
		c.Close()
	})
}

func TestCrashResetsPeersAndKillsTasks(t *testing.T) {
	l := newLAN(t, sim.Options{CheckLeaks: true}, netmodel.Options{})
	var unwound bool
	l.run(t, func() {
		c1, c2, _ := pair(t, l)
		l.b.Env().Go("server", func() {
			defer func() { unwound = true }()
			io.Copy(io.Discard, c2)
		})
		l.w.Sleep(time.Second)
		require.NoError(t, l.n.Crash("b"))
		_, err := c1.Read(make([]byte, 1))
		assert.ErrorIs(t, err, syscall.ECONNRESET)
		_, err = c1.Write([]byte("x"))
		assert.ErrorIs(t, err, syscall.ECONNRESET)
		c1.Close()
		assert.True(t, unwound, "the crashed host's task was killed and unwound")
		assert.False(t, l.b.Up())
		require.Error(t, l.n.Crash("b"))
	})
}

func TestUserTimeoutBreaksConnection(t *testing.T) {
	l := newLAN(t, sim.Options{}, netmodel.Options{UserTimeout: 10 * time.Second})
	l.run(t, func() {
		c1, c2, _ := pair(t, l)
		defer c2.Close()
		require.NoError(t, l.n.Isolate("b"))
		start := l.w.Elapsed()
		_, err := c1.Write([]byte("hello"))
		require.NoError(t, err, "the write is buffered")
		_, err = c1.Read(make([]byte, 1))
		assert.ErrorIs(t, err, syscall.ETIMEDOUT)
		assert.Equal(t, 10*time.Second, l.w.Elapsed()-start, "TCP_USER_TIMEOUT fires on time")
		stats := l.n.Totals()
		assert.Greater(t, stats.Retransmits, uint64(3))
		assert.Greater(t, stats.DroppedBy(netmodel.DropPartition), uint64(3))
	})
}

func TestStreamLossIsDelayNotLostBytes(t *testing.T) {
	link := netmodel.Link{Latency: netmodel.Constant(time.Millisecond), Loss: 0.3}
	l := newLAN(t, sim.Options{Seed: 9}, netmodel.Options{}, link)
	l.run(t, func() {
		c1, c2, _ := pair(t, l)
		msg := bytes.Repeat([]byte("0123456789"), 500)
		l.a.Env().Go("writer", func() {
			for i := 0; i < len(msg); i += 100 {
				c1.Write(msg[i : i+100])
			}
			c1.Close()
		})
		got, err := io.ReadAll(c2)
		require.NoError(t, err)
		assert.Equal(t, msg, got)
		assert.Greater(t, l.n.Totals().Retransmits, uint64(0))
		c2.Close()
	})
}
