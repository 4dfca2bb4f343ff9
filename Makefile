# xsgw — one non-recursive Makefile.
#   make          build the five programs into $(BUILD)/bin
#   make run      install what is missing, build, start a local deployment
#   make test     install what is missing, build, run unit + integration tests
#   make asan     the same tests with ASan+UBSan binaries
#   make fuzz     libFuzzer targets (clang), a short run of each
#   make bench    benchmark through the running gateway, JSON report
#   make lint     clang-format check, no symbol clashing with a library's,
#                 no source files calling each other in a circle

BUILD   ?= build
CC      ?= cc
# Each program links only the libraries it uses (only the translator and
# xsgwctl touch the store; only the xmpp-front and translator libstrophe).
pkgcflags = $(patsubst -I%,-isystem %,$(shell pkg-config --cflags $(1) 2>/dev/null))
pkglibs   = $(shell pkg-config --libs $(1) 2>/dev/null)
PKG_CFLAGS := $(call pkgcflags,libre libstrophe lmdb yaml-0.1 expat)
LIBS_SUP   := $(call pkglibs,libre yaml-0.1)
LIBS_CTL   := $(call pkglibs,libre lmdb yaml-0.1)
LIBS_XMPP  := $(call pkglibs,libre libstrophe yaml-0.1 expat libcrypto)
LIBS_SIP   := $(call pkglibs,libre yaml-0.1)
LIBS_TR    := $(call pkglibs,libre libstrophe lmdb yaml-0.1 expat libcrypto)

WARN    := -Wall -Wextra -Wshadow -Wmissing-prototypes -Wstrict-prototypes \
	   -Wno-unused-parameter -Werror
# libre 1.1.0's pkg-config omits the defines its own re.mk uses.
DEFS    := -DHAVE_INTTYPES_H -DHAVE_STDBOOL_H -DHAVE_INET6 -D_GNU_SOURCE
OPT     ?= -O2 -g
SAN     ?=
# EXTRA_DEFS: e.g. -DFRAME_VERSION=99 for the test that a worker of
# another release is refused
CFLAGS  := -std=gnu11 $(OPT) $(SAN) $(WARN) $(DEFS) $(EXTRA_DEFS) -Ishared \
	   $(PKG_CFLAGS)
LDFLAGS := $(SAN)

# shared/ is one static library: a program pulls in only the objects it uses
SHARED_SRCS := $(sort $(wildcard shared/*.c))
SHARED_LIB  := $(BUILD)/libxsgw.a

SUP_SRCS  := supervisor/supervisor.c supervisor/spawn.c
CTL_SRCS  := ctl/xsgwctl.c
XMPP_SRCS := xmpp-front/xmpp_front.c xmpp-front/xmpp_link.c \
	     xmpp-front/xstream.c xmpp-front/xsock.c \
	     xmpp-front/xjournal.c xmpp-front/xclient.c xmpp-front/xcout.c \
	     xmpp-front/xcwd.c xmpp-front/xsasl.c xmpp-front/xresolve.c
SIP_SRCS  := sip-front/sip_front.c sip-front/sf_tcp.c sip-front/sf_tcpframe.c \
	     sip-front/sf_strans.c sip-front/sf_ctrans.c sip-front/sf_reach.c \
	     sip-front/sf_report.c sip-front/sf_dns.c
JSDP_SRCS := translator/jsdp_sdp.c translator/jsdp_jingle.c
# the translator without its main(): linked into unit tests of the brain
TR_SRCS   := translator/tr_core.c translator/tr_out.c translator/tr_xmpp_out.c \
	     translator/tr_sip_out.c translator/tr_presence.c \
	     translator/tr_media.c translator/tr_callrec.c translator/tr_call.c \
	     translator/tr_call_util.c translator/tr_call_xmpp.c translator/tr_call_sip.c \
	     translator/tr_call_xfer.c \
	     translator/tr_msg.c translator/tr_owner.c translator/tr_from_xmpp.c \
	     translator/tr_reg.c translator/tr_regrec.c translator/tr_sipaddr.c translator/tr_reg_form.c translator/tr_digest.c \
	     translator/tr_phone.c translator/tr_sub.c translator/tr_pidf.c \
	     translator/tr_watch.c translator/tr_pidf_out.c \
	     translator/tr_from_sip.c translator/tr_upgrade.c translator/tr_flush.c \
	     $(JSDP_SRCS)
TR_MAIN   := translator/translator.c
TR_LIB    := $(BUILD)/libtranslator.a

ALL_SRCS := $(SHARED_SRCS) $(SUP_SRCS) $(CTL_SRCS) $(XMPP_SRCS) $(SIP_SRCS) \
	    $(TR_SRCS) $(TR_MAIN)
objs = $(patsubst %.c,$(BUILD)/%.o,$(1))

BINS := $(BUILD)/bin/xsgw $(BUILD)/bin/xsgwctl $(BUILD)/bin/xsgw-xmpp-front \
	$(BUILD)/bin/xsgw-sip-front $(BUILD)/bin/xsgw-translator

UNIT_TESTS := test_frame test_config test_store test_addr test_backoff test_xmpp \
	      test_jsdp test_chan test_translator test_msg test_records \
	      test_sip_trans test_util test_xstream test_reg test_pidf test_watch \
	      test_tcpframe test_xsasl test_xparse
UNIT_BINS  := $(UNIT_TESTS:%=$(BUILD)/tests/%)
# what a unit test links besides libxsgw, and with which libraries
# (TEST_LIBS_: besides $(LIBS_TR))
TEST_OBJS_test_xmpp := $(call objs,xmpp-front/xmpp_link.c xmpp-front/xsock.c \
	xmpp-front/xjournal.c)
TEST_OBJS_test_xstream := $(call objs,xmpp-front/xstream.c)
TEST_OBJS_test_xsasl := $(call objs,xmpp-front/xsasl.c)
TEST_LIBS_test_xstream := $(call pkglibs,expat)
TEST_OBJS_test_jsdp := $(call objs,$(JSDP_SRCS))
# the brain without its main (tests/unit/test_translator.c)
TEST_OBJS_test_translator := $(TR_LIB)
TEST_OBJS_test_reg := $(TR_LIB)
TEST_OBJS_test_pidf := $(TR_LIB)
TEST_OBJS_test_watch := $(TR_LIB)
# the sip-front's transaction layer without its main
TEST_OBJS_test_sip_trans := $(call objs,sip-front/sf_strans.c \
	sip-front/sf_ctrans.c sip-front/sf_reach.c sip-front/sf_report.c sip-front/sf_dns.c)
TEST_OBJS_test_tcpframe := $(call objs,sip-front/sf_tcpframe.c)

.PHONY: all deps run test unit integ smoke asan fuzz bench lint clean
all: $(BINS)

# -MMD: every object depends on exactly the headers it includes
$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<
-include $(patsubst %.c,$(BUILD)/%.d,$(ALL_SRCS) $(wildcard tests/unit/*.c))

$(SHARED_LIB): $(call objs,$(SHARED_SRCS))
	@rm -f $@
	ar rcs $@ $^
$(TR_LIB): $(call objs,$(TR_SRCS))
	@rm -f $@
	ar rcs $@ $^

# libre's randomness from the kernel's pool, not OpenSSL's DRBG per value
# (shared/rerand.c): pulled from the archive and exported, so that libre's
# own calls bind to it
LIBRE_RAND := -Wl,-u,rand_u32,-u,rand_bytes \
	-Wl,--export-dynamic-symbol=rand_u32,--export-dynamic-symbol=rand_bytes

$(BUILD)/bin/xsgw: $(call objs,$(SUP_SRCS)) $(SHARED_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS_SUP)
$(BUILD)/bin/xsgwctl: $(call objs,$(CTL_SRCS)) $(SHARED_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS_CTL)
$(BUILD)/bin/xsgw-xmpp-front: $(call objs,$(XMPP_SRCS)) $(SHARED_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $(LIBRE_RAND) -o $@ $^ $(LIBS_XMPP)
# sf_tcp.c's tcp_accept must be seen by libre (the TCP guard)
$(BUILD)/bin/xsgw-sip-front: $(call objs,$(SIP_SRCS)) $(SHARED_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $(LIBRE_RAND) \
		-Wl,--export-dynamic-symbol=tcp_accept -o $@ $^ $(LIBS_SIP)
$(BUILD)/bin/xsgw-translator: $(call objs,$(TR_MAIN)) $(TR_LIB) $(SHARED_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $(LIBRE_RAND) -o $@ $^ $(LIBS_TR)

.SECONDARY:
.SECONDEXPANSION:
$(BUILD)/tests/test_%: $(BUILD)/tests/unit/test_%.o $$(TEST_OBJS_test_$$*) \
		$(SHARED_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS_TR) $(TEST_LIBS_test_$*) -lcmocka
$(BUILD)/tests/unit/%.o: CFLAGS += -Ixmpp-front -Itranslator -Isip-front

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

# the C load client and the do-nothing component (issue 13): no project
# flags (-Werror, sanitizers), only -O2 and the warnings
BENCH_TOOLS = $(BUILD)/bench/loadc $(BUILD)/bench/nullcomp
$(BUILD)/bench/%: bench/%.c bench/xscan.h
	@mkdir -p $(dir $@)
	$(CC) -O2 -Wall -Wextra -o $@ $< -lm

bench: deps all $(BENCH_TOOLS)
	/usr/bin/python3 bench/bench.py --build $(CURDIR)/$(BUILD) --out bench/report.json
	/usr/bin/python3 bench/bench_calls.py --build $(CURDIR)/$(BUILD) --out bench/report.json
	/usr/bin/python3 bench/bench_loadc.py --build $(CURDIR)/$(BUILD) --out bench/report.json \
		--soak-s 300 --retain-s 60 --held 100000
	/usr/bin/python3 bench/bench_loadc.py --build $(CURDIR)/$(BUILD) --out bench/report.json \
		--store-sync periodic --key loadc_store_periodic
	/usr/bin/python3 bench/bench_loadc.py --build $(CURDIR)/$(BUILD) --out bench/report.json \
		--store-sync periodic --cpu last --key loadc_one_cpu
	/usr/bin/python3 bench/bench_loadc.py --build $(CURDIR)/$(BUILD) --out bench/report.json \
		--prosody-nagle --flows call --rates 50,100,200 --key loadc_prosody_nagle \
		--no-kamailio

run: deps all
	@scripts/run-local.sh $(CURDIR)/$(BUILD)

lint: all
	scripts/check-symbols.sh $(BUILD)
	/usr/bin/python3 scripts/check-cycles.py $(BUILD)
	clang-format --dry-run -Werror shared/*.[ch] supervisor/*.[ch] \
		xmpp-front/*.[ch] sip-front/*.[ch] translator/*.[ch] ctl/*.[ch] \
		tests/unit/*.c \
		tests/fuzz/*.c

# only what the build made
clean:
	rm -rf $(BUILD) build-asan build-fuzz
