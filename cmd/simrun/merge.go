package main

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"

	"github.com/detsim/detsim/sim"
	"github.com/detsim/detsim/sim/scenario"
)

func cmdMerge(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("merge", "FILE... [-json FILE]", `
Combines the -json files of the shards of one sweep (simrun sweep -shard I/N
-json FILE, for I = 0..N-1, on one machine or several) into one summary,
printed like sweep's: it equals the summary of the unsharded sweep, except
for wall time, which is the sum of the shards' wall times.

The files must come from the same scenario, variant, strategy, parameters and
seed range, and be distinct shards of the same count, all present.

Exit status: 0 no failure, 1 at least one failure, 2 bad usage or input.`)
	jsonOut := fs.String("json", "", "also write the merged summary as JSON to `FILE`")
	pos, code, ok := parse(fs, args, 1, -1, stderr)
	if !ok {
		return code
	}
	if *jsonOut != "" {
		if err := checkWritableFile("-json", *jsonOut); err != nil {
			return failf(stderr, "merge: %v", err)
		}
	}
	var parts []*sweepSummary
	for _, path := range pos {
		s, err := readSummary(path)
		if err != nil {
			return failf(stderr, "merge: %v", err)
		}
		parts = append(parts, s)
	}
	sum, err := merge(parts, pos)
	if err != nil {
		return failf(stderr, "merge: %v", err)
	}
	fmt.Fprintf(stdout, "merge of %d files: %s/%s seeds %s", len(pos), sum.Scenario, sum.Variant, sum.Seeds)
	if sum.Shard != nil {
		fmt.Fprintf(stdout, " shard %s", sum.Shard)
	}
	fmt.Fprintf(stdout, ", strategy %s", sum.Strategy)
	if len(sum.Params) > 0 {
		fmt.Fprintf(stdout, ", %s", paramFlag(sum.Params))
	}
	fmt.Fprintln(stdout)
	sum.print(stdout)
	if *jsonOut != "" {
		if err := sum.writeJSON(*jsonOut); err != nil {
			return failf(stderr, "merge: writing -json: %v", err)
		}
		fmt.Fprintf(stdout, "summary written to %s\n", *jsonOut)
	}
	if sum.Failures > 0 {
		return exitFail
	}
	return exitPass
}

// readSummary reads and checks one sweep -json file.
func readSummary(path string) (*sweepSummary, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var s sweepSummary
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("%s: not a sweep -json file: %v", path, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%s: trailing data after the JSON object", path)
	}
	if err := s.validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &s, nil
}

func (s *sweepSummary) validate() error {
	sc, err := scenario.Lookup(s.Scenario)
	if err != nil {
		return err
	}
	if _, err := sc.Variant(s.Variant); err != nil || s.Variant == "" {
		return fmt.Errorf("scenario %s: unknown variant %q", s.Scenario, s.Variant)
	}
	if _, err := sim.ParseStrategy(s.Strategy); err != nil {
		return err
	}
	if s.Seeds.From >= s.Seeds.To {
		return fmt.Errorf("seeds %s: empty range", s.Seeds)
	}
	if s.Shard != nil && (s.Shard.Count < 1 || s.Shard.Index < 0 || s.Shard.Index >= s.Shard.Count) {
		return fmt.Errorf("shard %s: want I/N with 0 <= I < N", s.Shard)
	}
	if s.Runs < 0 || s.Failures < 0 || s.Failures > s.Runs || s.Failures != len(s.Failing) {
		return fmt.Errorf("%d failures (%d listed) in %d runs: inconsistent counts", s.Failures, len(s.Failing), s.Runs)
	}
	if s.Params == nil {
		s.Params = map[string]string{}
	}
	for _, d := range s.Metrics {
		if d == nil {
			return errors.New("a metric without data")
		}
		for _, h := range d.Hist {
			if h[1] < 1 || h[1] != float64(int(h[1])) {
				return fmt.Errorf("metric histogram count %v is not a positive integer", h[1])
			}
		}
	}
	for name, n := range s.ProbeRuns {
		if n < 0 || n > s.Runs {
			return fmt.Errorf("probe %s reached in %d of %d runs", name, n, s.Runs)
		}
	}
	return nil
}

// merge combines shard summaries (names are the files, for errors).
func merge(parts []*sweepSummary, names []string) (*sweepSummary, error) {
	first := parts[0]
	if len(parts) == 1 {
		first.finish()
		return first, nil
	}
	seen := map[int]string{}
	for i, p := range parts {
		switch {
		case p.Scenario != first.Scenario || p.Variant != first.Variant:
			return nil, fmt.Errorf("%s is a sweep of %s/%s, %s of %s/%s", names[i], p.Scenario, p.Variant, names[0], first.Scenario, first.Variant)
		case p.Strategy != first.Strategy:
			return nil, fmt.Errorf("%s used strategy %s, %s %s", names[i], p.Strategy, names[0], first.Strategy)
		case p.Seeds != first.Seeds:
			return nil, fmt.Errorf("%s swept seeds %s, %s %s", names[i], p.Seeds, names[0], first.Seeds)
		case !maps.Equal(p.Params, first.Params):
			return nil, fmt.Errorf("%s was given parameters %q, %s %q", names[i], paramFlag(p.Params), names[0], paramFlag(first.Params))
		case p.UntilFail != first.UntilFail:
			return nil, fmt.Errorf("%s and %s differ in -until-fail", names[i], names[0])
		case p.Shard == nil:
			return nil, fmt.Errorf("%s is not a shard (sweep -shard I/N): nothing to merge it with", names[i])
		case p.Shard.Count != first.Shard.Count:
			return nil, fmt.Errorf("%s is shard %s, %s shard %s: different shard counts", names[i], p.Shard, names[0], first.Shard)
		}
		if other, dup := seen[p.Shard.Index]; dup {
			return nil, fmt.Errorf("%s and %s are both shard %s", other, names[i], p.Shard)
		}
		seen[p.Shard.Index] = names[i]
	}
	for i := range first.Shard.Count {
		if _, ok := seen[i]; !ok {
			return nil, fmt.Errorf("shard %d/%d is missing", i, first.Shard.Count)
		}
	}

	m := &sweepSummary{
		Scenario: first.Scenario, Variant: first.Variant, Strategy: first.Strategy, Params: first.Params,
		Seeds: first.Seeds, UntilFail: first.UntilFail, Failing: []failingSeed{},
		Metrics: map[string]*metricDist{}, ProbeRuns: map[string]int{},
	}
	hists := map[string]map[float64]float64{}
	for _, p := range parts {
		m.Runs += p.Runs
		m.Failures += p.Failures
		m.SimNs += p.SimNs
		m.WallNs += p.WallNs
		m.Failing = append(m.Failing, p.Failing...)
		for name, d := range p.Metrics {
			md := m.metric(name)
			md.NonFinite += d.NonFinite
			if hists[name] == nil {
				hists[name] = map[float64]float64{}
			}
			for _, h := range d.Hist {
				hists[name][h[0]] += h[1]
			}
		}
		for name, n := range p.ProbeRuns {
			m.ProbeRuns[name] += n
		}
	}
	slices.SortFunc(m.Failing, func(a, b failingSeed) int { return cmp.Compare(a.Seed, b.Seed) })
	for i := 1; i < len(m.Failing); i++ {
		if m.Failing[i].Seed == m.Failing[i-1].Seed {
			return nil, fmt.Errorf("seed %d failed in two shards: the shards overlap", m.Failing[i].Seed)
		}
	}
	for name, h := range hists {
		d := m.Metrics[name]
		for _, v := range slices.Sorted(maps.Keys(h)) {
			d.Hist = append(d.Hist, [2]float64{v, h[v]})
		}
	}
	m.finish()
	return m, nil
}
