package detlint

import (
	"fmt"
	"testing"

	"golang.org/x/tools/go/analysis/analysistest"
)

// Packages under testdata/src whose findings are spelled out by their
// "// want" comments.
var simulatedTestPkgs = []string{
	"example.com/app/protocols/p", // every rule, suppression, test files
	"example.com/app/scenarios",   // segment match, external test package
	"example.com/app/scenarios/foo",
	"example.com/app/optin", // //detsim:simulated directive
}

// Packages under testdata/src that are full of forbidden code but must not
// be reported on.
var plainTestPkgs = []string{
	"example.com/app/tools",
	"example.com/app/myprotocolsx", // substring, not a segment
	"example.com/app/late",         // directive after the package clause
}

func TestAnalyzer(t *testing.T) {
	pkgs := append(append([]string{}, simulatedTestPkgs...), plainTestPkgs...)
	analysistest.Run(t, analysistest.TestData(), Analyzer, pkgs...)
}

// TestPlainPackagesHaveFindings guards TestAnalyzer against passing
// vacuously: forced to count as simulated, each plain package must produce
// findings, so its silence in TestAnalyzer is due to the package gate alone.
func TestPlainPackagesHaveFindings(t *testing.T) {
	for _, path := range plainTestPkgs {
		t.Run(path, func(t *testing.T) {
			seg := path[len("example.com/app/"):]
			simulatedSegments[seg] = true
			defer delete(simulatedSegments, seg)

			// The packages have no "// want" comments, so every finding
			// is an "unexpected diagnostic" error: collect rather than fail.
			var rec recorder
			n := 0
			for _, r := range analysistest.Run(&rec, analysistest.TestData(), Analyzer, path) {
				if r.Err != nil {
					t.Fatalf("analysis failed: %v", r.Err)
				}
				n += len(r.Action.Diagnostics)
			}
			if n == 0 {
				t.Errorf("got no findings when forced to be simulated")
			}
		})
	}
}

// recorder is an analysistest.Testing that keeps errors instead of failing.
type recorder struct{ errs []string }

func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func TestIsSimulatedPath(t *testing.T) {
	for path, want := range map[string]bool{
		"github.com/detsim/detsim/protocols/gossip":    true,
		"github.com/detsim/detsim/protocols":           true,
		"github.com/detsim/detsim/scenarios":           true,
		"github.com/detsim/detsim/scenarios/foo":       true,
		"github.com/detsim/detsim/scenarios_test":      true,
		"github.com/detsim/detsim/protocols/raft_test": true,
		"protocols":                                     true,
		"github.com/detsim/detsim/sim":                  false,
		"github.com/detsim/detsim/myprotocolsx":         false,
		"github.com/detsim/detsim/protocolsutil":        false,
		"github.com/detsim/detsim/internal/detlint":     false,
		"github.com/detsim/detsim/scenariosx/protocol":  false,
		"github.com/detsim/detsim/cmd/scenarios-runner": false,
	} {
		if got := isSimulatedPath(path); got != want {
			t.Errorf("isSimulatedPath(%q) = %v, want %v", path, got, want)
		}
	}
}

func TestDirectiveArg(t *testing.T) {
	for _, tc := range []struct {
		text   string
		arg    string
		wantOK bool
	}{
		{"//detsim:allow", "", true},
		{"//detsim:allow  \t", "", true},
		{"//detsim:allow because", "because", true},
		{"//detsim:allow\tbecause ", "because", true},
		{"//detsim:allowed", "", false},
		{"// detsim:allow because", "", false},
		{"/*detsim:allow because*/", "", false},
	} {
		arg, ok := directiveArg(tc.text, allowDirective)
		if arg != tc.arg || ok != tc.wantOK {
			t.Errorf("directiveArg(%q) = %q, %v; want %q, %v", tc.text, arg, ok, tc.arg, tc.wantOK)
		}
	}
}

func TestStartsLine(t *testing.T) {
	src := []byte("x := 1 // a\n\t\t// b\n// c")
	for _, tc := range []struct {
		offset int
		want   bool
	}{
		{7, false}, // "// a" follows code
		{14, true}, // "// b" is indented only
		{19, true}, // "// c" starts the last line
		{0, true},  // start of file
	} {
		if got := startsLine(src, tc.offset); got != tc.want {
			t.Errorf("startsLine(%d) = %v, want %v", tc.offset, got, tc.want)
		}
	}
}
