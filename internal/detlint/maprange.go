package detlint

import (
	"go/ast"
	"go/types"

	"golang.org/x/tools/go/ast/edge"
	"golang.org/x/tools/go/ast/inspector"
	"golang.org/x/tools/go/types/typeutil"
)

// Go randomises map iteration order on purpose, so any result that depends
// on it differs from run to run even under the same seed.

const mapRangeMsg = "range over map: iteration order is random; iterate sorted keys (slices.Sorted(maps.Keys(m))) or keep a slice"

// mapsIterators are the standard library functions that turn a map into an
// iterator and therefore inherit its random order.
var mapsIterators = setOf("Keys", "Values", "All")

// orderInsensitive lists, per function of package slices or maps, the
// argument position at which a map iterator may be passed without its order
// leaking into the result: sorting discards the order, and collecting into
// a map has no order to keep.
var orderInsensitive = map[string]map[string]int{
	"slices": {"Sorted": 0, "SortedFunc": 0, "SortedStableFunc": 0},
	"maps":   {"Collect": 0, "Insert": 1},
}

func (c *checker) checkRange(n *ast.RangeStmt) {
	t := c.pass.TypesInfo.TypeOf(n.X)
	if t == nil {
		return
	}
	switch {
	case isChanType(t):
		c.report(n.For, n.X.End(), "channel", rangeMsg)
	case isMapType(t) && !orderUnobservable(n):
		c.report(n.For, n.X.End(), "maprange", mapRangeMsg)
	}
}

// orderUnobservable reports whether a range statement binds neither key nor
// value ("for range m", "for _, _ = range m"): the body cannot tell one
// iteration from another, so the random order cannot leak.
func orderUnobservable(n *ast.RangeStmt) bool {
	return isBlank(n.Key) && isBlank(n.Value)
}

func isBlank(e ast.Expr) bool {
	if e == nil {
		return true
	}
	id, ok := e.(*ast.Ident)
	return ok && id.Name == "_"
}

// isMapType reports whether ranging over t iterates a map; for a type
// parameter, whether any type in its type set is a map (any instantiation
// with a map would iterate in random order).
func isMapType(t types.Type) bool {
	for _, u := range underlyingTypes(t) {
		if _, ok := u.(*types.Map); ok {
			return true
		}
	}
	return false
}

// underlyingTypes returns the underlying type of t or, if t is a type
// parameter, the underlying types of the terms of its constraint. The terms
// are gathered from every embedded element without intersecting them, which
// over-approximates the type set; that only matters for constraints that
// could not be ranged over anyway.
func underlyingTypes(t types.Type) []types.Type {
	tp, ok := types.Unalias(t).(*types.TypeParam)
	if !ok {
		return []types.Type{t.Underlying()}
	}
	iface, ok := tp.Constraint().Underlying().(*types.Interface)
	if !ok {
		return nil
	}
	return appendTerms(nil, iface)
}

func appendTerms(acc []types.Type, iface *types.Interface) []types.Type {
	for i := range iface.NumEmbeddeds() {
		switch e := types.Unalias(iface.EmbeddedType(i)).(type) {
		case *types.Union:
			for j := range e.Len() {
				acc = appendTerm(acc, e.Term(j).Type())
			}
		default:
			acc = appendTerm(acc, e)
		}
	}
	return acc
}

func appendTerm(acc []types.Type, t types.Type) []types.Type {
	if inner, ok := t.Underlying().(*types.Interface); ok {
		return appendTerms(acc, inner) // e.g. an embedded named constraint
	}
	return append(acc, t.Underlying())
}

// checkMapsIter handles a reference to a function of package maps found at
// cur. maps.Keys, maps.Values and maps.All are reported unless their result
// goes straight into an order-insensitive consumer; ranging over them gets
// the same message as ranging over the map itself.
func (c *checker) checkMapsIter(cur inspector.Cursor, obj types.Object) {
	if !mapsIterators[obj.Name()] {
		return
	}
	// Climb from the identifier to the expression that denotes the
	// function: maps.Keys, maps.Keys[M], (maps.Keys).
	fun := cur
	for denotesSameFunc(fun.ParentEdgeKind()) {
		fun = fun.Parent()
	}
	if fun.ParentEdgeKind() != edge.CallExpr_Fun {
		// A function value (f := maps.Keys[map[K]V]) cannot be followed
		// to its eventual use; report it where it is taken.
		c.report(fun.Node().Pos(), fun.Node().End(), "maprange", mapsIterMsg(obj))
		return
	}

	call := fun.Parent()
	use := call
	for use.ParentEdgeKind() == edge.ParenExpr_X {
		use = use.Parent()
	}
	switch kind, index := use.ParentEdge(); kind {
	case edge.RangeStmt_X:
		rs := use.Parent().Node().(*ast.RangeStmt)
		if !orderUnobservable(rs) {
			c.report(rs.For, rs.X.End(), "maprange", mapRangeMsg)
		}
		return
	case edge.CallExpr_Args:
		outer := use.Parent().Node().(*ast.CallExpr)
		if c.isOrderInsensitive(outer, index) {
			return
		}
	}
	c.report(call.Node().Pos(), call.Node().End(), "maprange", mapsIterMsg(obj))
}

// denotesSameFunc reports whether the parent reached through edge k still
// denotes the function itself rather than using it.
func denotesSameFunc(k edge.Kind) bool {
	switch k {
	case edge.SelectorExpr_Sel, edge.IndexExpr_X, edge.IndexListExpr_X, edge.ParenExpr_X:
		return true
	}
	return false
}

func mapsIterMsg(obj types.Object) string {
	return "maps." + obj.Name() + " yields in random map order: iterate sorted keys (slices.Sorted(maps.Keys(m))) or keep a slice"
}

// isOrderInsensitive reports whether argument index of call is a parameter
// of a standard library function that does not let the order of the
// sequence it receives affect its result.
func (c *checker) isOrderInsensitive(call *ast.CallExpr, index int) bool {
	fn := typeutil.StaticCallee(c.pass.TypesInfo, call)
	if fn == nil || fn.Pkg() == nil || fn.Signature().Recv() != nil {
		return false
	}
	want, ok := orderInsensitive[fn.Pkg().Path()][fn.Name()]
	return ok && want == index
}
