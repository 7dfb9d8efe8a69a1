package sim_test

import (
	"container/heap"
	"iter"
	"sync"
	"testing"
	"time"

	"github.com/detsim/detsim/sim"
)

// The kernel's costs, each beside the reference it is compared to. Run with
//   go test ./sim/ -run '^$' -bench . -benchmem
// Targets (issue 2): a task switch at most 2x a raw iter.Pull round trip; a
// timer event at most 2x a container/heap push+pop; zero allocations per
// operation for switches, timers and channel operations.

// benchWorld runs body as the main task of a FIFO World; body calls
// b.ResetTimer itself once its setup is done.
func benchWorld(b *testing.B, body func(w *sim.World)) {
	b.Helper()
	w, err := sim.New(sim.Options{Strategy: sim.Strategy{Kind: sim.FIFO}, MaxSteps: 1 << 62, MaxTime: 1 << 62})
	if err != nil {
		b.Fatal(err)
	}
	res, err := w.Run(func() { body(w) })
	if err != nil {
		b.Fatal(err)
	}
	if res.Failure != nil {
		b.Fatal(res.Failure)
	}
}

// BenchmarkSwitch: one task blocks and is resumed (a scheduling point that
// goes through the World's loop), against the raw mechanisms.
func BenchmarkSwitch(b *testing.B) {
	b.Run("ref=iter.Pull-round-trip", func(b *testing.B) {
		b.ReportAllocs()
		next, stop := iter.Pull(func(yield func(struct{}) bool) {
			for yield(struct{}{}) {
			}
		})
		defer stop()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			next()
		}
	})
	b.Run("ref=goroutine-chan-ping-pong", func(b *testing.B) {
		b.ReportAllocs()
		ping, pong := make(chan struct{}), make(chan struct{})
		go func() {
			for range ping {
				pong <- struct{}{}
			}
			close(pong)
		}()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			ping <- struct{}{}
			<-pong
		}
		b.StopTimer()
		close(ping)
		<-pong
	})
	b.Run("sim=Yield-one-task", func(b *testing.B) {
		b.ReportAllocs()
		benchWorld(b, func(w *sim.World) {
			w.Yield()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				w.Yield()
			}
			b.StopTimer()
		})
	})
	b.Run("sim=Yield-two-tasks-alternating", func(b *testing.B) {
		b.ReportAllocs()
		benchWorld(b, func(w *sim.World) {
			n := b.N
			w.Go("other", func() {
				for i := 0; i < n/2; i++ {
					w.Yield()
				}
			})
			w.Yield()
			b.ResetTimer()
			for i := 0; i < n-n/2; i++ {
				w.Yield()
			}
			b.StopTimer()
		})
	})
}

type refItem struct {
	when int64
	seq  uint64
	idx  int
}

type refHeap []*refItem

func (h refHeap) Len() int { return len(h) }
func (h refHeap) Less(i, j int) bool {
	return h[i].when < h[j].when || (h[i].when == h[j].when && h[i].seq < h[j].seq)
}
func (h refHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i]; h[i].idx = i; h[j].idx = j }
func (h *refHeap) Push(x any)   { it := x.(*refItem); it.idx = len(*h); *h = append(*h, it) }
func (h *refHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	*h = old[:len(old)-1]
	return it
}

// BenchmarkTimer: schedule and fire one timer event while 1,000 other timers
// are pending, against container/heap push+pop on a heap of the same size.
func BenchmarkTimer(b *testing.B) {
	const background = 1000
	b.Run("ref=container-heap-push-pop", func(b *testing.B) {
		b.ReportAllocs()
		h := &refHeap{}
		for i := 0; i < background; i++ {
			heap.Push(h, &refItem{when: int64(1e18) + int64(i), seq: uint64(i)})
		}
		it := &refItem{}
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			it.when, it.seq = int64(i), uint64(background+i)
			heap.Push(h, it)
			heap.Pop(h)
		}
	})
	b.Run("sim=Sleep", func(b *testing.B) {
		b.ReportAllocs()
		benchWorld(b, func(w *sim.World) {
			for i := 0; i < background; i++ {
				w.NewTimer(time.Duration(1e17) + time.Duration(i))
			}
			w.Sleep(1)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				w.Sleep(1)
			}
			b.StopTimer()
		})
	})
	b.Run("sim=Timer.Reset+Recv", func(b *testing.B) {
		b.ReportAllocs()
		benchWorld(b, func(w *sim.World) {
			for i := 0; i < background; i++ {
				w.NewTimer(time.Duration(1e17) + time.Duration(i))
			}
			t := w.NewTimer(1)
			t.C().Recv()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				t.Reset(1)
				t.C().Recv()
			}
			b.StopTimer()
		})
	})
}

// BenchmarkChan: a value through a channel, per send+receive pair.
func BenchmarkChan(b *testing.B) {
	b.Run("ref=native-buffered", func(b *testing.B) {
		b.ReportAllocs()
		ch := make(chan int, 1)
		for i := 0; i < b.N; i++ {
			ch <- i
			<-ch
		}
	})
	b.Run("ref=native-unbuffered-goroutines", func(b *testing.B) {
		b.ReportAllocs()
		ch := make(chan int)
		go func() {
			for range ch {
			}
		}()
		for i := 0; i < b.N; i++ {
			ch <- i
		}
		close(ch)
	})
	b.Run("sim=buffered-one-task", func(b *testing.B) {
		b.ReportAllocs()
		benchWorld(b, func(w *sim.World) {
			ch := sim.NewChan[int](w, 1)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				ch.Send(i)
				ch.Recv()
			}
			b.StopTimer()
		})
	})
	b.Run("sim=unbuffered-two-tasks", func(b *testing.B) {
		b.ReportAllocs()
		benchWorld(b, func(w *sim.World) {
			ch := sim.NewChan[int](w, 0)
			n := b.N
			w.Go("receiver", func() {
				for i := 0; i < n; i++ {
					ch.Recv()
				}
			})
			b.ResetTimer()
			for i := 0; i < n; i++ {
				ch.Send(i)
			}
			b.StopTimer()
		})
	})
	b.Run("sim=Select-two-ready", func(b *testing.B) {
		b.ReportAllocs()
		benchWorld(b, func(w *sim.World) {
			x, y := sim.NewChan[int](w, 1), sim.NewChan[int](w, 1)
			var v int
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				x.Send(i)
				sim.Select(w, sim.RecvCase(x, &v, nil), sim.RecvCase(y, &v, nil))
			}
			b.StopTimer()
		})
	})
}

// BenchmarkMutex: an uncontended Lock/Unlock pair.
func BenchmarkMutex(b *testing.B) {
	b.Run("ref=sync.Mutex", func(b *testing.B) {
		b.ReportAllocs()
		var mu sync.Mutex
		for i := 0; i < b.N; i++ {
			mu.Lock()
			mu.Unlock() //nolint:staticcheck // measuring the empty critical section
		}
	})
	b.Run("sim=Mutex", func(b *testing.B) {
		b.ReportAllocs()
		benchWorld(b, func(w *sim.World) {
			mu := w.NewMutex()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				mu.Lock()
				mu.Unlock()
			}
			b.StopTimer()
		})
	})
}

// BenchmarkRun: a whole small run (World, three tasks, a mutex, a channel),
// the unit cost of a seed in a sweep.
func BenchmarkRun(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		w, _ := sim.New(sim.Options{Seed: uint64(i)})
		w.Run(func() {
			mu := w.NewMutex()
			ch := sim.NewChan[int](w, 0)
			for j := 0; j < 3; j++ {
				w.Go("worker", func() { mu.Lock(); w.Sleep(time.Millisecond); mu.Unlock(); ch.Send(j) })
			}
			for j := 0; j < 3; j++ {
				ch.Recv()
			}
		})
	}
}
