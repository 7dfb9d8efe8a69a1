package outlierdetection

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/detsim/detsim/protocols/grpc/balancer"
)

// LBConfig is the parsed config of the outlier_detection_experimental
// policy (gRPC A50).
type LBConfig struct {
	Interval           time.Duration
	BaseEjectionTime   time.Duration
	MaxEjectionTime    time.Duration
	MaxEjectionPercent uint32
	// At most one of the algorithms may be nil; with both nil the policy
	// is a no-op wrapper around its child.
	SuccessRateEjection       *SuccessRateEjection
	FailurePercentageEjection *FailurePercentageEjection
	// ChildPolicy builds the child; ChildConfig is its parsed config.
	ChildPolicy balancer.Builder
	ChildConfig balancer.LBConfig
}

// SuccessRateEjection configures success-rate ejection (A50 defaults:
// stdevFactor 1900, enforcementPercentage 100, minimumHosts 5,
// requestVolume 100).
type SuccessRateEjection struct {
	StdevFactor           uint32
	EnforcementPercentage uint32
	MinimumHosts          uint32
	RequestVolume         uint32
}

// FailurePercentageEjection configures failure-percentage ejection (A50
// defaults: threshold 85, enforcementPercentage 100, minimumHosts 5,
// requestVolume 50).
type FailurePercentageEjection struct {
	Threshold             uint32
	EnforcementPercentage uint32
	MinimumHosts          uint32
	RequestVolume         uint32
}

func (c *LBConfig) noop() bool {
	return c == nil || (c.SuccessRateEjection == nil && c.FailurePercentageEjection == nil)
}

// Defaults (A50).
const (
	DefaultInterval           = 10 * time.Second
	DefaultBaseEjectionTime   = 30 * time.Second
	DefaultMaxEjectionTime    = 300 * time.Second
	DefaultMaxEjectionPercent = 10
)

type rawSRE struct {
	StdevFactor           *int64 `json:"stdevFactor"`
	EnforcementPercentage *int64 `json:"enforcementPercentage"`
	MinimumHosts          *int64 `json:"minimumHosts"`
	RequestVolume         *int64 `json:"requestVolume"`
}

type rawFPE struct {
	Threshold             *int64 `json:"threshold"`
	EnforcementPercentage *int64 `json:"enforcementPercentage"`
	MinimumHosts          *int64 `json:"minimumHosts"`
	RequestVolume         *int64 `json:"requestVolume"`
}

type rawConfig struct {
	Interval                  *string         `json:"interval"`
	BaseEjectionTime          *string         `json:"baseEjectionTime"`
	MaxEjectionTime           *string         `json:"maxEjectionTime"`
	MaxEjectionPercent        *int64          `json:"maxEjectionPercent"`
	SuccessRateEjection       *rawSRE         `json:"successRateEjection"`
	FailurePercentageEjection *rawFPE         `json:"failurePercentageEjection"`
	ChildPolicy               json.RawMessage `json:"childPolicy"`
}

// parseConfig parses and validates a config; errors name the JSON field.
func parseConfig(js json.RawMessage) (*LBConfig, error) {
	var raw rawConfig
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("invalid config %s: %v", js, err)
	}
	cfg := &LBConfig{}
	var err error
	if cfg.Interval, err = duration("interval", raw.Interval, DefaultInterval, true); err != nil {
		return nil, err
	}
	if cfg.BaseEjectionTime, err = duration("baseEjectionTime", raw.BaseEjectionTime, DefaultBaseEjectionTime, false); err != nil {
		return nil, err
	}
	if cfg.MaxEjectionTime, err = duration("maxEjectionTime", raw.MaxEjectionTime, DefaultMaxEjectionTime, false); err != nil {
		return nil, err
	}
	if cfg.MaxEjectionPercent, err = number("maxEjectionPercent", raw.MaxEjectionPercent, DefaultMaxEjectionPercent, 100); err != nil {
		return nil, err
	}
	if s := raw.SuccessRateEjection; s != nil {
		sre := &SuccessRateEjection{}
		if sre.StdevFactor, err = number("successRateEjection.stdevFactor", s.StdevFactor, 1900, math.MaxUint32); err != nil {
			return nil, err
		}
		if sre.EnforcementPercentage, err = number("successRateEjection.enforcementPercentage", s.EnforcementPercentage, 100, 100); err != nil {
			return nil, err
		}
		if sre.MinimumHosts, err = number("successRateEjection.minimumHosts", s.MinimumHosts, 5, math.MaxUint32); err != nil {
			return nil, err
		}
		if sre.RequestVolume, err = number("successRateEjection.requestVolume", s.RequestVolume, 100, math.MaxUint32); err != nil {
			return nil, err
		}
		cfg.SuccessRateEjection = sre
	}
	if f := raw.FailurePercentageEjection; f != nil {
		fpe := &FailurePercentageEjection{}
		if fpe.Threshold, err = number("failurePercentageEjection.threshold", f.Threshold, 85, 100); err != nil {
			return nil, err
		}
		if fpe.EnforcementPercentage, err = number("failurePercentageEjection.enforcementPercentage", f.EnforcementPercentage, 100, 100); err != nil {
			return nil, err
		}
		if fpe.MinimumHosts, err = number("failurePercentageEjection.minimumHosts", f.MinimumHosts, 5, math.MaxUint32); err != nil {
			return nil, err
		}
		if fpe.RequestVolume, err = number("failurePercentageEjection.requestVolume", f.RequestVolume, 50, math.MaxUint32); err != nil {
			return nil, err
		}
		cfg.FailurePercentageEjection = fpe
	}
	if len(raw.ChildPolicy) == 0 || string(raw.ChildPolicy) == "null" {
		return nil, fmt.Errorf("childPolicy: required (an LB policy list such as [{\"round_robin\":{}}])")
	}
	if cfg.ChildPolicy, cfg.ChildConfig, err = balancer.ParseConfig(raw.ChildPolicy); err != nil {
		return nil, fmt.Errorf("childPolicy: %w", err)
	}
	return cfg, nil
}

func duration(field string, s *string, def time.Duration, positive bool) (time.Duration, error) {
	if s == nil {
		return def, nil
	}
	d, err := time.ParseDuration(*s)
	if err != nil {
		return 0, fmt.Errorf("%s = %q: not a Go duration (e.g. \"10s\"): %v", field, *s, err)
	}
	if positive && d <= 0 {
		return 0, fmt.Errorf("%s = %v: must be > 0", field, d)
	}
	if d < 0 {
		return 0, fmt.Errorf("%s = %v: must be >= 0", field, d)
	}
	return d, nil
}

func number(field string, v *int64, def uint32, maxValue int64) (uint32, error) {
	if v == nil {
		return def, nil
	}
	if *v < 0 || *v > maxValue {
		return 0, fmt.Errorf("%s = %d: must be in [0, %d]", field, *v, maxValue)
	}
	return uint32(*v), nil
}
