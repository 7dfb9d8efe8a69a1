package reports_test

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestBrowserRendersReports renders report pages in headless Chromium (make
// test-browser sets DETSIM_BROWSER to the browser and DETSIM_BROWSER_PAGES
// to the pages simrun wrote) and fails if a page logged a console error,
// tried to load anything, or rendered (nearly) blank. The space-time
// diagram is also cut out of the run page and rendered on its own.
// Screenshots are written beside each page (PAGE.png).
func TestBrowserRendersReports(t *testing.T) {
	browser, pages := os.Getenv("DETSIM_BROWSER"), strings.Fields(os.Getenv("DETSIM_BROWSER_PAGES"))
	if browser == "" || len(pages) == 0 {
		t.Skip("set DETSIM_BROWSER and DETSIM_BROWSER_PAGES (make test-browser does)")
	}
	var targets []string
	for _, p := range pages {
		abs, err := filepath.Abs(p)
		require.NoError(t, err)
		targets = append(targets, abs)
		data, err := os.ReadFile(abs)
		require.NoError(t, err)
		if svg := regexp.MustCompile(`(?s)<svg xmlns="http://www.w3.org/2000/svg" class="spacetime".*?</svg>`).Find(data); svg != nil {
			diagram := strings.TrimSuffix(abs, ".html") + ".diagram.svg"
			require.NoError(t, os.WriteFile(diagram, svg, 0o644))
			targets = append(targets, diagram)
		}
	}
	for _, target := range targets {
		t.Run(filepath.Base(target), func(t *testing.T) {
			shot := target + ".png"
			os.Remove(shot)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
				"--no-first-run", "--disable-extensions", "--enable-logging=stderr", "--v=0",
				// Chromium's own background traffic would fail on a closed
				// network and log errors that are not the page's.
				"--disable-background-networking", "--disable-component-update", "--disable-sync",
				"--disable-quic", "--user-data-dir="+t.TempDir(),
				// Anything the page tries to fetch fails and is logged.
				"--host-resolver-rules=MAP * ~NOTFOUND",
				"--window-size=1400,1800", "--screenshot="+shot, "file://"+target)
			var stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stderr, &stderr
			require.NoError(t, cmd.Run(), "chromium failed:\n%s", stderr.String())
			for _, line := range strings.Split(stderr.String(), "\n") {
				if strings.Contains(line, "CONSOLE") || strings.Contains(line, "Uncaught") ||
					strings.Contains(line, "net::ERR") || strings.Contains(line, "Failed to load") {
					t.Errorf("the page logged: %s", line)
				}
			}
			f, err := os.Open(shot)
			require.NoError(t, err, "no screenshot:\n%s", stderr.String())
			defer f.Close()
			img, err := png.Decode(f)
			require.NoError(t, err)
			share, colours := dominantColour(img)
			t.Logf("%s: %d colours, the commonest covers %.1f%% of %v", shot, colours, 100*share, img.Bounds().Size())
			require.Less(t, share, 0.995, "the page rendered (nearly) blank")
			require.Greater(t, colours, 8, "the page rendered (nearly) blank")
		})
	}
}

// dominantColour returns the share of pixels of the commonest colour and
// the number of distinct colours.
func dominantColour(img image.Image) (float64, int) {
	counts := map[uint32]int{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			counts[r>>8<<16|g>>8<<8|bl>>8]++
		}
	}
	most := 0
	for _, n := range counts {
		most = max(most, n)
	}
	return float64(most) / float64(b.Dx()*b.Dy()), len(counts)
}
