package priority_test

import (
	"testing"

	"github.com/detsim/detsim/protocols/grpc/balancer"
	"github.com/detsim/detsim/protocols/grpc/balancergroup"
	"github.com/detsim/detsim/protocols/grpc/connectivity"
	"github.com/detsim/detsim/protocols/priority"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testChild is a child policy for config tests; it cannot be built.
type testChild struct{}

func (testChild) Name() string { return "test_child" }
func (testChild) Build(balancer.ClientConn, balancer.BuildOptions) balancer.Balancer {
	panic("not built in config tests")
}

func init() { balancer.Register(testChild{}) }

func TestParseConfig(t *testing.T) {
	cfg, err := priority.ParseConfig([]byte(`{"children": {"b": {"config": [{"test_child": {}}], "ignoreReresolutionRequests": true}, "a": {"config": [{"unknown_policy": {}}, {"test_child": {}}]}}, "priorities": ["a", "b"], "variant": "buggy"}`))
	require.NoError(t, err)
	assert.Equal(t, []string{"a", "b"}, cfg.Priorities)
	assert.Equal(t, "test_child", cfg.Children["a"].Builder.Name(), "the first registered policy of the list")
	assert.True(t, cfg.Children["b"].IgnoreReresolutionRequests)
	assert.Equal(t, balancergroup.Buggy, cfg.Variant)

	for _, c := range []struct{ json, want string }{
		{`{"children": {"a": {"config": [{"test_child": {}}]}}, "priorities": ["a", "a"]}`, `field priorities[1]: duplicate priority name "a"`},
		{`{"children": {"a": {"config": [{"test_child": {}}]}}, "priorities": ["a", "z"]}`, `field priorities[1]: priority name "z" is not found in field children`},
		{`{"children": {"a": {"config": [{"test_child": {}}]}, "b": {"config": [{"test_child": {}}]}}, "priorities": ["a"]}`, `field children: child "b" is not found in field priorities`},
		{`{"children": {}, "priorities": []}`, "field priorities is empty"},
		{`{"children": {"a": {"config": [{"nope": {}}]}}, "priorities": ["a"]}`, `field children["a"].config: no registered LB policy`},
		{`{"children": {"a": {}}, "priorities": ["a"]}`, `field children["a"].config is missing`},
		{`{"children": {"a": {"config": [{"test_child": {}}]}}, "priorities": ["a"], "variant": "later"}`, `field variant: "later"`},
		{`{"children": 3}`, "invalid config"},
	} {
		_, err := priority.ParseConfig([]byte(c.json))
		assert.ErrorContains(t, err, c.want, c.json)
	}
}

func TestChooseIsGRFCA56(t *testing.T) {
	const (
		R  = connectivity.Ready
		I  = connectivity.Idle
		C  = connectivity.Connecting
		TF = connectivity.TransientFailure
	)
	v := func(started bool, s connectivity.State, timer bool) priority.ChildView {
		return priority.ChildView{Started: started, State: s, TimerPending: timer}
	}
	for _, c := range []struct {
		name       string
		children   []priority.ChildView
		idx        int
		deactivate bool
	}{
		{"empty", nil, -1, false},
		{"ready wins and deactivates lower", []priority.ChildView{v(true, R, false), v(true, R, false)}, 0, true},
		{"idle counts as ready", []priority.ChildView{v(true, TF, false), v(true, I, false), v(true, R, false)}, 1, true},
		{"pending failover timer holds", []priority.ChildView{v(true, C, true), v(true, R, false)}, 0, false},
		{"failed child skipped, next not started is started", []priority.ChildView{v(true, TF, false), v(false, C, false)}, 1, false},
		{"lower not created while a higher one holds", []priority.ChildView{v(true, C, true), v(false, C, false)}, 0, false},
		{"first connecting without timer", []priority.ChildView{v(true, TF, false), v(true, C, false), v(true, C, false)}, 1, false},
		{"all failed: the last", []priority.ChildView{v(true, TF, false), v(true, TF, false)}, 1, false},
	} {
		idx, deact := priority.Choose(c.children)
		assert.Equal(t, c.idx, idx, c.name)
		assert.Equal(t, c.deactivate, deact, c.name)
	}
}
