# streamedge: `make run` starts the server on the embedded default config,
# `make test` installs what the tests need and runs them all.
GO      ?= go
BIN     := bin/streamedge
VERSION := $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)

.PHONY: all build run test vet deps fuzz bench microbench clean

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/streamedge

run: build
	./$(BIN) $(ARGS)

# The tests drive real clients: ffmpeg publishes, ffprobe and ffmpeg play,
# rtmpdump and GStreamer's rtmpsrc (librtmp) play, and Chromium opens the
# bench's HTML report.
define need
	@command -v $(1) >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing $(2) (needed by the tests)"; \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(2) >/dev/null; } || \
	      { echo "could not install $(2): apt-get install -y $(2)" >&2; exit 1; }; \
	  else \
	    echo "$(1) is needed by the tests: apt-get install -y $(2)" >&2; exit 1; \
	  fi; }
endef

deps:
	$(call need,ffprobe,ffmpeg)
	$(call need,ffmpeg,ffmpeg)
	$(call need,chromium,chromium)
	$(call need,rtmpdump,rtmpdump)
	$(call need,gst-launch-1.0,gstreamer1.0-tools gstreamer1.0-plugins-bad gstreamer1.0-plugins-base gstreamer1.0-plugins-good)

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

# The figure we quote: a real server, a synthetic 2 Mbit/s stream, players
# ramped in steps until more than 1 % starve (see `streamedge bench -h`).
bench: build
	./$(BIN) bench scenario -server ./$(BIN)

# Go benchmarks: the hub's fan-out cost and allocations per player per message.
microbench:
	$(GO) test -run '^$$' -bench . -benchmem ./media/...

clean:
	rm -rf bin
