package reports_test

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBrowserRendersReports renders report pages in headless Chromium (make
// test-browser sets DETSIM_BROWSER to the browser and DETSIM_BROWSER_PAGES
// to the pages simrun wrote) and fails if a page logged a console message,
// requested anything from the network (Chromium's net log names every
// request the page made), or rendered (nearly) blank. The space-time
// diagram is also cut out of the run page and rendered on its own.
// Screenshots are written beside each page (PAGE.png). A canary page that
// breaks all three rules is rendered first: the checks must catch it.
func TestBrowserRendersReports(t *testing.T) {
	browser, pages := os.Getenv("DETSIM_BROWSER"), strings.Fields(os.Getenv("DETSIM_BROWSER_PAGES"))
	if browser == "" || len(pages) == 0 {
		t.Skip("set DETSIM_BROWSER and DETSIM_BROWSER_PAGES (make test-browser does)")
	}

	t.Run("canary", func(t *testing.T) {
		page := filepath.Join(t.TempDir(), "canary.html")
		require.NoError(t, os.WriteFile(page, []byte(`<!DOCTYPE html><html><body>`+
			`<script>console.error("canary")</script>`+
			`<img src="http://canary.invalid/x.png" width="1" height="1" style="visibility:hidden"/>`+
			`</body></html>`), 0o644))
		problems := render(t, browser, page)
		all := strings.Join(problems, "\n")
		assert.Contains(t, all, "canary", "a console message is caught")
		assert.Contains(t, all, "http://canary.invalid/x.png", "a request for a resource is caught")
		assert.Contains(t, all, "blank", "a blank page is caught")
	})

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
			for _, p := range render(t, browser, target) {
				t.Error(p)
			}
		})
	}
}

// render renders target in headless Chromium to target.png and returns
// what is wrong with it: console messages, network requests the page made,
// a (nearly) blank rendering.
func render(t *testing.T, browser, target string) []string {
	t.Helper()
	shot := target + ".png"
	os.Remove(shot)
	tmp := t.TempDir()
	netLog := filepath.Join(tmp, "netlog.json")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
		"--no-first-run", "--disable-extensions", "--enable-logging=stderr", "--v=0",
		// Chromium's own background traffic would fail on a closed
		// network and log errors that are not the page's.
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-quic", "--user-data-dir="+filepath.Join(tmp, "profile"),
		// Anything the page tries to fetch fails, and is in the net log.
		"--host-resolver-rules=MAP * ~NOTFOUND", "--log-net-log="+netLog,
		"--window-size=1400,1800", "--screenshot="+shot, "file://"+target)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	require.NoError(t, cmd.Run(), "chromium failed:\n%s", stderr.String())

	var problems []string
	for _, line := range strings.Split(stderr.String(), "\n") {
		if strings.Contains(line, "CONSOLE") || strings.Contains(line, "Uncaught") ||
			strings.Contains(line, "net::ERR") || strings.Contains(line, "Failed to load") {
			problems = append(problems, "the page logged: "+line)
		}
	}
	for _, url := range pageRequests(t, netLog) {
		problems = append(problems, "the page requested "+url)
	}

	f, err := os.Open(shot)
	require.NoError(t, err, "no screenshot:\n%s", stderr.String())
	defer f.Close()
	img, err := png.Decode(f)
	require.NoError(t, err)
	share, colours := dominantColour(img)
	t.Logf("%s: %d colours, the commonest covers %.1f%% of %v", shot, colours, 100*share, img.Bounds().Size())
	if share >= 0.995 || colours <= 8 {
		problems = append(problems, "the page rendered (nearly) blank")
	}
	return problems
}

// pageRequests returns the URLs a page loaded from a file:// URL asked the
// network for, from Chromium's net log: the URL requests started on its
// behalf (its network isolation key is the file:// site, its initiator the
// opaque origin "null"), leaving out Chromium's own.
func pageRequests(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err, "chromium wrote no net log")
	var log struct {
		Constants struct {
			LogEventTypes map[string]int `json:"logEventTypes"`
		} `json:"constants"`
		Events []struct {
			Type   int            `json:"type"`
			Params map[string]any `json:"params"`
		} `json:"events"`
	}
	if err := json.Unmarshal(data, &log); err != nil {
		// A log Chromium did not get to close: close it.
		trimmed := strings.TrimRight(strings.TrimSpace(string(data)), ",")
		require.NoError(t, json.Unmarshal([]byte(trimmed+"]}"), &log), "the net log is not JSON")
	}
	start, ok := log.Constants.LogEventTypes["URL_REQUEST_START_JOB"]
	require.True(t, ok, "the net log names no URL_REQUEST_START_JOB events")
	var out []string
	for _, e := range log.Events {
		if e.Type != start {
			continue
		}
		url, _ := e.Params["url"].(string)
		nik, _ := e.Params["network_isolation_key"].(string)
		initiator, _ := e.Params["initiator"].(string)
		if url == "" || strings.HasPrefix(url, "file:") || strings.HasPrefix(url, "data:") {
			continue
		}
		if strings.Contains(nik, "file://") || initiator == "null" {
			out = append(out, url)
		}
	}
	return out
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
