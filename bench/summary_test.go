package bench

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

var summaryPath = flag.String("summary", "", "write the comparisons' Markdown summary to `FILE`")

// summary collects the sections the comparison tests and benchmarks
// measure, for the Markdown file make bench writes.
var summary = &collector{}

type section struct {
	title, intro string
	header       []string
	rows         [][]string
	outro        string // after the table (may be empty)
}

type collector struct {
	mu       sync.Mutex
	sections []section
}

func (c *collector) add(title, intro string, header []string, rows [][]string, outro ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sections = append(c.sections, section{title, intro, header, rows, strings.Join(outro, "\n\n")})
}

func (c *collector) markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# detsim benchmarks against the alternatives\n\n")
	gogc := "GOGC=" + os.Getenv("GOGC")
	if gogc == "GOGC=" {
		gogc = "GOGC=100 (default)"
	}
	cmd := "`make bench` (`go test ./bench -run Compare -compare -summary FILE`)"
	if *scale {
		// Each case's child process has its own collector setting.
		gogc = "the collector of each case as its row says"
		cmd = "`make bench-scale` (`go test ./bench -run CompareScale -scale -summary FILE`)"
	}
	fmt.Fprintf(&b, "Machine: %s/%s, %d CPUs, %s, %s. Written %s by %s.\n\n",
		runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version(), gogc, time.Now().UTC().Format("2006-01-02 15:04 MST"), cmd)
	for _, s := range c.sections {
		fmt.Fprintf(&b, "## %s\n\n%s\n\n", s.title, s.intro)
		fmt.Fprintf(&b, "| %s |\n|%s\n", strings.Join(s.header, " | "), strings.Repeat("---|", len(s.header)))
		for _, r := range s.rows {
			fmt.Fprintf(&b, "| %s |\n", strings.Join(r, " | "))
		}
		b.WriteString("\n")
		if s.outro != "" {
			fmt.Fprintf(&b, "%s\n\n", s.outro)
		}
	}
	return b.String()
}

func TestMain(m *testing.M) {
	if name := os.Getenv(scaleChildEnv); name != "" {
		runScaleChild(name)
		os.Exit(0)
	}
	flag.Parse()
	code := m.Run()
	if *summaryPath != "" && len(summary.sections) > 0 {
		if err := os.WriteFile(*summaryPath, []byte(summary.markdown()), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			code = 1
		} else {
			fmt.Println("summary written to", *summaryPath)
		}
	}
	os.Exit(code)
}
