# Common tasks. `make demo` and `make test` are the README's two commands.
GO ?= go
STATICCHECK_VERSION ?= v0.8.2
FUZZTIME ?= 10s
TEST_TIMEOUT ?= 14m

.PHONY: all demo test test-short lint fmt vet staticcheck fuzz broker bench build clean

all: build test

build:
	$(GO) build ./...

## demo: produce keyed messages to an in-process development broker
demo:
	$(GO) run ./examples/simple_producer

## test: the full suite, with the race detector
test:
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) ./...

test-short:
	$(GO) test -short -count=1 ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

vet:
	$(GO) vet ./...

staticcheck:
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...

## lint: gofmt, go vet and staticcheck must all be clean
lint: vet staticcheck
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

## fuzz: run every fuzz target for FUZZTIME each
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  dir=$$($(GO) list -f '{{.Dir}}' $$pkg); \
	  for f in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' $$dir/*_test.go 2>/dev/null | sed 's/func //'); do \
	    echo "fuzz $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

## broker: build the development broker binary into bin/
broker:
	$(GO) build -o bin/rustmq-broker ./cmd/rustmq-broker

## bench: the benchmark runner against an in-process development broker
bench:
	$(GO) run ./bench

clean:
	rm -rf bin

## interop: the broker binary against an independent Rust client, and the runtime against an upstream-faithful server (Rust serde+bincode+quinn+rustls from Debian's crates; see interop/README.md)
.PHONY: interop
interop:
	bash interop/run.sh
