# streamedge: `make run` starts the server on the embedded default config,
# `make test` installs what the tests need and runs them all.
GO      ?= go
BIN     := bin/streamedge
VERSION := $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)

.PHONY: all build run test vet deps codecs vendor fuzz bench bench-capacity bench-rebalance bench-edge microbench clean

all: build

build: vendor codecs
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/streamedge

run: build
	./$(BIN) $(ARGS)

# The tests drive real clients and real servers: ffmpeg publishes, ffprobe,
# ffmpeg, rtmpdump and GStreamer play, Chromium opens pages, nginx-rtmp and
# redis-server stand in as origin and store, and the audio transcoder builds
# on libavcodec and libopus. $(1) is a command or a file that the package
# $(2) provides.
define need
	@{ command -v $(1) >/dev/null || [ -e $(1) ]; } || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing $(2) (needed by the tests)"; \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(2) >/dev/null; } || \
	      { echo "could not install $(2): apt-get install -y $(2)" >&2; exit 1; }; \
	  else \
	    echo "$(1) is needed by the tests: apt-get install -y $(2)" >&2; exit 1; \
	  fi; }
endef

# The /players/ page plays HTTP-FLV with mpegts.js, taken from npm at build
# time and embedded in the binary (not committed).
MPEGTS_VERSION := 1.8.2
MPEGTS_JS      := media/players/static/vendor/mpegts.js
vendor: $(MPEGTS_JS)
$(MPEGTS_JS):
	$(call need,npm,npm)
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	  (cd "$$tmp" && npm pack --silent mpegts.js@$(MPEGTS_VERSION) >/dev/null && \
	   tar xzf mpegts.js-$(MPEGTS_VERSION).tgz package/dist/mpegts.js) && \
	  cp "$$tmp/package/dist/mpegts.js" $@ && echo "vendored mpegts.js $(MPEGTS_VERSION)"

deps: vendor codecs
	$(call need,ffprobe,ffmpeg)
	$(call need,ffmpeg,ffmpeg)
	$(call need,chromium,chromium)
	$(call need,ss,iproute2)
	$(call need,rtmpdump,rtmpdump)
	$(call need,gst-launch-1.0,gstreamer1.0-tools)
	$(call need,/usr/lib/x86_64-linux-gnu/gstreamer-1.0/libgstrtmp.so,gstreamer1.0-plugins-bad gstreamer1.0-plugins-good gstreamer1.0-plugins-base)
	$(call need,/usr/lib/nginx/modules/ngx_rtmp_module.so,nginx-light libnginx-mod-rtmp)
	$(call need,redis-server,redis-server)
	$(call need,ip,iproute2)

# The AAC <-> Opus transcoder (media/transcode) builds on libavcodec,
# libswresample and libopus through cgo: the binary needs their headers.
# (CGO_ENABLED=0 builds without it: WebRTC then carries video only.)
codecs:
	$(call need,pkg-config,pkg-config)
	$(call need,/usr/include/opus/opus.h,libopus-dev)
	$(call need,/usr/include/x86_64-linux-gnu/libavcodec/avcodec.h,libavcodec-dev)
	$(call need,/usr/include/x86_64-linux-gnu/libswresample/swresample.h,libswresample-dev)

vet:
	$(GO) vet ./...

test: deps vet
	$(GO) test -race -count=1 -timeout 15m ./...

# A short coverage-guided run of every fuzz target (the seed corpora already
# run in `make test`).
FUZZTIME ?= 20s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; done

# Where the benches run: the server (and nginx-rtmp) on SERVER_CPUS, the
# load client on CLIENT_CPUS, so neither takes the other's core; on a
# machine with one core they share it. BENCH_NICE (e.g. -5, as root) keeps
# other work on a shared machine off their cores.
SERVER_CPUS ?= 0
CLIENT_CPUS ?= 1
BENCH_NICE  ?= 0
BENCH_PIN   := $(shell [ "$$(nproc)" -ge 2 ] && echo -server-cpus $(SERVER_CPUS) -client-cpus $(CLIENT_CPUS)) -nice $(BENCH_NICE)

# The figures we quote (README, "Load generator"): streamedge against
# nginx-rtmp with the same synthetic 2 Mbit/s publisher and players, at
# 1,000 and 2,000 players on RTMP and HTTP-FLV, -w 1 and -w 2; then
# streamedge -w 1 alone, ramped until more than 1 % starve or are refused,
# and offered 1.5 times that. 10-20 minutes; bench-results/ keeps the
# JSON and a perf profile of the worker.
bench: build
	$(call need,/usr/lib/nginx/modules/ngx_rtmp_module.so,nginx-light libnginx-mod-rtmp)
	@mkdir -p bench-results
	./$(BIN) bench compare -server ./$(BIN) $(BENCH_PIN) -json bench-results/compare.json -profile bench-results/worker.perf

# The capacity of one worker alone, per protocol: the ramp to where more
# than 1 % of players starve or are refused, then 1.5 times as many
# offered, and what the admitted ones get (bench/admission.go). On two
# cores the load client's one core is the limit first; the last run makes
# the server the limit (mw_latency 50ms costs it about 2.5 times the CPU
# per Gbit), so that what it admits past its capacity is its own doing.
CAPACITY_YAML := balance: {host_cpu_high: 0, max_connections: 0}
bench-capacity: build
	@mkdir -p bench-results
	./$(BIN) bench scenario -server ./$(BIN) -w 1 -protocol flv -step-duration 10s -past-capacity 1.5 \
	  -steps 2000,4000,6000,8000,10000,12000,14000 -yaml '$(CAPACITY_YAML)' $(BENCH_PIN) -json bench-results/capacity-flv.json
	./$(BIN) bench scenario -server ./$(BIN) -w 1 -protocol rtmp -step-duration 10s -past-capacity 1.5 \
	  -steps 2000,4000,6000,8000,10000,12000,14000 -yaml '$(CAPACITY_YAML)' $(BENCH_PIN) -json bench-results/capacity-rtmp.json
	./$(BIN) bench scenario -server ./$(BIN) -w 1 -protocol flv -step-duration 10s -past-capacity 1.5 \
	  -steps 1000,2000,3000,4000,5000,6000,8000 -yaml "$$(printf '$(CAPACITY_YAML)\nplay: {mw_latency: 50ms}')" $(BENCH_PIN) \
	  -json bench-results/capacity-flv-mw50.json

# The balancer evening out players piled on one of two workers: time to even,
# players moved, reconnects, refusals (bench/rebalance.go).
bench-rebalance: build
	./$(BIN) bench scenario rebalance -server ./$(BIN) -players 400 -bitrate 4M

# Edge against standalone: the origin's connections and CPU per Gbit (bench/edge.sh).
bench-edge: build
	bench/edge.sh ./$(BIN)

# Go benchmarks: the hub's fan-out cost and allocations per player per message, the
# balancer's decision and the cBPF program's cost per accepted connection.
microbench:
	$(GO) test -run '^$$' -bench . -benchmem ./media/... ./supervisor/balance ./supervisor/steer

# Where make install puts things; DESTDIR for packaging.
PREFIX  ?= /usr/local
DESTDIR ?=

# install: the binary, the default config (kept if one is there), the
# systemd unit and the logrotate snippet. Then: systemctl daemon-reload &&
# systemctl enable --now streamedge.
install: build
	install -D -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/streamedge
	install -d $(DESTDIR)/etc/streamedge $(DESTDIR)/var/log/streamedge
	[ -e $(DESTDIR)/etc/streamedge/streamedge.yaml ] || install -m 0644 configs/standalone.yaml $(DESTDIR)/etc/streamedge/streamedge.yaml
	sed 's#/usr/local/bin/streamedge#$(PREFIX)/bin/streamedge#g' configs/streamedge.service > streamedge.service.tmp
	install -D -m 0644 streamedge.service.tmp $(DESTDIR)/etc/systemd/system/streamedge.service
	rm -f streamedge.service.tmp
	install -D -m 0644 configs/streamedge.logrotate $(DESTDIR)/etc/logrotate.d/streamedge
	install -D -m 0644 README.md $(DESTDIR)$(PREFIX)/share/doc/streamedge/README.md

clean:
	rm -rf bin
