// Package butex is brpc's M:N bthread runtime (src/bthread: TaskControl,
// TaskGroup, ParkingLot, butex, bthread::Mutex, CountdownEvent) running
// inside the simulation, with the cross-tag batch-wake lost wakeup of
// apache/brpc#2777 as a named variant (see shared/reference/seed-bugs.md,
// section 5).
//
// # The runtime
//
// A Runtime has one or more tags (worker pools, FLAGS_task_group_ntags).
// Every tag has its own workers (one Group, brpc's TaskGroup, per worker
// pthread) and its own array of ParkingLots. A Group has a local
// work-stealing run queue (_rq: its worker pushes and pops at the bottom,
// other workers steal from the top), a remote run queue (_remote_rq, for
// other threads) and the counters of tasks queued without a signal
// (_num_nosignal, _remote_num_nosignal). signal_task wakes at most
// Options.SignalCap (2) parked workers of one tag per call, visiting that
// tag's lots from the one the calling thread hashes to. An idle worker
// saves its lot's state before its steal attempt and futex-waits only if
// the state is unchanged, so a signal between a failed steal and the wait
// is not lost. Workers steal only within their tag: their own remote queue
// first, then the local and remote queues of the tag's groups.
//
// # Tasks
//
// Every worker's main loop (run_main_task: park, steal, run) is a sim task,
// and so is every bthread. A worker is a token passed between its main task
// and the bthreads it runs, as brpc's sched_to passes the worker's stack
// pointer: a bthread's task executes only while it holds its worker's
// token, so exactly one bthread runs per worker at a time and only workers
// of its tag pick it up. A bthread gives the token up when it suspends
// (blocks on a butex, yields, sleeps, exchanges, ends): it picks what its
// worker runs next (its local queue, a steal, or the worker's main task),
// runs the "remained" work that brpc defers until the bthread is off its
// stack (queueing itself as a butex waiter or back on a run queue) and
// hands the token over. Bthread code must therefore run only inside the
// function given to Start, on the Bthread handle it receives.
//
// Plain sim tasks are pthreads: they call in with a Pthread handle, which
// holds their tls_task_group_nosignal. brpc lets pthreads wait on a butex
// (they futex-wait, outside the workers); so does this package. A Bthread
// handle used from any task but its own, or while the bthread is not
// running, is a programming error and panics.
//
// Callers identify themselves with a Caller (a *Bthread or a *Pthread)
// because there is no thread-local storage: brpc's tls_task_group is the
// group of the worker a bthread is running on, and tls_task_group_nosignal
// belongs to that worker's pthread (or to the pthread), not to the bthread.
//
// # Variants
//
// Buggy is brpc 1.10 (before PR #2778): a nosignal wake picks its group with
// the pre-fix get_task_group, which remembers the first group it chose in
// the calling thread's tls_task_group_nosignal and sends every later
// nosignal wake from that thread there, whatever the waiter's tag; and
// bthread_flush on a worker flushes only the worker's own local count. A
// cross-tag batched wake therefore queues the waiter on another tag's
// group without a signal that any flush will ever send (a lost wakeup when
// that tag is idle), and later same-tag wakes from the same worker follow
// it there (a bthread then runs on a worker of the wrong tag, and since a
// butex waiter records the tag of the worker it waits from, as brpc's
// ButexBthreadWaiter::tag does, it stays in that tag). Fixed is
// #2778 (brpc 1.11): check_nosignal keeps a wake unsignalled only when the
// waiter's tag is the calling worker's, so cross-tag and pthread wakes
// signal at once. The difference is two small functions, getTaskGroup and
// checkNosignal, in butex.go.
//
// # Not modelled
//
// bthread_interrupt/stop, butex_requeue, urgent starts, NOSIGNAL bthread
// creation, bthread_min_concurrency (adding workers when signal_task falls
// short) and the mutex's LIFO re-queueing of woken waiters (later brpc).
// Atomic operations are atomic between scheduling points; the windows
// brpc has between them (a waiter's value check and its queueing, an
// unlock's store and its wake, a failed steal and the park) are explicit
// scheduling points.
package butex
