package sim

import "iter"

// nativeChan is Chan on the OS runtime: a plain Go channel.
type nativeChan[T any] struct{ c chan T }

func (n nativeChan[T]) Send(v T)              { n.c <- v }
func (n nativeChan[T]) Recv() T               { return <-n.c }
func (n nativeChan[T]) Recv2() (v T, ok bool) { v, ok = <-n.c; return }
func (n nativeChan[T]) Close()                { close(n.c) }
func (n nativeChan[T]) Len() int              { return len(n.c) }
func (n nativeChan[T]) Cap() int              { return cap(n.c) }

func (n nativeChan[T]) TrySend(v T) bool {
	select {
	case n.c <- v:
		return true
	default:
		return false
	}
}

func (n nativeChan[T]) TryRecv() (v T, ok, ready bool) {
	select {
	case v, ok = <-n.c:
		return v, ok, true
	default:
		return v, false, false
	}
}

func (n nativeChan[T]) All() iter.Seq[T] {
	return func(yield func(T) bool) {
		for v := range n.c {
			if !yield(v) {
				return
			}
		}
	}
}

// NativeChan wraps a Go channel as a Chan, for OS runtimes.
func NativeChan[T any](c chan T) Chan[T] { return nativeChan[T]{c: c} }
