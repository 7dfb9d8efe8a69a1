package proto

import "time"

// Sets are slices: small (a view holds at most a few dozen peers), ordered
// by insertion, and removed from in place keeping the order, so that every
// iteration and every random index is reproducible.

// peerEntry is a peer in a view together with the peer data last learnt
// for it (the data travels with the peer in SHUFFLE samples).
type peerEntry struct {
	id   PeerID
	data []byte
}

func entryIndex(s []peerEntry, p PeerID) int {
	for i := range s {
		if s[i].id == p {
			return i
		}
	}
	return -1
}

// removeEntryAt removes s[i] keeping the order of the others.
func removeEntryAt(s []peerEntry, i int) []peerEntry {
	copy(s[i:], s[i+1:])
	s[len(s)-1] = peerEntry{}
	return s[:len(s)-1]
}

func peerIndex(s []PeerID, p PeerID) int {
	for i := range s {
		if s[i] == p {
			return i
		}
	}
	return -1
}

// removePeer removes p from s keeping the order of the others.
func removePeer(s []PeerID, p PeerID) []PeerID {
	i := peerIndex(s, p)
	if i < 0 {
		return s
	}
	copy(s[i:], s[i+1:])
	return s[:len(s)-1]
}

func entryIDs(s []peerEntry) []PeerID {
	if len(s) == 0 {
		return nil
	}
	out := make([]PeerID, len(s))
	for i := range s {
		out[i] = s[i].id
	}
	return out
}

func clonePeers(s []PeerID) []PeerID {
	if len(s) == 0 {
		return nil
	}
	return append([]PeerID(nil), s...)
}

func bytesEqual(a, b []byte) bool { return string(a) == string(b) }

// pickIndex returns a uniformly random index i in [0, n) with !skip(i), or
// -1 if there is none. It draws from rnd only when there is a candidate.
func pickIndex(rnd Rand, n int, skip func(i int) bool) int {
	var buf [64]int
	cand := buf[:0]
	for i := 0; i < n; i++ {
		if !skip(i) {
			cand = append(cand, i)
		}
	}
	if len(cand) == 0 {
		return -1
	}
	return cand[rnd.Intn(len(cand))]
}

// sampleEntries returns up to k distinct entries of s, excluding those for
// which skip is true, in random order (a partial Fisher-Yates shuffle).
func sampleEntries(rnd Rand, s []peerEntry, k int, skip func(p PeerID) bool) []PeerInfo {
	if k <= 0 || len(s) == 0 {
		return nil
	}
	var buf [64]int
	cand := buf[:0]
	for i := range s {
		if skip == nil || !skip(s[i].id) {
			cand = append(cand, i)
		}
	}
	if k > len(cand) {
		k = len(cand)
	}
	if k == 0 {
		return nil
	}
	out := make([]PeerInfo, 0, k)
	for j := 0; j < k; j++ {
		r := j + rnd.Intn(len(cand)-j)
		cand[j], cand[r] = cand[r], cand[j]
		e := s[cand[j]]
		out = append(out, PeerInfo{ID: e.id, Data: e.data})
	}
	return out
}

// expiring is one entry of an expiryQueue.
type expiring struct {
	id MessageID
	at time.Time
}

// expiryQueue is a FIFO of message ids with their expiry times. Entries
// are pushed with now + a fixed retention, so with a monotonic clock the
// queue is sorted by expiry and eviction only looks at its head.
type expiryQueue struct {
	items []expiring
	head  int
}

func (q *expiryQueue) len() int { return len(q.items) - q.head }

func (q *expiryQueue) push(id MessageID, at time.Time) {
	q.items = append(q.items, expiring{id: id, at: at})
}

// popExpired removes the entries at the head that expire at or before now
// and calls drop for each.
func (q *expiryQueue) popExpired(now time.Time, drop func(MessageID)) {
	for q.head < len(q.items) && !q.items[q.head].at.After(now) {
		drop(q.items[q.head].id)
		q.items[q.head] = expiring{}
		q.head++
	}
	switch {
	case q.head == len(q.items):
		q.items, q.head = nil, 0
	case q.head > 32 && q.head*2 > len(q.items):
		n := copy(q.items, q.items[q.head:])
		clear(q.items[n:])
		q.items, q.head = q.items[:n], 0
	}
}
