package p

import (
	"cmp"
	"maps"
	"slices"
	"strings"
)

type scores map[string]int

func mapRanges(m map[string]int, sc scores) []string {
	var out []string
	for k := range m { // want `^range over map: iteration order is random; iterate sorted keys \(slices\.Sorted\(maps\.Keys\(m\)\)\) or keep a slice$`
		out = append(out, k)
	}
	for k, v := range sc { // want `range over map`
		_, _ = k, v
	}
	for _, v := range m { // want `range over map`
		out = append(out, strings.Repeat("x", v))
	}

	// Nothing bound: the body cannot observe the order.
	n := 0
	for range m {
		n++
	}
	for _, _ = range sc {
		n++
	}

	for k := range maps.Keys(m) { // want `range over map`
		out = append(out, k)
	}
	for v := range maps.Values(m) { // want `range over map`
		n += v
	}
	for k, v := range maps.All(sc) { // want `range over map`
		_, _ = k, v
	}
	return out
}

func mapIterators(m map[string]int, sc scores) {
	keys := slices.Collect(maps.Keys(m)) // want `^maps\.Keys yields in random map order: iterate sorted keys \(slices\.Sorted\(maps\.Keys\(m\)\)\) or keep a slice$`
	vals := maps.Values(m)               // want `^maps\.Values yields in random map order`
	all := maps.All[map[string]int]      // want `^maps\.All yields in random map order`
	_, _, _ = keys, vals, all

	// Sorting discards the order; collecting into a map has none to keep.
	for _, k := range slices.Sorted(maps.Keys(m)) {
		_ = k
	}
	_ = slices.SortedFunc(maps.Keys(m), strings.Compare)
	_ = slices.SortedStableFunc(maps.Values(sc), cmp.Compare[int])
	clone := maps.Collect(maps.All(m))
	maps.Insert(clone, maps.All(sc))

	// Other maps functions and ranging over slices are fine.
	_ = maps.Clone(m)
	for _, k := range keys {
		_ = k
	}
}

// Type parameters whose type set holds maps count as maps.
type stringMap interface{ ~map[string]int }

func genericMap[M ~map[K]V, K comparable, V any](m M) {
	for k := range m { // want `range over map`
		_ = k
	}
}

func genericNamedConstraint[M stringMap](m M) {
	for _, v := range m { // want `range over map`
		_ = v
	}
}

func genericNestedConstraint[M interface{ stringMap }](m M) {
	for k := range m { // want `range over map`
		_ = k
	}
}

func genericSlice[S ~[]E, E any](s S) {
	for i := range s {
		_ = i
	}
}
