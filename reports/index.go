package reports

import (
	"fmt"
	"path"
	"path/filepath"
	"strings"
	"time"
)

// IndexRow is one sweep of a suite and where its report is, relative to
// the index.
type IndexRow struct {
	Sweep *Sweep
	// Dir is the report's directory relative to the index ("" if none).
	Dir string
}

func (r IndexRow) expectText() string {
	if r.Sweep.Buggy {
		return "failures"
	}
	return "no failure"
}

func (r IndexRow) resultText() string {
	if r.Sweep.Expected() {
		return "ok"
	}
	return "UNEXPECTED"
}

func (r IndexRow) firstFailing() (uint64, string, bool) {
	if len(r.Sweep.Failing) == 0 {
		return 0, "", false
	}
	return r.Sweep.Failing[0].Seed, r.Sweep.Failing[0].Replay, true
}

func indexSummary(rows []IndexRow, wall time.Duration) string {
	bad := 0
	for _, r := range rows {
		if !r.Sweep.Expected() {
			bad++
		}
	}
	if bad == 0 {
		return fmt.Sprintf("All %d rows as expected (fixed variants never failed, buggy variants failed), in %v.", len(rows), wall.Round(time.Millisecond))
	}
	return fmt.Sprintf("%d of %d rows UNEXPECTED, in %v.", bad, len(rows), wall.Round(time.Millisecond))
}

// IndexMarkdown renders a suite's index as Markdown.
func IndexMarkdown(rows []IndexRow, wall time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# simrun suite\n\n%s\n\n", indexSummary(rows, wall))
	b.WriteString("| scenario | variant | expect | runs | failures | rate [95% interval] | result | first failing seed | report |\n|---|---|---|---:|---:|---|---|---|---|\n")
	for _, r := range rows {
		s := r.Sweep
		first := "-"
		if seed, cmd, ok := r.firstFailing(); ok {
			first = fmt.Sprintf("%d: `%s`", seed, cmd)
		}
		report := "-"
		if r.Dir != "" {
			report = fmt.Sprintf("[report](%s)", path.Join(filepath.ToSlash(r.Dir), "report.md"))
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", s.Scenario, s.Variant, r.expectText(), Count(s.Runs),
			Count(s.Failures), Rate(s.Failures, s.Runs), r.resultText(), first, report)
	}
	return b.String()
}

// IndexHTML renders a suite's index as a page linking each row's report.
func IndexHTML(rows []IndexRow, wall time.Duration) string {
	p := newPage("simrun suite")
	p.WriteString("<h1>simrun suite</h1>\n")
	p.f("<p><b>%s</b></p>\n", esc(indexSummary(rows, wall)))
	p.WriteString("<table>\n<tr><th>scenario</th><th>variant</th><th>expect</th><th class=\"n\">runs</th><th class=\"n\">failures</th><th>rate [95% interval]</th><th>result</th><th>first failing seed</th></tr>\n")
	for _, r := range rows {
		s := r.Sweep
		name := esc(s.Variant)
		if r.Dir != "" {
			name = fmt.Sprintf(`<a href="%s">%s</a>`, esc(path.Join(filepath.ToSlash(r.Dir), "report.html")), esc(s.Variant))
		}
		result := `<span class="badge pass">ok</span>`
		if !s.Expected() {
			result = `<span class="badge fail">UNEXPECTED</span>`
		}
		first := "-"
		if seed, cmd, ok := r.firstFailing(); ok {
			first = fmt.Sprintf("%d: <code>%s</code>", seed, esc(cmd))
		}
		p.f("<tr><td class=\"nw\">%s</td><td class=\"nw\">%s</td><td class=\"nw\">%s</td><td class=\"n\">%s</td><td class=\"n\">%s</td><td class=\"nw\">%s</td><td>%s</td><td>%s</td></tr>\n",
			esc(s.Scenario), name, esc(r.expectText()), esc(Count(s.Runs)), esc(Count(s.Failures)), esc(Rate(s.Failures, s.Runs)), result, first)
	}
	p.WriteString("</table>\n")
	p.WriteString("<p class=\"note\">Each variant links to its sweep report (failure groups, probes, metric charts). Rerun a failing seed with <code>-html FILE</code> for its space-time diagram.</p>\n")
	return p.end()
}

// WriteIndex writes index.html and index.md into dir.
func WriteIndex(dir string, rows []IndexRow, wall time.Duration) error {
	if err := writeFile(filepath.Join(dir, "index.md"), []byte(IndexMarkdown(rows, wall))); err != nil {
		return err
	}
	return writeFile(filepath.Join(dir, "index.html"), []byte(IndexHTML(rows, wall)))
}
