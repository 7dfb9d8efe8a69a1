package detlint

import (
	"go/ast"
	"go/token"
	"go/types"

	"golang.org/x/tools/go/ast/edge"
	"golang.org/x/tools/go/ast/inspector"
)

// Goroutines and native channel operations live in the Go runtime, where the
// deterministic scheduler can neither see nor order them: a goroutine runs
// whenever the OS schedules it, and a blocked channel operation wakes up
// whenever its partner happens to run. make, close, len and cap do not block
// and are not reported.

const (
	recvMsg  = "native channel receive blocks outside the simulator: use sim.Chan[T] (sim.NewChan[T](env, n)) and its Recv"
	sendMsg  = "native channel send blocks outside the simulator: use sim.Chan[T] (sim.NewChan[T](env, n)) and its Send"
	rangeMsg = "range over a native channel blocks outside the simulator: use sim.Chan[T] (sim.NewChan[T](env, n)) and range over its All()"
	// A select is reported even with a default case: when several cases
	// are ready the runtime picks one at random.
	selectMsg = "select on native channels picks ready cases at random and blocks outside the simulator: use sim.Select(env, cases...)"
)

func (c *checker) checkGo(n *ast.GoStmt) {
	c.report(n.Go, n.Call.Fun.End(), "goroutine",
		"go statement in simulated code: start a task with env.Go(name, fn)")
}

func (c *checker) checkSelect(n *ast.SelectStmt) {
	c.report(n.Select, n.Select+token.Pos(len("select")), "channel", selectMsg)
}

func (c *checker) checkSend(cur inspector.Cursor, n *ast.SendStmt) {
	if cur.ParentEdgeKind() == edge.CommClause_Comm {
		return // already covered by the select report
	}
	c.report(n.Arrow, n.Arrow+token.Pos(len("<-")), "channel", sendMsg)
}

func (c *checker) checkRecv(cur inspector.Cursor, n *ast.UnaryExpr) {
	if n.Op != token.ARROW || isSelectCase(cur) {
		return
	}
	c.report(n.OpPos, n.End(), "channel", recvMsg)
}

// isSelectCase reports whether the receive at cur is the communication of a
// select case: "case <-ch:", "case v := <-ch:", "case v, ok = (<-ch):".
// Receives nested deeper (say in the sent value of "case out <- <-in:" or in
// a case body) are ordinary receives and stay reported.
func isSelectCase(cur inspector.Cursor) bool {
	for cur.ParentEdgeKind() == edge.ParenExpr_X {
		cur = cur.Parent()
	}
	switch cur.ParentEdgeKind() {
	case edge.ExprStmt_X, edge.AssignStmt_Rhs:
		return cur.Parent().ParentEdgeKind() == edge.CommClause_Comm
	}
	return false
}

// isChanType reports whether ranging over t receives from a channel; for a
// type parameter, whether any type in its type set is a channel.
func isChanType(t types.Type) bool {
	for _, u := range underlyingTypes(t) {
		if _, ok := u.(*types.Chan); ok {
			return true
		}
	}
	return false
}
