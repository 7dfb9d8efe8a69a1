package netmodel_test

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/detsim/detsim/netmodel"
	"github.com/detsim/detsim/sim"
)

// Run with: go test ./netmodel/ -run '^$' -bench . -benchmem
//
// BenchmarkDatagram: one datagram from a socket to a socket on another
// host and back out of ReadFrom (send, schedule, clock advance, delivery,
// wake-up), against a real UDP round trip through the loopback interface.
func BenchmarkDatagram(b *testing.B) {
	b.Run("ref=os-udp-loopback", func(b *testing.B) {
		b.ReportAllocs()
		rx, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			b.Skip("no loopback UDP:", err)
		}
		defer rx.Close()
		tx, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			b.Skip("no loopback UDP:", err)
		}
		defer tx.Close()
		msg, buf := make([]byte, 64), make([]byte, 128)
		to := rx.LocalAddr()
		rx.SetReadDeadline(time.Now().Add(time.Minute))
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := tx.WriteTo(msg, to); err != nil {
				b.Fatal(err)
			}
			if _, _, err := rx.ReadFrom(buf); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("sim=send-to-delivery", func(b *testing.B) {
		b.ReportAllocs()
		l := newLAN(b, sim.Options{MaxSteps: 1 << 62, MaxTime: 1 << 62}, netmodel.Options{})
		l.run(b, func() {
			tx, _ := l.a.Env().Net().ListenPacket("udp", ":0")
			rx, _ := l.b.Env().Net().ListenPacket("udp", ":9")
			msg, buf := make([]byte, 64), make([]byte, 128)
			to := &net.UDPAddr{IP: net.IPv4(10, 0, 0, 2), Port: 9}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				tx.WriteTo(msg, to)
				if _, _, err := rx.ReadFrom(buf); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
		})
	})
}

// BenchmarkStream: bytes through a stream, reported as MB/s of simulated
// transfer per wall-clock second, against net.Pipe between two goroutines.
func BenchmarkStream(b *testing.B) {
	const chunk = 32 << 10
	b.Run("ref=net.Pipe", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(chunk)
		c1, c2 := net.Pipe()
		done := make(chan struct{})
		go func() {
			io.Copy(io.Discard, c2)
			close(done)
		}()
		msg := make([]byte, chunk)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			c1.Write(msg)
		}
		c1.Close()
		<-done
	})
	b.Run("sim=tcp", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(chunk)
		l := newLAN(b, sim.Options{MaxSteps: 1 << 62, MaxTime: 1 << 62}, netmodel.Options{})
		l.run(b, func() {
			ln, _ := l.b.Env().Net().Listen("tcp", ":80")
			done := sim.NewChan[int64](l.w, 1)
			l.b.Env().Go("reader", func() {
				c, _ := ln.Accept()
				n, _ := io.Copy(io.Discard, c)
				done.Send(n)
			})
			c, err := l.a.Env().Net().Dial("tcp", "b:80")
			if err != nil {
				b.Fatal(err)
			}
			msg := make([]byte, chunk)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				c.Write(msg)
			}
			c.Close()
			if got := done.Recv(); got != int64(b.N)*chunk {
				b.Fatalf("read %d bytes, want %d", got, int64(b.N)*chunk)
			}
			b.StopTimer()
		})
	})
}
