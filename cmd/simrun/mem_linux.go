package main

import (
	"os"
	"strconv"
	"strings"
	"syscall"
)

// physicalMemory returns the memory simrun may use, in bytes: the machine's
// RAM, or the container's cgroup limit if that is lower (a pod's limit,
// which sysinfo does not see); 0 if unknown.
func physicalMemory() uint64 {
	var total uint64
	var si syscall.Sysinfo_t
	if err := syscall.Sysinfo(&si); err == nil {
		total = uint64(si.Totalram) * uint64(si.Unit)
	}
	for _, path := range []string{
		"/sys/fs/cgroup/memory.max",                   // cgroup v2
		"/sys/fs/cgroup/memory/memory.limit_in_bytes", // cgroup v1
	} {
		b, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		limit, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64) // "max": no limit
		if err == nil && limit > 0 && (total == 0 || limit < total) {
			total = limit
		}
	}
	return total
}
