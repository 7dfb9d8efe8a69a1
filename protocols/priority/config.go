package priority

import (
	"encoding/json"
	"fmt"

	"github.com/detsim/detsim/protocols/grpc/balancer"
	"github.com/detsim/detsim/protocols/grpc/balancergroup"
)

// Child is one child policy of the priority LB (gRFC A56 config).
type Child struct {
	// Builder and Config are the child's LB policy, parsed from its policy
	// list.
	Builder balancer.Builder
	Config  balancer.LBConfig
	// IgnoreReresolutionRequests drops the child's ResolveNow calls.
	IgnoreReresolutionRequests bool
}

// LBConfig is the priority LB's parsed configuration: named children and
// the priority order (highest first). Names are separate from priorities so
// a child can move between priorities without being rebuilt.
type LBConfig struct {
	Children   map[string]*Child
	Priorities []string
	// Variant selects the balancergroup close behaviour: the fix of
	// grpc/grpc-go#8095 (Fixed, the default) or the historical race
	// (Buggy). It is the testbed's switch, set by the "variant" field.
	Variant balancergroup.Variant
}

type jsonChild struct {
	Config                     json.RawMessage `json:"config"`
	IgnoreReresolutionRequests bool            `json:"ignoreReresolutionRequests"`
}

type jsonConfig struct {
	Children   map[string]*jsonChild `json:"children"`
	Priorities []string              `json:"priorities"`
	Variant    string                `json:"variant"`
}

// ParseConfig parses {"children": {name: {"config": [policy list],
// "ignoreReresolutionRequests": bool}}, "priorities": [names],
// "variant": "fixed"|"buggy"}. Errors name the offending field, as grpc-go's
// priority config parsing does.
func ParseConfig(raw json.RawMessage) (*LBConfig, error) {
	var jc jsonConfig
	if err := json.Unmarshal(raw, &jc); err != nil {
		return nil, fmt.Errorf("priority: invalid config %s: %v", raw, err)
	}
	cfg := &LBConfig{Children: map[string]*Child{}, Priorities: jc.Priorities}
	switch jc.Variant {
	case "", "fixed":
		cfg.Variant = balancergroup.Fixed
	case "buggy":
		cfg.Variant = balancergroup.Buggy
	default:
		return nil, fmt.Errorf("priority: field variant: %q is neither fixed nor buggy", jc.Variant)
	}
	if len(jc.Priorities) == 0 {
		return nil, fmt.Errorf("priority: field priorities is empty: at least one priority is required")
	}
	seen := map[string]bool{}
	for i, name := range jc.Priorities {
		if seen[name] {
			return nil, fmt.Errorf("priority: field priorities[%d]: duplicate priority name %q in %v", i, name, jc.Priorities)
		}
		seen[name] = true
		if jc.Children[name] == nil {
			return nil, fmt.Errorf("priority: field priorities[%d]: priority name %q is not found in field children", i, name)
		}
	}
	for _, name := range sortedKeys(jc.Children) {
		if !seen[name] {
			return nil, fmt.Errorf("priority: field children: child %q is not found in field priorities %v", name, jc.Priorities)
		}
		jch := jc.Children[name]
		if len(jch.Config) == 0 {
			return nil, fmt.Errorf("priority: field children[%q].config is missing", name)
		}
		b, c, err := balancer.ParseConfig(jch.Config)
		if err != nil {
			return nil, fmt.Errorf("priority: field children[%q].config: %w", name, err)
		}
		cfg.Children[name] = &Child{Builder: b, Config: c, IgnoreReresolutionRequests: jch.IgnoreReresolutionRequests}
	}
	return cfg, nil
}
