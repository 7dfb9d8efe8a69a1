package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/detsim/detsim/sim/scenario"
)

func cmdList(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("list", "[-json]", `
Lists the registered scenarios, one line each: variants (the buggy ones,
which reproduce a known bug, are marked "(bug)"; the default is first
marked "*"), parameters with their defaults or draw ranges ("drawn 2..4":
drawn per seed unless given), probes, default strategy and seed budget.
-json prints an array of objects with descriptions and parameter docs.

Exit status: 0, or 2 on bad usage.`)
	asJSON := fs.Bool("json", false, "print a JSON array")
	if _, code, ok := parse(fs, args, 0, 0, stderr); !ok {
		return code
	}
	all := scenario.All()
	if *asJSON {
		out := make([]listJSON, 0, len(all))
		for _, s := range all {
			out = append(out, listEntry(s))
		}
		data, _ := json.MarshalIndent(out, "", "  ")
		fmt.Fprintf(stdout, "%s\n", data)
		return exitPass
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SCENARIO\tVARIANTS\tPARAMETERS\tPROBES\tSTRATEGY\tSEEDS")
	for _, s := range all {
		var vs, ps []string
		for _, v := range s.Variants {
			name := v.Name
			if v.Name == s.DefaultVariant() {
				name += "*"
			}
			if v.Buggy {
				name += " (bug)"
			}
			vs = append(vs, name)
		}
		for _, p := range s.Params {
			ps = append(ps, p.Name+"="+p.Describe())
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\n", s.Name, strings.Join(vs, ", "), orDash(strings.Join(ps, " ")),
			orDash(strings.Join(s.Probes, " ")), strategyName(s), s.SeedBudget())
	}
	tw.Flush()
	return exitPass
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func strategyName(s *scenario.Scenario) string {
	st, err := scenario.Config{Scenario: s}.StrategyOf()
	if err != nil {
		return s.Strategy
	}
	return st.String()
}

type listJSON struct {
	Name        string            `json:"name"`
	Description string            `json:"description"`
	Default     string            `json:"default_variant"`
	Variants    []listVariantJSON `json:"variants"`
	Params      []listParamJSON   `json:"params"`
	Probes      []string          `json:"probes"`
	Strategy    string            `json:"strategy"`
	Seeds       int               `json:"seeds"`
	MaxSteps    int64             `json:"max_steps,omitempty"`
	MaxTimeNs   int64             `json:"max_time_ns,omitempty"`
}

type listVariantJSON struct {
	Name  string `json:"name"`
	Doc   string `json:"doc"`
	Buggy bool   `json:"buggy"`
}

type listParamJSON struct {
	Name    string `json:"name"`
	Doc     string `json:"doc"`
	Default string `json:"default"` // the value, or the draw range when drawn
	Drawn   bool   `json:"drawn"`
}

func listEntry(s *scenario.Scenario) listJSON {
	e := listJSON{
		Name: s.Name, Description: s.Description, Default: s.DefaultVariant(),
		Variants: []listVariantJSON{}, Params: []listParamJSON{}, Probes: append([]string{}, s.Probes...),
		Strategy: strategyName(s), Seeds: s.SeedBudget(), MaxSteps: s.MaxSteps, MaxTimeNs: int64(s.MaxTime),
	}
	for _, v := range s.Variants {
		e.Variants = append(e.Variants, listVariantJSON{v.Name, v.Doc, v.Buggy})
	}
	for _, p := range s.Params {
		e.Params = append(e.Params, listParamJSON{p.Name, p.Doc, p.Default, p.Draw != nil})
	}
	return e
}
