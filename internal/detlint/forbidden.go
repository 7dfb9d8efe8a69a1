package detlint

import (
	"go/ast"
	"go/types"
	"strconv"

	"golang.org/x/tools/go/ast/edge"
	"golang.org/x/tools/go/ast/inspector"
)

// forbiddenImports are packages whose mere import is reported: nothing in
// them is usable in simulated code, so the import is the clearest place to
// say so (once, instead of at every use).
var forbiddenImports = map[string]string{
	"math/rand":    "math/rand is global/unseeded randomness: use env.Rand(name), a stream derived from the run's seed",
	"math/rand/v2": "math/rand/v2 is global/unseeded randomness: use env.Rand(name), a stream derived from the run's seed",
	"crypto/rand":  "crypto/rand reads OS entropy that no seed can replay: use env.Rand(name), a stream derived from the run's seed",
	"os/exec":      "os/exec runs real processes outside the simulation: do I/O through the environment handle",
	"io/ioutil":    "io/ioutil does real file I/O outside the simulation: do I/O through the environment handle",
	"syscall":      "syscall talks to the real OS outside the simulation: do I/O through the environment handle",
}

// timeMessages lists the package time functions that read or wait on the
// real clock. Types (Duration, Time, Timer), constants and pure functions
// such as time.Unix stay allowed: they are deterministic.
var timeMessages = map[string]string{
	"Now":       "time.Now reads the real clock: use env.Now()",
	"Since":     "time.Since reads the real clock: use env.Since(t)",
	"Until":     "time.Until reads the real clock: use env.Until(t)",
	"Sleep":     "time.Sleep blocks on the real clock: use env.Sleep(d)",
	"After":     "time.After fires on the real clock: use env.NewTimer(d)",
	"NewTimer":  "time.NewTimer fires on the real clock: use env.NewTimer(d)",
	"AfterFunc": "time.AfterFunc fires on the real clock: use env.AfterFunc(d, f)",
	"Tick":      "time.Tick fires on the real clock: use env.NewTicker(d)",
	"NewTicker": "time.NewTicker fires on the real clock: use env.NewTicker(d)",
}

// syncMessages lists the package sync identifiers whose use is reported.
// They block (or exist to coordinate) real goroutines, which the
// deterministic scheduler cannot see. sync.Locker is deliberately missing:
// it is just an interface, and the env primitives can satisfy it.
var syncMessages = map[string]string{
	"Mutex":      "sync.Mutex blocks outside the simulator: use env.NewMutex()",
	"RWMutex":    "sync.RWMutex blocks outside the simulator: use env.NewRWMutex()",
	"Cond":       "sync.Cond blocks outside the simulator: use env.NewCond(l)",
	"NewCond":    "sync.NewCond blocks outside the simulator: use env.NewCond(l)",
	"WaitGroup":  "sync.WaitGroup blocks outside the simulator: use env.NewWaitGroup()",
	"Once":       "sync.Once blocks outside the simulator: use env.NewOnce()",
	"OnceFunc":   "sync.OnceFunc blocks outside the simulator: use env.NewOnce()",
	"OnceValue":  "sync.OnceValue blocks outside the simulator: use env.NewOnce()",
	"OnceValues": "sync.OnceValues blocks outside the simulator: use env.NewOnce()",
	"Map":        "sync.Map is built for real concurrency: keep state in plain maps/slices owned by one task",
	"Pool":       "sync.Pool is built for real concurrency: keep state in plain maps/slices owned by one task",
}

// netIO lists the package net functions, types and variables that perform
// or configure real network I/O. Interfaces and plain data types
// (net.Conn, net.Addr, net.IP, net.UDPAddr, ...) and error values stay
// allowed so that simulated networks can speak the same types.
var netIO = setOf(
	"Dial", "DialTimeout", "DialTCP", "DialUDP", "DialIP", "DialUnix",
	"Listen", "ListenPacket", "ListenTCP", "ListenUDP", "ListenIP",
	"ListenUnix", "ListenUnixgram", "ListenMulticastUDP",
	"FileConn", "FileListener", "FilePacketConn",
	"Interfaces", "InterfaceAddrs", "InterfaceByIndex", "InterfaceByName",
	"LookupAddr", "LookupCNAME", "LookupHost", "LookupIP", "LookupMX",
	"LookupNS", "LookupPort", "LookupSRV", "LookupTXT",
	"ResolveIPAddr", "ResolveTCPAddr", "ResolveUDPAddr", "ResolveUnixAddr",
	"Pipe",
	// Types whose only purpose is to configure real dialing or resolving.
	"Dialer", "ListenConfig", "Resolver",
	// The process-wide *Resolver, i.e. the Resolver type by another name.
	"DefaultResolver",
)

// osAllowed are the package os functions and variables that are pure: error
// values to compare against and predicates over errors. Everything else in
// os that is a function or variable touches the real process or machine.
var osAllowed = setOf(
	"ErrClosed", "ErrDeadlineExceeded", "ErrExist", "ErrNotExist",
	"ErrInvalid", "ErrPermission", "ErrNoDeadline", "ErrProcessDone",
	"IsExist", "IsNotExist", "IsPermission", "IsTimeout",
)

func setOf(names ...string) map[string]bool {
	s := make(map[string]bool, len(names))
	for _, n := range names {
		s[n] = true
	}
	return s
}

// checkImports reports imports of forbidden packages, whatever their local
// name (renamed, dot or blank imports included).
func (c *checker) checkImports(f *ast.File) {
	for _, spec := range f.Imports {
		path, err := strconv.Unquote(spec.Path.Value)
		if err != nil {
			continue // cannot happen in a package that type-checked
		}
		if msg, ok := forbiddenImports[path]; ok {
			c.report(spec.Pos(), spec.End(), "import", msg)
		}
	}
}

// checkIdent reports a use of a forbidden package-level object. Working on
// identifiers resolved by the type checker (rather than on the text
// "time.Now") covers calls and function values alike, and handles renamed
// and dot imports as well as local variables that shadow a package name.
func (c *checker) checkIdent(cur inspector.Cursor, id *ast.Ident) {
	obj := c.pass.TypesInfo.Uses[id]
	if obj == nil || obj.Pkg() == nil {
		return
	}
	if fn, ok := obj.(*types.Func); ok {
		obj = fn.Origin() // sync.OnceValue[int] -> sync.OnceValue
	}
	// Only package-level objects: this leaves out methods (timer.Stop()),
	// struct fields (net.Dialer{Timeout: d}) and locals.
	if obj.Pkg().Scope().Lookup(obj.Name()) != obj {
		return
	}

	if obj.Pkg().Path() == "maps" {
		c.checkMapsIter(cur, obj)
		return
	}
	category, msg, ok := forbiddenObject(obj)
	if !ok {
		return
	}
	// Report pkg.Name as a whole so the column points at the qualifier.
	start := id.Pos()
	if cur.ParentEdgeKind() == edge.SelectorExpr_Sel {
		start = cur.Parent().Node().Pos()
	}
	c.report(start, id.End(), category, msg)
}

// forbiddenObject decides whether a package-level object may be used in
// simulated code, and if not, why and what to use instead.
func forbiddenObject(obj types.Object) (category, msg string, ok bool) {
	name := obj.Name()
	switch obj.Pkg().Path() {
	case "time":
		msg, ok = timeMessages[name]
		return "clock", msg, ok
	case "sync":
		msg, ok = syncMessages[name]
		return "sync", msg, ok
	case "sync/atomic":
		// Every exported name of sync/atomic (functions and the Int64,
		// Value, Pointer[T], ... types) exists for real concurrency.
		return "sync", "atomic." + name + " (sync/atomic) in simulated code: only one task runs at a time, " +
			"use plain variables (guarded by env.NewMutex() if shared across blocking points)", true
	case "net":
		if netIO[name] {
			return "io", "net." + name + " does real network I/O: use the node's network from the environment handle", true
		}
	case "os":
		// Types (os.File, os.FileMode) and constants (os.O_RDONLY) are
		// harmless on their own; only functions and variables reach the
		// real process: os.Getenv, os.ReadFile, os.Args, os.Stdout, ...
		switch obj.(type) {
		case *types.Func, *types.Var:
			if !osAllowed[name] {
				return "io", "os." + name + " is outside the simulation: pass it in through the environment or scenario parameters", true
			}
		}
	}
	return "", "", false
}
