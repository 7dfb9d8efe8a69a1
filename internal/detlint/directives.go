package detlint

import (
	"go/ast"
	"go/token"
	"strings"

	"golang.org/x/tools/go/analysis"
)

const (
	simulatedDirective = "//detsim:simulated"
	allowDirective     = "//detsim:allow"
)

// simulatedSegments are the import path segments that mark a package as
// simulated by convention, without needing the opt-in directive.
var simulatedSegments = map[string]bool{
	"protocols": true,
	"scenarios": true,
}

// isSimulated reports whether the package under analysis must be checked.
func isSimulated(pass *analysis.Pass) bool {
	path := pass.Pkg.Path()
	if pass.Pkg.Name() == "main" && strings.HasSuffix(path, ".test") {
		// The test main that "go test" synthesises for .../protocols/p
		// is .../protocols/p.test; it runs outside the simulation by
		// construction (it calls os.Exit).
		return false
	}
	if isSimulatedPath(path) {
		return true
	}
	for _, f := range pass.Files {
		if hasSimulatedDirective(f) {
			return true
		}
	}
	return false
}

// isSimulatedPath reports whether some whole segment of path is one of
// simulatedSegments. Matching whole segments (not substrings) keeps
// .../myprotocolsx or .../protocolsutil out.
func isSimulatedPath(path string) bool {
	segs := strings.Split(path, "/")
	// The external test package of .../scenarios is .../scenarios_test; it
	// tests simulated code and must be held to the same rules.
	last := len(segs) - 1
	segs[last] = strings.TrimSuffix(segs[last], "_test")
	for _, s := range segs {
		if simulatedSegments[s] {
			return true
		}
	}
	return false
}

// hasSimulatedDirective reports whether f opts its package in with
// //detsim:simulated before the package clause. Only comments before the
// clause count, mirroring //go:build, so the directive is visible at a glance
// at the top of the file.
func hasSimulatedDirective(f *ast.File) bool {
	for _, cg := range f.Comments {
		if cg.Pos() >= f.Package {
			break // f.Comments is sorted by position
		}
		for _, cm := range cg.List {
			if _, ok := directiveArg(cm.Text, simulatedDirective); ok {
				return true
			}
		}
	}
	return false
}

// directiveArg reports whether text is the line comment directive followed
// by nothing or by whitespace, and returns the trimmed remainder.
// "//detsim:allowed" is therefore not an allow directive.
func directiveArg(text, directive string) (string, bool) {
	rest, ok := strings.CutPrefix(text, directive)
	if !ok {
		return "", false
	}
	if rest != "" && rest[0] != ' ' && rest[0] != '\t' {
		return "", false
	}
	return strings.TrimSpace(rest), true
}

// lineKey identifies a physical source line. Positions are taken without
// //line adjustment so that a comment and the code it annotates are compared
// in the same coordinate system they were written in.
type lineKey struct {
	file string
	line int
}

// allowSet holds the lines on which findings are suppressed.
type allowSet map[lineKey]bool

func (s allowSet) covers(fset *token.FileSet, pos token.Pos) bool {
	p := fset.PositionFor(pos, false)
	return s[lineKey{p.Filename, p.Line}]
}

// collectAllows finds every //detsim:allow comment in the package. A comment
// with a reason covers its own line and, if nothing but whitespace precedes
// it, also the next line. A comment without a reason covers nothing and is
// reported: an unexplained exception is exactly what the reviewer of a
// determinism bug will need explained.
func collectAllows(pass *analysis.Pass) allowSet {
	set := make(allowSet)
	for _, f := range pass.Files {
		if ast.IsGenerated(f) {
			continue // not checked, see run
		}
		var src []byte // read lazily: most files have no allow comments
		for _, cg := range f.Comments {
			for _, cm := range cg.List {
				reason, ok := directiveArg(cm.Text, allowDirective)
				if !ok {
					continue
				}
				if reason == "" {
					pass.Report(analysis.Diagnostic{
						Pos:      cm.Pos(),
						End:      cm.End(),
						Category: "allow",
						Message:  "detsim:allow needs a reason: write //detsim:allow <why this is deterministic>",
					})
					continue
				}
				p := pass.Fset.PositionFor(cm.Pos(), false)
				set[lineKey{p.Filename, p.Line}] = true
				if src == nil {
					src = readSource(pass, p.Filename)
				}
				if startsLine(src, p.Offset) {
					set[lineKey{p.Filename, p.Line + 1}] = true
				}
			}
		}
	}
	return set
}

// readSource returns the content of a package file, or an empty non-nil
// slice if it cannot be read (then no comment is considered to start its
// line, which errs on the side of reporting).
func readSource(pass *analysis.Pass, filename string) []byte {
	src, err := pass.ReadFile(filename)
	if err != nil || src == nil {
		return []byte{}
	}
	return src
}

// startsLine reports whether only blanks precede offset on its line. A
// trailing //detsim:allow annotates the code before it, not the next line;
// letting it leak downwards would silently suppress an unrelated finding.
func startsLine(src []byte, offset int) bool {
	if offset > len(src) {
		return false
	}
	for i := offset - 1; i >= 0; i-- {
		switch src[i] {
		case '\n':
			return true
		case ' ', '\t', '\r':
		default:
			return false
		}
	}
	return true
}
