// Package detlint defines an analyzer that keeps sources of
// nondeterminism out of simulated code.
//
// Simulated code runs on detsim's virtual clock under its deterministic
// scheduler, so a run is reproducible from its seed alone. Anything that
// consults the real world (wall clock, OS scheduler, real network or files,
// unseeded randomness, Go's randomised map and select order) silently breaks
// that promise; this analyzer reports such constructs and says which
// simulator facility to use instead.
//
// The rules themselves live in one file per concern: forbidden.go (package
// level functions, types and imports), channels.go (go statements and native
// channel operations) and maprange.go (map iteration order). Which packages
// are checked and how findings are suppressed is in directives.go.
package detlint

import (
	"go/ast"
	"go/token"

	"golang.org/x/tools/go/analysis"
	"golang.org/x/tools/go/analysis/passes/inspect"
	"golang.org/x/tools/go/ast/inspector"
)

// doc is shown by `detlint -h`: singlechecker prints the first paragraph as a
// title and the remaining paragraphs verbatim, so keep it plain text.
const doc = `report nondeterminism in simulated detsim code

A package is simulated, and checked, when a segment of its import path is
"protocols" or "scenarios" (e.g. .../protocols/gossip, .../scenarios/foo), or
when any of its files has the line comment

	//detsim:simulated

on its own line before the package clause. All other packages are never
reported on, so running the checker over ./... is safe. Test files of a
simulated package are checked like any other file; generated files (with a
"Code generated ... DO NOT EDIT." header) are not.

In simulated packages detlint reports:

  - go statements: start tasks with env.Go(name, fn);
  - real-clock functions of package time (Now, Sleep, After, Tick, NewTimer,
    NewTicker, AfterFunc, Since, Until), called or used as values: use the
    env clock (env.Now, env.Sleep, env.NewTimer, ...);
  - blocking primitives of package sync (Mutex, RWMutex, Cond, WaitGroup,
    Once*, Map, Pool; Locker is fine) and anything from sync/atomic: use
    env.NewMutex() and friends, or plain variables;
  - native channel sends, receives, range over channels and every select
    statement: use sim.Chan[T] and sim.Select;
  - imports of math/rand, math/rand/v2 and crypto/rand: use env.Rand(name);
    imports of os/exec, io/ioutil and syscall: do I/O through the env;
  - real network and OS access: net.Dial*/Listen*/Lookup*/Resolve*/...,
    net.Dialer, net.ListenConfig, net.Resolver, and every function and
    variable of package os except its Err* values and Is* helpers;
  - range over a map that binds a key or value (including type parameters
    constrained to maps), and maps.Keys/Values/All unless wrapped in
    slices.Sorted, slices.SortedFunc or slices.SortedStableFunc (or consumed
    by maps.Collect/maps.Insert): iterate sorted keys or keep a slice.

To accept a finding, put a line comment

	//detsim:allow <reason>

at the end of the reported line or alone on the line immediately above it.
The reason is mandatory: a bare //detsim:allow suppresses nothing and is
itself reported.

Exit status: 0 when nothing is reported, 3 when there are findings, 1 when
the packages could not be loaded or type-checked. With -json findings are
printed as JSON and do not change the exit status.`

// Analyzer reports sources of nondeterminism in simulated packages.
var Analyzer = &analysis.Analyzer{
	Name:     "detlint",
	Doc:      doc,
	Requires: []*analysis.Analyzer{inspect.Analyzer},
	Run:      run,
}

// checker carries the per-package state shared by all rules.
type checker struct {
	pass    *analysis.Pass
	allowed allowSet
}

func run(pass *analysis.Pass) (any, error) {
	if !isSimulated(pass) {
		return nil, nil
	}
	c := &checker{pass: pass, allowed: collectAllows(pass)}

	in := pass.ResultOf[inspect.Analyzer].(*inspector.Inspector)
	filter := []ast.Node{
		(*ast.GoStmt)(nil),
		(*ast.SelectStmt)(nil),
		(*ast.SendStmt)(nil),
		(*ast.UnaryExpr)(nil),
		(*ast.RangeStmt)(nil),
		(*ast.Ident)(nil),
	}
	for fileCur := range in.Root().Children() {
		f := fileCur.Node().(*ast.File)
		if ast.IsGenerated(f) {
			// Nobody can act on a finding in generated code (for
			// instance protoc-gen-go emits sync.Once), and the fix
			// belongs in the generator anyway.
			continue
		}
		c.checkImports(f)
		// A cursor rather than a plain node visitor, because several
		// rules depend on where a node sits: a receive that is a select
		// case, an identifier that is the Sel of pkg.Name, maps.Keys
		// wrapped in slices.Sorted.
		for cur := range fileCur.Preorder(filter...) {
			switch n := cur.Node().(type) {
			case *ast.GoStmt:
				c.checkGo(n)
			case *ast.SelectStmt:
				c.checkSelect(n)
			case *ast.SendStmt:
				c.checkSend(cur, n)
			case *ast.UnaryExpr:
				c.checkRecv(cur, n)
			case *ast.RangeStmt:
				c.checkRange(n)
			case *ast.Ident:
				c.checkIdent(cur, n)
			}
		}
	}
	return nil, nil
}

// report emits a diagnostic for [pos, end) unless a //detsim:allow comment
// covers the line of pos. category names the rule, for JSON consumers.
func (c *checker) report(pos, end token.Pos, category, msg string) {
	if c.allowed.covers(c.pass.Fset, pos) {
		return
	}
	c.pass.Report(analysis.Diagnostic{
		Pos:      pos,
		End:      end,
		Category: category,
		Message:  msg,
	})
}
