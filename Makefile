# klrbac: build, test and benchmark. `make help` lists the targets.
GO      ?= go
BIN     ?= bin/klrbac
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
LDFLAGS := -X github.com/klrbac/klrbac/cmd.version=$(VERSION) -X github.com/klrbac/klrbac/cmd.commit=$(COMMIT)

.PHONY: help build test lint bench completions man demo generate clean

help: ## list the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

# Static: with cgo on (wherever a C compiler exists) Go links dynamically, and the dynamic loader's
# work shows in every run's start-up; nothing klrbac uses needs cgo (go-keyring on Linux speaks
# D-Bus in Go).
build: ## build bin/klrbac, a static binary
	CGO_ENABLED=0 $(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) .

test: lint ## run every test with the race detector (after gofmt and go vet)
	$(GO) test -race -count=1 ./...

lint: ## fail on gofmt or go vet findings
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt would change:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...

bench: build ## run the benchmarks; each prints its ratio to the baseline measured in the same run
	$(GO) run ./tools/bench -klrbac $(BIN) $(BENCH)

generate: ## rebuild generated code (catalog from the spec, compiled default policy)
	$(GO) generate ./...

completions: ## regenerate completions/ for bash, zsh, fish and powershell
	$(GO) run ./tools/gendocs -completions completions

man: ## write man pages to man/
	$(GO) run ./tools/gendocs -man man

demo: build ## show klrbac's main job on the embedded default policy
	@./tools/demo.sh $(BIN)

clean: ## remove build output
	rm -rf bin man
