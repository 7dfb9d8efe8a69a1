package p

import (
	"sync"
	"sync/atomic"
)

type guarded struct {
	mu             sync.Mutex    // want `^sync\.Mutex blocks outside the simulator: use env\.NewMutex\(\)$`
	rw             *sync.RWMutex // want `^sync\.RWMutex blocks outside the simulator: use env\.NewRWMutex\(\)$`
	sync.WaitGroup               // want `^sync\.WaitGroup blocks outside the simulator: use env\.NewWaitGroup\(\)$`
	once           sync.Once     // want `^sync\.Once blocks outside the simulator: use env\.NewOnce\(\)$`
	m              sync.Map      // want `^sync\.Map is built for real concurrency: keep state in plain maps/slices owned by one task$`
	l              sync.Locker   // fine: just an interface
	n              atomic.Int64  // want `^atomic\.Int64 \(sync/atomic\) in simulated code: only one task runs at a time, use plain variables \(guarded by env\.NewMutex\(\) if shared across blocking points\)$`
}

func syncUses(g *guarded) {
	// Methods reached through an already reported field or embedding are
	// not reported again.
	g.mu.Lock()
	defer g.mu.Unlock()
	g.Wait()
	g.n.Add(1)

	c := sync.NewCond(g.l)                        // want `^sync\.NewCond blocks outside the simulator: use env\.NewCond\(l\)$`
	var _ *sync.Cond = c                          // want `^sync\.Cond blocks outside the simulator: use env\.NewCond\(l\)$`
	p := &sync.Pool{New: func() any { return 1 }} // want `^sync\.Pool is built for real concurrency`
	_ = sync.OnceFunc(func() {})                  // want `^sync\.OnceFunc blocks outside the simulator: use env\.NewOnce\(\)$`
	_ = sync.OnceValue(func() int { return 1 })   // want `^sync\.OnceValue blocks outside the simulator`
	_ = sync.OnceValues[int, error]               // want `^sync\.OnceValues blocks outside the simulator`
	wg := sync.WaitGroup{}                        // want `sync\.WaitGroup`
	atomic.AddInt64(new(int64), 1)                // want `^atomic\.AddInt64 \(sync/atomic\) in simulated code`
	var ptr atomic.Pointer[int]                   // want `^atomic\.Pointer \(sync/atomic\)`
	_, _, _ = p.Get(), &wg, ptr.Load()
}
