package priority

import (
	"testing"

	"github.com/detsim/detsim/protocols/grpc/balancer"
	"github.com/detsim/detsim/protocols/grpc/connectivity"
	"github.com/stretchr/testify/assert"
)

// ChoiceHolds and Snapshot see a child in use that is not the A56 choice,
// and recompute after every unlock of mu (gen), not before.
func TestChoiceHoldsSeesAWrongChildInUse(t *testing.T) {
	b := &Balancer{priorities: []string{"p0", "p1"}, children: map[string]*childBalancer{}}
	for _, name := range b.priorities {
		b.children[name] = &childBalancer{name: name, parent: b, started: true, state: balancer.State{ConnectivityState: connectivity.Ready}}
	}
	b.childInUse = "p0"
	assert.True(t, b.ChoiceHolds())
	inUse, want, ok := b.Snapshot()
	assert.Equal(t, [3]any{"p0", "p0", true}, [3]any{inUse, want, ok})

	// P0 is READY, yet P1 is in use: a violation, once mu was released.
	b.childInUse = "p1"
	b.gen++
	assert.False(t, b.ChoiceHolds())
	inUse, want, ok = b.Snapshot()
	assert.Equal(t, [3]any{"p1", "p0", true}, [3]any{inUse, want, ok})

	// Not quiescent (mu held): no verdict.
	b.locked = true
	assert.True(t, b.ChoiceHolds())
	_, _, ok = b.Snapshot()
	assert.False(t, ok)
	b.locked = false

	// P0 fails: P1 is the choice now.
	b.children["p0"].state.ConnectivityState = connectivity.TransientFailure
	b.gen++
	assert.True(t, b.ChoiceHolds())
}
