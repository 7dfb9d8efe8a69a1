package sim_test

import (
	"testing"
	"time"

	"github.com/detsim/detsim/sim"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// wakeOrder starts three sleepers with the same deadline and returns the
// order they wake in.
func wakeOrder(t *testing.T, opts sim.Options) string {
	order := ""
	mustPass(t, opts, func(w *sim.World) {
		wg := w.NewWaitGroup()
		for _, name := range []string{"a", "b", "c"} {
			wg.Add(1)
			w.Go(name, func() {
				defer wg.Done()
				w.Sleep(time.Second)
				order += name
			})
		}
		wg.Wait()
	})
	return order
}

func TestEqualTimeEventsKeepCreationOrderUnlessPermuted(t *testing.T) {
	fifo := sim.Strategy{Kind: sim.FIFO}
	for seed := uint64(0); seed < 10; seed++ {
		assert.Equal(t, "abc", wakeOrder(t, sim.Options{Seed: seed, Strategy: fifo}))
	}
	fifo.PermuteEqualTime = true
	seen := map[string]bool{}
	for seed := uint64(0); seed < 60; seed++ {
		seen[wakeOrder(t, sim.Options{Seed: seed, Strategy: fifo})] = true
	}
	assert.Len(t, seen, 6, "all 3! orders of equal-time wake-ups occur: %v", seen)
}

// scriptSource is a caller-provided decision source: it replays a fixed
// list of choices, then always answers 0.
type scriptSource struct {
	choices []int
	asked   int
}

func (s *scriptSource) Intn(n int) int {
	s.asked++
	if len(s.choices) == 0 {
		return 0
	}
	c := s.choices[0]
	s.choices = s.choices[1:]
	return c % n
}

func TestCallerProvidedSourceDrivesEveryDecision(t *testing.T) {
	prog := func(src sim.Source) (string, sim.Result) {
		order := ""
		res := mustPass(t, sim.Options{Source: src}, func(w *sim.World) {
			wg := w.NewWaitGroup()
			for _, name := range []string{"x", "y"} {
				wg.Add(1)
				w.Go(name, func() { defer wg.Done(); w.Yield(); order += name })
			}
			wg.Wait()
		})
		return order, res
	}
	a, ra := prog(&scriptSource{})
	b, rb := prog(&scriptSource{})
	require.Equal(t, a, b)
	assert.Equal(t, ra.Fingerprint, rb.Fingerprint, "same decisions, same run")
	src := &scriptSource{choices: []int{1, 1, 1, 1, 1, 1, 1, 1}}
	c, rc := prog(src)
	assert.Greater(t, src.asked, 0)
	assert.NotEqual(t, ra.Fingerprint, rc.Fingerprint, "other decisions, other run (%s vs %s)", a, c)
}

func TestPCTDepthOneRunsHighestPriorityToCompletion(t *testing.T) {
	// Without change points, PCT never switches between two runnable tasks:
	// the higher-priority one runs until it blocks or exits.
	for seed := uint64(0); seed < 30; seed++ {
		var log []string
		mustPass(t, sim.Options{Seed: seed, Strategy: sim.Strategy{Kind: sim.PCT, Depth: 1}}, func(w *sim.World) {
			wg := w.NewWaitGroup()
			for _, name := range []string{"p", "q"} {
				wg.Add(1)
				w.Go(name, func() {
					defer wg.Done()
					for i := 0; i < 5; i++ {
						log = append(log, name)
						w.Yield()
					}
				})
			}
			wg.Wait()
		})
		require.Len(t, log, 10)
		for i := 1; i < 5; i++ {
			assert.Equal(t, log[0], log[i], "seed %d: %v", seed, log)
		}
	}
}

func TestDelaysLetTimePassWhileTasksAreRunnable(t *testing.T) {
	// A task spins on Yield while a timer is due; without delays the spin
	// runs to its end before the clock moves; with delays the timer can
	// fire while the spinner is still runnable.
	progressAtFire := func(strat sim.Strategy, seed uint64) int {
		at := -1
		mustPass(t, sim.Options{Seed: seed, Strategy: strat}, func(w *sim.World) {
			spins := 0
			w.AfterFunc(time.Millisecond, func() { at = spins })
			for spins < 20 {
				spins++
				w.Yield()
			}
			w.Sleep(time.Second)
		})
		return at
	}
	for seed := uint64(0); seed < 20; seed++ {
		assert.Equal(t, 20, progressAtFire(sim.Strategy{Kind: sim.Random}, seed), "no delays: time waits for runnable tasks")
	}
	early := 0
	for _, spec := range []string{"random+delay", "pct:3:30+delay"} {
		strat, err := sim.ParseStrategy(spec)
		require.NoError(t, err)
		require.Equal(t, spec, strat.String())
		for seed := uint64(0); seed < 40; seed++ {
			if progressAtFire(strat, seed) < 20 {
				early++
			}
		}
	}
	assert.Greater(t, early, 10, "with +delay the timer fires while the spinner is still runnable")
	strat, _ := sim.ParseStrategy("fifo+delay")
	assert.Equal(t, 20, progressAtFire(strat, 1), "fifo never delays")
}

// preemptedTasks runs n tasks that each pass 20 scheduling points and
// returns which of them were ever preempted (descheduled across time).
func preemptedTasks(t *testing.T, strat sim.Strategy, seed uint64, n int) []bool {
	hit := make([]bool, n)
	mustPass(t, sim.Options{Seed: seed, Strategy: strat}, func(w *sim.World) {
		wg := w.NewWaitGroup()
		for i := range n {
			wg.Add(1)
			w.Go("t", func() {
				defer wg.Done()
				for range 20 {
					before := w.Elapsed()
					w.Yield()
					if w.Elapsed() != before {
						hit[i] = true
					}
				}
			})
		}
		wg.Wait()
	})
	return hit
}

func TestSwarmPreemptsOnlySomeTasks(t *testing.T) {
	strat, err := sim.ParseStrategy("random+delay:1ms:1+swarm:4")
	require.NoError(t, err)
	require.Equal(t, "random+delay:1ms:1+swarm:4", strat.String())
	const n, seeds = 40, 20
	total := 0
	for seed := uint64(0); seed < seeds; seed++ {
		hit := preemptedTasks(t, strat, seed, n)
		assert.Equal(t, hit, preemptedTasks(t, strat, seed, n), "seed %d: the swarm is a function of the seed", seed)
		k := 0
		for _, h := range hit {
			if h {
				k++
			}
		}
		assert.Less(t, k, n, "seed %d: some tasks are calm", seed)
		total += k
	}
	// About one task in 4 joins the swarm (odds 1: every member is hit).
	assert.InDelta(t, float64(n*seeds)/4, float64(total), float64(n*seeds)/8, "swarm members over %d tasks", n*seeds)

	every, _ := sim.ParseStrategy("random+delay:1ms:1")
	for seed := uint64(0); seed < 3; seed++ {
		for i, h := range preemptedTasks(t, every, seed, n) {
			assert.True(t, h, "seed %d task %d: without +swarm every task is preempted at odds 1", seed, i)
		}
	}
}

func TestSwarmNeedsDelay(t *testing.T) {
	_, err := sim.ParseStrategy("random+swarm")
	require.ErrorContains(t, err, "+swarm chooses which tasks +delay preempts")
	_, err = sim.ParseStrategy("random+delay+swarm:x")
	require.ErrorContains(t, err, `swarm share "x"`)
	s, err := sim.ParseStrategy("pct:2+delay+swarm")
	require.NoError(t, err)
	assert.Equal(t, sim.DefaultDelaySwarm, s.DelaySwarm)
	assert.Equal(t, "pct:2+delay+swarm:8", s.String())
	_, err = sim.New(sim.Options{Strategy: sim.Strategy{DelaySwarm: 4}})
	require.ErrorContains(t, err, "DelaySwarm = 4 without Delays")
}
