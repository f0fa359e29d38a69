# streamedge: `make run` starts the server on the embedded default config,
# `make test` installs what the tests need and runs them all.
GO      ?= go
BIN     := bin/streamedge
VERSION := $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)

.PHONY: all build run test vet deps fuzz bench clean

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/streamedge

run: build
	./$(BIN) $(ARGS)

# The tests drive real clients: ffmpeg publishes, ffprobe and ffmpeg play.
deps:
	@command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing ffmpeg (needed by the tests)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ffmpeg >/dev/null; \
	  else \
	    echo "ffmpeg and ffprobe are needed by the tests: install them (apt-get install -y ffmpeg)" >&2; exit 1; \
	  fi; }

vet:
	$(GO) vet ./...

test: deps vet
	$(GO) test -race -count=1 -timeout 9m ./...

# A short coverage-guided run of every fuzz target (the seed corpora already
# run in `make test`).
FUZZTIME ?= 20s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; done

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./media/...

clean:
	rm -rf bin
