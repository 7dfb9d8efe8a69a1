# The detsim testbed. `make run` shows the main job, `make test` is what CI runs.
GO ?= go
BIN := bin

REPORT := out/report

.PHONY: run demo test test-browser vet fmt-check lint bench bench-scale sweep clean

## run: every registered scenario, buggy and fixed variants, over its seed budget: one table,
## and a report per row linked from $(REPORT)/index.html (path printed at the end)
run:
	@$(GO) build -o $(BIN)/simrun ./cmd/simrun
	@mkdir -p $(dir $(REPORT))
	@$(BIN)/simrun suite -report $(REPORT)

## demo: the kernel's example races, swept and replayed (random vs pct:3 on a depth-3 bug)
demo:
	@$(GO) build -o $(BIN)/racesweep ./cmd/racesweep
	@$(BIN)/racesweep -program lost-update -strategy random -seeds 2000; test $$? -le 1
	@$(BIN)/racesweep -program depth-three -strategy random -seeds 20000; test $$? -le 1
	@$(BIN)/racesweep -program depth-three -strategy pct:3:22 -seeds 20000; test $$? -le 1

## test: vet, gofmt, the determinism linter, then every test (-race for the kernel and network)
test: vet fmt-check lint
	$(GO) test -race -count=1 ./sim/... ./netmodel/...
	$(GO) test -count=1 ./...

## test-browser: render a run report (space-time diagram) and a sweep report in headless
## Chromium (installed from Debian if missing); fail on console errors or a blank page.
## Screenshots go to out/browser/.
CHROMIUM ?= chromium
test-browser:
	@command -v $(CHROMIUM) >/dev/null 2>&1 || { \
	  echo "test-browser: installing chromium"; \
	  if [ "$$(id -u)" = 0 ]; then apt-get update && apt-get install -y chromium; \
	  elif command -v sudo >/dev/null 2>&1; then sudo apt-get update && sudo apt-get install -y chromium; \
	  else echo "test-browser: chromium is missing and cannot be installed (not root and no sudo)" >&2; exit 1; fi; }
	@$(GO) build -o $(BIN)/simrun ./cmd/simrun
	@rm -rf out/browser && mkdir -p out/browser
	@$(BIN)/simrun run gossip-smoke -variant buggy -seed 8 -html out/browser/run.html \
	  -perfetto out/browser/run.perfetto.json -replay-out out/browser/run.replay.json >/dev/null; test $$? -le 1
	@$(BIN)/simrun sweep pickfirst -variant buggy -seeds 0:100 -report out/browser/sweep \
	  -replay-dir out/browser >/dev/null; test $$? -le 1
	DETSIM_BROWSER=$(CHROMIUM) DETSIM_BROWSER_PAGES="$(CURDIR)/out/browser/run.html $(CURDIR)/out/browser/sweep/report.html" \
	  $(GO) test ./reports/ -run '^TestBrowser' -count=1 -v

vet:
	$(GO) vet ./...

fmt-check:
	@files=$$(gofmt -l .); if [ -n "$$files" ]; then echo "gofmt needed:"; echo "$$files"; exit 1; fi

## lint: the determinism linter over every simulated package
lint:
	$(GO) run ./cmd/detlint ./...

## bench: the comparisons with the alternatives (testing/synctest; stress testing on the OS
## runtime, BUDGET of wall time per side), the kernel beside its references, and seeds per
## second per core of every scenario: one Markdown summary, out/bench.md. GOGC is simrun's
## (400) unless set.
BUDGET ?= 30s
BENCH_GOGC = GOGC=$${GOGC:-400}
bench:
	@mkdir -p out
	@$(BENCH_GOGC) $(GO) test ./sim/ ./netmodel/ -run '^$$' -bench . -benchmem -count=1 > out/bench-kernel.txt; s=$$?; cat out/bench-kernel.txt; exit $$s
	@$(BENCH_GOGC) $(GO) test ./scenarios/ -run '^$$' -bench 'Scenario/(counter-race|priority|pickfirst|gossip-smoke|butex)' -benchtime 1000x -benchmem -count=1 > out/bench-scenarios.txt; s=$$?; cat out/bench-scenarios.txt; exit $$s
	@$(BENCH_GOGC) $(GO) test ./scenarios/ -run '^$$' -bench 'Scenario/(gossip-swarm|discovery)' -benchtime 5x -benchmem -count=1 > out/bench-scenarios-large.txt; s=$$?; cat out/bench-scenarios-large.txt; exit $$s
	$(BENCH_GOGC) $(GO) test ./bench/ -run Compare -compare -budget $(BUDGET) -summary $(CURDIR)/out/bench.md -count=1 -timeout 60m
	@$(GO) run ./internal/benchmd out/bench-kernel.txt out/bench-scenarios.txt out/bench-scenarios-large.txt >> out/bench.md
	@echo "summary: out/bench.md"

## bench-scale: gossip-swarm at 1,000 and 10,000 nodes (iroh's bootstrap and ours) and
## discovery at 500 nodes, each in its own process (wall time, peak RSS, steps/s): tens of
## minutes; out/bench-scale.md
bench-scale:
	@mkdir -p out
	$(GO) test ./bench/ -run CompareScale -scale -summary $(CURDIR)/out/bench-scale.md -count=1 -timeout 120m -v
	@echo "summary: out/bench-scale.md"

## sweep: longer measurements (random vs pct seeds-to-find on the depth-3 bug)
sweep:
	$(GO) test ./examples/races/ -run TestDepthThreeRandomVsPCT -count=1 -v

clean:
	rm -rf $(BIN)
