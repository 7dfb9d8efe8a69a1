//go:build !linux

package main

// physicalMemory returns 0: unknown, so simrun sets no memory limit.
func physicalMemory() uint64 { return 0 }
