package sim

import "iter"

// nativeChan is Chan on the OS runtime: a plain Go channel. rc is the
// receive side (always set); c is nil for a receive-only channel.
type nativeChan[T any] struct {
	c  chan T
	rc <-chan T
}

// NativeChan wraps a Go channel as a Chan, for OS runtimes.
func NativeChan[T any](c chan T) Chan[T] { return nativeChan[T]{c: c, rc: c} }

// NativeRecvChan wraps a receive-only Go channel (such as a context's Done)
// as a Chan; Send and Close on it panic.
func NativeRecvChan[T any](c <-chan T) Chan[T] { return nativeChan[T]{rc: c} }

func (n nativeChan[T]) send() chan T {
	if n.c == nil {
		panic("sim: send or close on a receive-only native channel")
	}
	return n.c
}

func (n nativeChan[T]) Send(v T)              { n.send() <- v }
func (n nativeChan[T]) Recv() T               { return <-n.rc }
func (n nativeChan[T]) Recv2() (v T, ok bool) { v, ok = <-n.rc; return }
func (n nativeChan[T]) Close()                { close(n.send()) }
func (n nativeChan[T]) Len() int              { return len(n.rc) }
func (n nativeChan[T]) Cap() int              { return cap(n.rc) }

func (n nativeChan[T]) TrySend(v T) bool {
	select {
	case n.send() <- v:
		return true
	default:
		return false
	}
}

func (n nativeChan[T]) TryRecv() (v T, ok, ready bool) {
	select {
	case v, ok = <-n.rc:
		return v, ok, true
	default:
		return v, false, false
	}
}

func (n nativeChan[T]) All() iter.Seq[T] {
	return func(yield func(T) bool) {
		for v := range n.rc {
			if !yield(v) {
				return
			}
		}
	}
}
