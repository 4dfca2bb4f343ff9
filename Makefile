# xsgw — one non-recursive Makefile.
#   make          build the five programs into $(BUILD)/bin
#   make run      install what is missing, build, start a local deployment
#   make test     install what is missing, build, run unit + integration tests
#   make asan     the same tests with ASan+UBSan binaries
#   make fuzz     libFuzzer targets (clang), a short run of each
#   make bench    benchmark through the running gateway, JSON report
#   make lint     clang-format check

BUILD   ?= build
CC      ?= cc
PKGS    := libre libstrophe lmdb yaml-0.1
PKG_CFLAGS := $(patsubst -I%,-isystem %,$(shell pkg-config --cflags $(PKGS) 2>/dev/null))
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN    := -Wall -Wextra -Wshadow -Wmissing-prototypes -Wstrict-prototypes \
	   -Wno-unused-parameter -Werror
# libre 1.1.0's pkg-config omits the defines its own re.mk uses.
DEFS    := -DHAVE_INTTYPES_H -DHAVE_STDBOOL_H -DHAVE_INET6 -D_GNU_SOURCE
OPT     ?= -O2 -g
SAN     ?=
CFLAGS  := -std=gnu11 $(OPT) $(SAN) $(WARN) $(DEFS) -Ishared $(PKG_CFLAGS)
LDFLAGS := $(SAN)

SHARED_SRCS := shared/callrec.c shared/log.c shared/frame.c shared/config.c shared/store.c \
	       shared/addr.c shared/backoff.c shared/chan.c shared/util.c shared/proc.c shared/tlink.c shared/msgrec.c
SHARED_OBJS := $(SHARED_SRCS:%.c=$(BUILD)/%.o)

SUP_SRCS  := supervisor/supervisor.c supervisor/spawn.c
CTL_SRCS  := supervisor/xsgwctl.c
XMPP_SRCS := xmpp-front/xmpp_front.c xmpp-front/xmpp_link.c
SIP_SRCS  := sip-front/sip_front.c sip-front/sip_msg.c sip-front/sip_call.c
JSDP_SRCS := translator/jsdp_sdp.c translator/jsdp_jingle.c
TR_SRCS   := translator/translator.c translator/tr_msg.c translator/tr_call.c \
             translator/tr_out.c $(JSDP_SRCS)

BINS := $(BUILD)/bin/xsgw $(BUILD)/bin/xsgwctl $(BUILD)/bin/xsgw-xmpp-front \
	$(BUILD)/bin/xsgw-sip-front $(BUILD)/bin/xsgw-translator

UNIT_TESTS := test_frame test_config test_store test_addr test_backoff test_xmpp \
	      test_jsdp
UNIT_BINS  := $(UNIT_TESTS:%=$(BUILD)/tests/%)

.PHONY: all deps run test unit integ smoke asan fuzz bench lint clean
all: $(BINS)

$(BUILD)/%.o: %.c $(wildcard shared/*.h */*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/bin/xsgw: $(SUP_SRCS:%.c=$(BUILD)/%.o) $(SHARED_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)
$(BUILD)/bin/xsgwctl: $(CTL_SRCS:%.c=$(BUILD)/%.o) $(SHARED_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)
$(BUILD)/bin/xsgw-xmpp-front: $(XMPP_SRCS:%.c=$(BUILD)/%.o) $(SHARED_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)
$(BUILD)/bin/xsgw-sip-front: $(SIP_SRCS:%.c=$(BUILD)/%.o) $(SHARED_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)
$(BUILD)/bin/xsgw-translator: $(TR_SRCS:%.c=$(BUILD)/%.o) $(SHARED_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

JSDP_OBJS := $(JSDP_SRCS:%.c=$(BUILD)/%.o)

$(BUILD)/tests/test_%: tests/unit/test_%.c $(SHARED_OBJS) $(BUILD)/xmpp-front/xmpp_link.o $(JSDP_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Ixmpp-front -Itranslator $(LDFLAGS) -o $@ $< $(SHARED_OBJS) \
		$(if $(findstring xmpp,$*),$(BUILD)/xmpp-front/xmpp_link.o) \
		$(if $(findstring jsdp,$*),$(JSDP_OBJS)) \
		$(PKG_LIBS) -lcmocka

deps:
	@scripts/install-deps.sh

unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; \
		XSGW_SRCDIR=$(CURDIR) $$t; done

integ: all
	XSGW_BUILD=$(CURDIR)/$(BUILD) /usr/bin/pytest -q -p no:cacheprovider \
		tests/integ $(PYTEST_ARGS)

# `make run` itself, used as an operator would (needs the default ports)
smoke: all
	/usr/bin/python3 tests/run_smoke.py $(CURDIR)/$(BUILD)

test: deps
	$(MAKE) all
	$(MAKE) unit
	$(MAKE) integ
	$(MAKE) smoke

asan:
	$(MAKE) BUILD=build-asan OPT="-O1 -g" \
		SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
		all unit integ

fuzz:
	@scripts/fuzz.sh

bench: deps all
	/usr/bin/python3 bench/bench.py --build $(CURDIR)/$(BUILD) --out bench/report.json
	/usr/bin/python3 bench/bench_calls.py --build $(CURDIR)/$(BUILD) --out bench/report.json

run: deps all
	@scripts/run-local.sh $(CURDIR)/$(BUILD)

lint:
	clang-format --dry-run -Werror shared/*.[ch] supervisor/*.[ch] \
		xmpp-front/*.[ch] sip-front/*.[ch] translator/*.[ch] tests/unit/*.c \
		tests/fuzz/*.c

clean:
	rm -rf build build-asan build-fuzz
