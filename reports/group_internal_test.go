package reports

import "testing"

// Messages that differ only in numbers, durations (whatever their unit)
// and hex values fall into one group; different words do not.
func TestGroupFailuresIgnoresNumbersAndDurations(t *testing.T) {
	fs := []FailingSeed{
		{Seed: 0, Kind: "violation", Message: "no-lost-wakeup: tag 1 parked for 2ms (since t=69µs)"},
		{Seed: 4, Kind: "violation", Message: "no-lost-wakeup: tag 0 parked for 2ms (since t=1.204s)"},
		{Seed: 9, Kind: "violation", Message: "no-lost-wakeup: tag 0 parked for 2ms (since t=1m2.5s) at 0x1f"},
		{Seed: 5, Kind: "violation", Message: "tag-isolation: bthread 2 runs on worker t1/0"},
	}
	gs := groupFailures(fs, 10)
	if len(gs) != 3 {
		for _, g := range gs {
			t.Logf("%d × %q", g.Count, g.Pattern)
		}
		t.Fatalf("%d groups, want 3 (two durations of different units are one pattern)", len(gs))
	}
	if gs[0].Count != 2 || gs[0].Pattern != "no-lost-wakeup: tag N parked for N (since t=N)" {
		t.Fatalf("first group %d × %q", gs[0].Count, gs[0].Pattern)
	}
}
