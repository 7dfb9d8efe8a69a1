package p

func worker(chan int) {}

func channelOps(ch chan int, out chan<- int, in <-chan int, done chan struct{}) {
	c := make(chan int, 1) // make, close, len and cap do not block
	_ = len(c) + cap(c)
	close(c)

	ch <- 1       // want `^native channel send blocks outside the simulator: use sim\.Chan\[T\] \(sim\.NewChan\[T\]\(env, n\)\) and its Send$`
	v := <-ch     // want `^native channel receive blocks outside the simulator: use sim\.Chan\[T\] \(sim\.NewChan\[T\]\(env, n\)\) and its Recv$`
	v, ok := <-in // want `native channel receive`
	<-done        // want `native channel receive`
	_ = ok
	worker(ch)
	out <- (<-in) + v // want `native channel send` `native channel receive`

	for x := range in { // want `^range over a native channel blocks outside the simulator: use sim\.Chan\[T\] \(sim\.NewChan\[T\]\(env, n\)\) and range over its All\(\)$`
		_ = x
	}
	for range done { // want `range over a native channel`
	}

	go worker(ch)  // want `^go statement in simulated code: start a task with env\.Go\(name, fn\)$`
	go func() {}() // want `go statement`
}

func selects(ch chan int, out chan<- int, in <-chan int, done chan struct{}) {
	var v int
	// Only the select is reported, not the operations of its cases.
	select { // want `^select on native channels picks ready cases at random and blocks outside the simulator: use sim\.Select\(env, cases\.\.\.\)$`
	case out <- v:
	case x := <-in:
		_ = x
	case x, ok := (<-in):
		_, _ = x, ok
	case v = <-in:
	case <-done:
		ch <- 2 // want `native channel send`
	default:
	}

	// The value sent in a case is received before the select starts.
	select { // want `select on native channels`
	case out <- <-in: // want `native channel receive`
	}

	select {} // want `select on native channels`
}

// Type parameters whose type set holds channels count as channels.
func genericChan[C ~chan int](c C) {
	for x := range c { // want `range over a native channel`
		_ = x
	}
	<-c // want `native channel receive`
}
