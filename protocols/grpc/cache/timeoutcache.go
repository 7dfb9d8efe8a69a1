// Package cache implements TimeoutCache, the simulated counterpart of
// grpc-go's internal/cache/timeoutCache.go: a map of items, each of which is
// removed (and has its callback run) once a timeout has passed, unless it is
// removed first.
//
// The balancer group keeps deactivated sub-balancers here for
// SubBalancerCloseTimeout (15 minutes for the priority policy, gRFC A56), so
// a child that comes back soon can be revived instead of rebuilt.
//
// The cache's lock is an Env mutex and its timers are Env timers, so in
// simulation every Lock and every Timer.Stop is a scheduling point: the race
// between Remove and an expiring timer (the entry's deleted flag) is an
// interleaving the scheduler can explore and replay.
package cache

import (
	"maps"
	"slices"
	"time"

	"github.com/detsim/detsim/sim"
)

// entry is one cached item.
type entry struct {
	item     any
	callback func()
	timer    sim.Timer
	// deleted is set when Remove or Clear took the entry out but could not
	// stop its timer because the timer had already fired: the expiry task
	// is then running (or about to run) and waits for the lock. It checks
	// deleted after taking the lock and gives up, so an entry that Remove
	// reported as removed never has its callback run by the timer.
	// Guarded by TimeoutCache.mu.
	deleted bool
}

// TimeoutCache is a cache whose items expire after a fixed timeout.
//
// Callbacks always run without the cache's lock held, so they may call back
// into the cache or take locks that callers of the cache hold while calling
// it (the balancer group takes its outgoing lock in the callback, and calls
// Add and Remove with that lock held).
type TimeoutCache struct {
	env     sim.Env
	timeout time.Duration

	mu      sim.Mutex
	entries map[string]*entry // guarded by mu

	// aborts counts expiry tasks that found their entry deleted (the
	// Remove-versus-expiry race), for tests. Guarded by mu.
	aborts int
}

// NewTimeoutCache returns an empty cache whose items expire timeout after
// they are added. A timeout <= 0 makes items expire at once (at the next
// scheduling point), as time.AfterFunc does.
func NewTimeoutCache(env sim.Env, timeout time.Duration) *TimeoutCache {
	if env == nil {
		panic("cache: NewTimeoutCache: nil Env")
	}
	return &TimeoutCache{
		env:     env,
		timeout: timeout,
		mu:      env.NewMutex(),
		entries: map[string]*entry{},
	}
}

// Add adds item under key and arms its expiry timer: after the timeout the
// item is removed and callback (if non-nil) runs, in its own task, unless
// the item was removed by Remove or Clear first.
//
// If key is already present the cache is left unchanged (the existing timer
// keeps running) and Add returns (existing item, false); otherwise it
// returns (item, true).
func (c *TimeoutCache) Add(key string, item any, callback func()) (any, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[key]; ok {
		return e.item, false
	}
	e := &entry{item: item, callback: callback}
	e.timer = c.env.AfterFunc(c.timeout, func() { c.expire(key, e) })
	c.entries[key] = e
	return item, true
}

// expire is the body of an entry's timer.
func (c *TimeoutCache) expire(key string, e *entry) {
	c.mu.Lock()
	if e.deleted {
		// Remove or Clear took the entry out after the timer fired but
		// before this task got the lock: the removal wins.
		c.aborts++
		c.mu.Unlock()
		return
	}
	delete(c.entries, key)
	c.mu.Unlock()
	if e.callback != nil {
		e.callback()
	}
}

// Remove removes key's item without running its callback and returns
// (item, true), or (nil, false) if key is not present. When it returns true
// the callback is guaranteed never to run.
func (c *TimeoutCache) Remove(key string) (any, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.removeLocked(key)
	if !ok {
		return nil, false
	}
	return e.item, true
}

// removeLocked takes key's entry out of the map and disarms its timer. The
// caller holds c.mu.
func (c *TimeoutCache) removeLocked(key string) (*entry, bool) {
	e, ok := c.entries[key]
	if !ok {
		return nil, false
	}
	delete(c.entries, key)
	if !e.timer.Stop() {
		// The timer has fired: its task is blocked on c.mu (held by our
		// caller) or has not reached Lock yet. Tell it to give up.
		e.deleted = true
	}
	return e, true
}

// Clear removes every item. If runCallback is true it then runs the removed
// items' callbacks, outside the lock, one after another in key order (sorted,
// so a run is reproducible), before returning.
func (c *TimeoutCache) Clear(runCallback bool) {
	c.mu.Lock()
	keys := slices.Sorted(maps.Keys(c.entries))
	var callbacks []func()
	for _, k := range keys {
		e, _ := c.removeLocked(k)
		if e.callback != nil {
			callbacks = append(callbacks, e.callback)
		}
	}
	c.mu.Unlock()
	if !runCallback {
		return
	}
	for _, cb := range callbacks {
		cb()
	}
}

// Len returns the number of items in the cache.
func (c *TimeoutCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

// Keys returns the keys in the cache, sorted.
func (c *TimeoutCache) Keys() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Sorted(maps.Keys(c.entries))
}
