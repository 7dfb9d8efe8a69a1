package reports

import (
	"bufio"
	"encoding/json"
	"io"
)

// TraceFormat documents the -trace file, field by field, for the CLI help
// and the README.
const TraceFormat = `The trace is JSON lines: one object per event, in the order the events
happened (kernel events exactly; network events placed within their
instant), then a "failure" line if the run failed. Every line has:

  step       scheduling step during or just after which it happened
  time_ns    virtual time since the start of the run, in nanoseconds
  kind       run, spawn, block, wake, exit, timer, advance, choice, note
             (the kernel's), host, send, duplicate, deliver, drop, fault
             (the network's), or failure
  task       the task's id (1 is main; 0 for none)
  task_name  the task's name ("" for none); a host's tasks are HOST/NAME
  arg        spawn: parent task id; block: wait kind number; timer: timer
             kind number; advance: new time in ns; choice: chosen case;
             note: its length; 0 otherwise
  detail     block: what it waits for (Mutex.Lock, Chan.Recv, Select, Sleep,
             other = the network, ...); timer: sleep, timer, ticker,
             afterfunc, deadline or call (a network delivery or other
             callback); note: the note; drop: why, when there is no cause;
             fault: its arguments; host: its interfaces; failure: kind and
             message

and, when they apply:

  host       the host it happened on (the task's host, the sender of a send
             or drop, the receiver of a delivery)
  id         packet number: a packet's send, duplicate, deliveries and drop
             share it
  packet     udp, tcp (stream data), fin, syn, syn-ack or rst
  from, to   sending and receiving host
  src, dst   the packet's addresses, ip:port (sends)
  size       payload bytes (sends)
  cause      drop cause: loss, partition, capacity, crash, unreachable,
             queue-full
  fault      partition, oneway, isolate, heal, flap-down, flap-up, hold,
             release, link-faults, clock-offset, crash, restart`

// WriteTrace writes the run's timeline as JSON lines (see TraceFormat).
func WriteTrace(w io.Writer, r *Run) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	for _, e := range r.Events {
		if err := enc.Encode(e); err != nil {
			return err
		}
	}
	return bw.Flush()
}
