// Command benchmd turns `go test -bench` output into Markdown tables for
// the benchmark summary that `make bench` writes: one table per input
// file, one row per benchmark, and for benchmarks grouped as
// Group/ref=... and Group/sim=... the ratio of each to the group's first
// reference.
//
//	go run ./internal/benchmd FILE...
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

type result struct {
	name    string
	metrics []metric // in the order go test printed them
}

type metric struct {
	value float64
	unit  string
}

func (r result) get(unit string) (float64, bool) {
	for _, m := range r.metrics {
		if m.unit == unit {
			return m.value, true
		}
	}
	return 0, false
}

// parse reads the benchmark lines of go test -bench output.
func parse(r io.Reader) ([]result, error) {
	var out []result
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		res := result{name: strings.TrimPrefix(f[0], "Benchmark")}
		if i := strings.LastIndex(res.name, "-"); i > 0 {
			if _, err := strconv.Atoi(res.name[i+1:]); err == nil {
				res.name = res.name[:i] // the GOMAXPROCS suffix
			}
		}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				return nil, fmt.Errorf("line %q: value %q: %v", sc.Text(), f[i], err)
			}
			res.metrics = append(res.metrics, metric{v, f[i+1]})
		}
		out = append(out, res)
	}
	return out, sc.Err()
}

func format(v float64) string {
	switch {
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
}

// table writes one Markdown table of results.
func table(w io.Writer, title string, rs []result) {
	var units []string
	seen := map[string]bool{}
	for _, r := range rs {
		for _, m := range r.metrics {
			if !seen[m.unit] {
				seen[m.unit] = true
				units = append(units, m.unit)
			}
		}
	}
	fmt.Fprintf(w, "## %s\n\n| benchmark | %s | vs reference |\n|---|%s---|\n", title, strings.Join(units, " | "), strings.Repeat("---|", len(units)))
	refs := map[string]result{}
	for _, r := range rs {
		group, sub, ok := strings.Cut(r.name, "/")
		if ok && strings.HasPrefix(sub, "ref=") {
			if _, have := refs[group]; !have {
				refs[group] = r
			}
		}
	}
	for _, r := range rs {
		cells := []string{r.name}
		for _, u := range units {
			if v, ok := r.get(u); ok {
				cells = append(cells, format(v))
			} else {
				cells = append(cells, "")
			}
		}
		ratio := ""
		group, sub, _ := strings.Cut(r.name, "/")
		if ref, ok := refs[group]; ok && strings.HasPrefix(sub, "sim=") {
			a, okA := r.get("ns/op")
			b, okB := ref.get("ns/op")
			if okA && okB && b > 0 {
				ratio = fmt.Sprintf("%.2fx %s", a/b, strings.TrimPrefix(strings.SplitN(ref.name, "/", 2)[1], "ref="))
			}
		}
		cells = append(cells, ratio)
		fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | "))
	}
	fmt.Fprintln(w)
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: benchmd FILE... (go test -bench output)")
		os.Exit(2)
	}
	for _, path := range os.Args[1:] {
		f, err := os.Open(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, "benchmd:", err)
			os.Exit(2)
		}
		rs, err := parse(f)
		f.Close()
		if err != nil {
			fmt.Fprintf(os.Stderr, "benchmd: %s: %v\n", path, err)
			os.Exit(2)
		}
		if len(rs) == 0 {
			fmt.Fprintf(os.Stderr, "benchmd: %s: no benchmark results\n", path)
			os.Exit(2)
		}
		table(os.Stdout, "go test -bench: "+filepath.Base(path), rs)
	}
}
