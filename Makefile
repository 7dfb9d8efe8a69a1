# The detsim testbed. `make run` shows the main job, `make test` is what CI runs.
GO ?= go
BIN := bin

.PHONY: run demo test vet fmt-check lint bench sweep clean

## run: every registered scenario, buggy and fixed variants, over its seed budget: one table
run:
	@$(GO) build -o $(BIN)/simrun ./cmd/simrun
	@$(BIN)/simrun suite

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

vet:
	$(GO) vet ./...

fmt-check:
	@files=$$(gofmt -l .); if [ -n "$$files" ]; then echo "gofmt needed:"; echo "$$files"; exit 1; fi

## lint: the determinism linter over every simulated package
lint:
	$(GO) run ./cmd/detlint ./...

## bench: kernel benchmarks beside their references (raw iter.Pull, goroutines, container/heap),
## then seeds per second per core of every scenario and variant
bench:
	$(GO) test ./sim/ ./netmodel/ -run '^$$' -bench . -benchmem -count=1
	$(GO) test ./scenarios/ -run '^$$' -bench Scenario -benchtime 300x -benchmem -count=1

## sweep: longer measurements (random vs pct seeds-to-find on the depth-3 bug)
sweep:
	$(GO) test ./examples/races/ -run TestDepthThreeRandomVsPCT -count=1 -v

clean:
	rm -rf $(BIN)
