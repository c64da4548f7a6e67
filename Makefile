# ml-connector — see README.md.  POSIX make; tested with GNU make.
.POSIX:
.SUFFIXES:
.SUFFIXES: .c .o

include config.mk

# Shared modules: one concern each, declared in src/mlc.h.
LIBOBJ = \
	src/util.o \
	src/store.o \
	src/vault.o \
	src/twsig.o \
	src/ndjson.o \
	src/wire.o \
	src/addr.o \
	src/content.o \
	src/conf.o \
	src/sms.o \
	src/http.o \
	src/retry.o \
	src/rule.o \
	src/lookup.o \
	src/sched.o \
	src/jqrule.o \
	src/realert.o \
	src/jde.o \
	src/catalog.o \
	src/trail.o \
	src/optout.o \
	src/ack.o \
	src/monitor.o \
	src/aisrefusal.o \
	src/ais.o

# Filters and tools: bin/NAME is built from src/NAME.c plus libmlc.a.
PROGS = \
	bin/mlc-vault \
	bin/alert-match \
	bin/alert-log \
	bin/alert-render \
	bin/jde-fetch \
	bin/jde-join \
	bin/twilio-send \
	bin/twilio-status \
	bin/mlc-rule \
	bin/mlc-conf

# The libmicrohttpd servers' shared plumbing (sim/httpd.h): linked into
# $(SIMS) and $(TESTSIMS) only, so that libmlc.a needs no libmicrohttpd.
HTTPDOBJ = sim/httpd.o
# What the two simulators alone share (sim/fault.h: the fault spec words).
SIMOBJ = sim/fault.o

# Simulators (libmicrohttpd): used by the tests, the demo and bench/.
# bin/NAME is built from sim/NAME.c plus $(HTTPDOBJ), $(SIMOBJ) and libmlc.a.  Not
# part of `make install`: `make install-sim` installs them and SIMMAN.
SIMS = \
	bin/mlc-ais-sim \
	bin/mlc-twilio-sim
SIMMAN = \
	man/mlc-ais-sim.1 \
	man/mlc-twilio-sim.1

# Test-only helper programs (not installed).
TESTPROGS = \
	tests/bin/twsig-check \
	tests/bin/ndjson-cat \
	tests/bin/conf-dump \
	tests/bin/sms-calc \
	tests/bin/http-get \
	tests/bin/retry-calc \
	tests/bin/jq-run \
	tests/bin/realert-mark \
	tests/bin/ack-unit \
	tests/bin/jde-unit \
	tests/bin/sched-sweep

# Test-only scripts: tests/bin/NAME from tests/src/NAME.sh.
TESTSCRIPTS = tests/bin/man-examples

# Test-only LD_PRELOAD shims (shared objects, not linked with libmlc.a).
TESTSO = tests/bin/writefault.so

# Fuzz targets (tests/fuzz/fuzz-NAME.c): `make fuzz` builds them with clang's
# libFuzzer into tests/fuzz/bin/ and runs each; the replayers below are the
# same files built with $(CC) and tests/fuzz/replay-main.c (tests/1200).
FUZZTARGETS = ndjson conf jdepage callback template sms wire
FUZZREPLAY = \
	tests/bin/fuzz-ndjson \
	tests/bin/fuzz-conf \
	tests/bin/fuzz-jdepage \
	tests/bin/fuzz-callback \
	tests/bin/fuzz-template \
	tests/bin/fuzz-sms \
	tests/bin/fuzz-wire
FUZZ_SECONDS = 600
FUZZ_CC = clang
FUZZ_CFLAGS = -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined

# Test-only servers (libmicrohttpd).
TESTSIMS = \
	tests/bin/http-sink \
	tests/bin/http-fixture-server

SCRIPTS = bin/ml-connector

MAN = \
	man/alert-match.1 \
	man/alert-render.1 \
	man/mlc-vault.1 \
	man/jde-fetch.1 \
	man/jde-join.1 \
	man/twilio-send.1 \
	man/twilio-status.8 \
	man/alert-log.1 \
	man/ml-connector.5 \
	man/ml-connector.7 \
	man/ml-connector.8 \
	man/mlc-rule.1 \
	man/mlc-conf.1

ALL_CFLAGS  = $(CFLAGS) $(WFLAGS) $(DEFS)
ALL_LDFLAGS = $(CFLAGS) $(LDFLAGS)

all: $(PROGS) $(SIMS) $(TESTPROGS) $(TESTSIMS) $(TESTSO) $(TESTSCRIPTS) $(FUZZREPLAY) $(SCRIPTS)

.c.o:
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(LIBOBJ): src/mlc.h
$(HTTPDOBJ): sim/httpd.h src/mlc.h
$(SIMOBJ): sim/fault.h

libmlc.a: $(LIBOBJ)
	rm -f $@
	$(AR) rcs $@ $(LIBOBJ)

# One link recipe for every program: bin/X <- src/X.o (and X_OBJS; sim/X.o
# for $(SIMS)),
# tests/bin/X <- tests/src/X.o.
$(PROGS) $(SIMS) $(TESTPROGS) $(TESTSIMS): libmlc.a
$(SIMS) $(TESTSIMS): $(HTTPDOBJ)
$(SIMS): $(SIMOBJ)
$(PROGS):
	@mkdir -p bin
	$(CC) $(ALL_LDFLAGS) -o $@ src/$$(basename $@).o $($(@F)_OBJS) libmlc.a $(LIBS)
$(SIMS):
	@mkdir -p bin
	$(CC) $(ALL_LDFLAGS) -o $@ sim/$$(basename $@).o $(HTTPDOBJ) $(SIMOBJ) libmlc.a $(SIMLIBS) $(LIBS)
$(TESTPROGS):
	@mkdir -p tests/bin
	$(CC) $(ALL_LDFLAGS) -o $@ tests/src/$$(basename $@).o libmlc.a $(LIBS)
$(TESTSIMS):
	@mkdir -p tests/bin
	$(CC) $(ALL_LDFLAGS) -o $@ tests/src/$$(basename $@).o $(HTTPDOBJ) libmlc.a $(SIMLIBS) $(LIBS)

# Per program: its object, and that object's header dependency.

bin/twilio-send: src/twilio-send.o
src/twilio-send.o: src/mlc.h
bin/twilio-status: src/twilio-status.o
src/twilio-status.o: src/mlc.h

bin/mlc-vault: src/mlc-vault.o
src/mlc-vault.o: src/mlc.h
bin/mlc-ais-sim: sim/mlc-ais-sim.o
sim/mlc-ais-sim.o: src/mlc.h sim/httpd.h sim/fault.h
bin/mlc-twilio-sim: sim/mlc-twilio-sim.o
sim/mlc-twilio-sim.o: src/mlc.h sim/httpd.h sim/fault.h
tests/bin/twsig-check: tests/src/twsig-check.o
tests/src/twsig-check.o: src/mlc.h
tests/bin/http-sink: tests/src/http-sink.o
tests/src/http-sink.o: src/mlc.h sim/httpd.h

# A program of several files: NAME_OBJS, linked after src/NAME.o.
alert-log_OBJS = src/alert-log-query.o src/alert-log-quarantine.o src/alert-log-metrics.o \
	src/alert-log-monitor.o
bin/alert-log: src/alert-log.o $(alert-log_OBJS)
src/alert-log.o $(alert-log_OBJS): src/mlc.h src/alert-log.h
bin/mlc-rule: src/mlc-rule.o
src/mlc-rule.o: src/mlc.h
bin/mlc-conf: src/mlc-conf.o
src/mlc-conf.o: src/mlc.h
bin/alert-match: src/alert-match.o
src/alert-match.o: src/mlc.h
bin/alert-render: src/alert-render.o
src/alert-render.o: src/mlc.h

tests/bin/jq-run: tests/src/jq-run.o
tests/src/jq-run.o: src/mlc.h
tests/bin/realert-mark: tests/src/realert-mark.o
tests/src/realert-mark.o: src/mlc.h
tests/bin/ack-unit: tests/src/ack-unit.o
tests/src/ack-unit.o: src/mlc.h
tests/bin/ndjson-cat: tests/src/ndjson-cat.o
tests/src/ndjson-cat.o: src/mlc.h
tests/bin/conf-dump: tests/src/conf-dump.o
tests/src/conf-dump.o: src/mlc.h
tests/bin/sms-calc: tests/src/sms-calc.o
tests/src/sms-calc.o: src/mlc.h
tests/bin/http-get: tests/src/http-get.o
tests/src/http-get.o: src/mlc.h
tests/bin/retry-calc: tests/src/retry-calc.o
tests/src/retry-calc.o: src/mlc.h
tests/bin/http-fixture-server: tests/src/http-fixture-server.o
tests/src/http-fixture-server.o: src/mlc.h sim/httpd.h
bin/jde-fetch: src/jde-fetch.o
src/jde-fetch.o: src/mlc.h
bin/jde-join: src/jde-join.o
src/jde-join.o: src/mlc.h
tests/bin/jde-unit: tests/src/jde-unit.o
tests/src/jde-unit.o: src/mlc.h
tests/bin/sched-sweep: tests/src/sched-sweep.o
tests/src/sched-sweep.o: src/mlc.h

tests/bin/man-examples: tests/src/man-examples.sh
	@mkdir -p tests/bin
	cp tests/src/man-examples.sh $@.tmp && chmod 755 $@.tmp && mv $@.tmp $@

tests/bin/writefault.so: tests/src/writefault.c
	@mkdir -p tests/bin
	$(CC) $(ALL_CFLAGS) -fPIC -shared -o $@ tests/src/writefault.c -ldl

$(FUZZREPLAY): libmlc.a tests/fuzz/replay-main.c tests/fuzz/fuzz.h src/mlc.h
	@mkdir -p tests/bin
	$(CC) $(ALL_CFLAGS) -Itests/fuzz -o $@ tests/fuzz/$$(basename $@).c \
		tests/fuzz/replay-main.c libmlc.a $(LIBS)
tests/bin/fuzz-ndjson: tests/fuzz/fuzz-ndjson.c
tests/bin/fuzz-conf: tests/fuzz/fuzz-conf.c
tests/bin/fuzz-jdepage: tests/fuzz/fuzz-jdepage.c
tests/bin/fuzz-callback: tests/fuzz/fuzz-callback.c
tests/bin/fuzz-template: tests/fuzz/fuzz-template.c
tests/bin/fuzz-sms: tests/fuzz/fuzz-sms.c
tests/bin/fuzz-wire: tests/fuzz/fuzz-wire.c

# libFuzzer (clang): the library sources are compiled in, so they are instrumented.
fuzz-build:
	@mkdir -p tests/fuzz/bin
	for t in $(FUZZTARGETS); do \
		$(FUZZ_CC) $(FUZZ_CFLAGS) $(DEFS) -DMLC_LIBFUZZER -Itests/fuzz -o tests/fuzz/bin/fuzz-$$t \
			tests/fuzz/fuzz-$$t.c $(LIBOBJ:.o=.c) $(LIBS) || exit 1; \
	done
fuzz: fuzz-build
	FUZZ_SECONDS=$(FUZZ_SECONDS) sh bench/fuzz.sh $(FUZZTARGETS)

# The orchestrator with its version and DATADIR filled in.  `make install`
# writes its own copy with the DATADIR given to it, so that PREFIX and
# DATADIR hold at install time whatever the build was made with (the C
# programs look for no data; mlc-ais-sim also looks beside its bin/).
SCRIPT_SED = sed -e 's/@VERSION@/$(VERSION)/g' -e 's|@DATADIR@|$(DATADIR)|g'
bin/ml-connector: scripts/ml-connector.sh config.mk
	@mkdir -p bin
	$(SCRIPT_SED) scripts/ml-connector.sh >$@.tmp
	chmod 755 $@.tmp
	mv $@.tmp $@

# The longest tests first (by CPU seconds, each run alone: 12 to 47 s;
# 0710 waits more than it computes), so that the short ones fill in beside them
# (about a third of the suite's time is waiting on simulated latency, rates
# and locks, hence more jobs than cores).
SLOW_TESTS = tests/1110-e2e.t tests/1120-fault-matrix.t tests/1121-fault-matrix-twilio.t \
	tests/0010-lint.t tests/1100-orchestrator.t tests/0910-alert-render.t \
	tests/0710-twilio-send-faults.t tests/1220-hostile.t tests/1210-write-faults.t \
	tests/1185-resolved.t tests/0300-http.t tests/1122-monitor-outage.t \
	tests/0800-alert-match.t tests/1230-secrets.t tests/0400-ais-sim.t tests/0210-vault.t
TESTS = $(SLOW_TESTS) $(filter-out $(SLOW_TESTS),$(sort $(wildcard tests/*.t)))
PROVE = prove -j4 --timer

check: all
	$(PROVE) $(TESTS)

# The same suite built with AddressSanitizer and UndefinedBehaviorSanitizer.
# It rebuilds in place, so it leaves the tree built with sanitizers: `make clean all` after.
check-asan:
	$(MAKE) clean
	$(MAKE) -j2 CFLAGS="$(ASAN_CFLAGS)" LDFLAGS="$(ASAN_LDFLAGS)" all
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=70 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	MLC_SANITIZED=1 $(PROVE) $(TESTS)

# Every C source compiled with the warning flags as errors (used by tests/0010-lint.t).
warncheck:
	for f in src/*.c sim/*.c tests/src/*.c; do \
		$(CC) $(ALL_CFLAGS) -Werror -fsyntax-only $$f || exit 1; \
	done

# What `make install` installs (tests/0020), and what `make install-sim` adds.
print-progs:
	@echo $(PROGS) $(SCRIPTS)
print-sims:
	@echo $(SIMS)

lint: warncheck
	prove tests/0010-lint.t tests/0011-options.t

install: all
	mkdir -p $(DESTDIR)$(BINDIR) $(DESTDIR)$(DATADIR)
	for p in $(PROGS); do \
		cp -f $$p $(DESTDIR)$(BINDIR)/ && chmod 755 $(DESTDIR)$(BINDIR)/$$(basename $$p); \
	done
	$(SCRIPT_SED) scripts/ml-connector.sh >$(DESTDIR)$(BINDIR)/ml-connector.tmp
	chmod 755 $(DESTDIR)$(BINDIR)/ml-connector.tmp
	mv -f $(DESTDIR)$(BINDIR)/ml-connector.tmp $(DESTDIR)$(BINDIR)/ml-connector
	cp -R data/. $(DESTDIR)$(DATADIR)/
	for m in $(MAN); do \
		s=$${m##*.}; mkdir -p $(DESTDIR)$(MANDIR)/man$$s; \
		cp -f $$m $(DESTDIR)$(MANDIR)/man$$s/ && chmod 644 $(DESTDIR)$(MANDIR)/man$$s/$$(basename $$m); \
	done

# The simulators, for a demo or a benchmark on an installed system (mlc-ais-sim
# reads DATADIR/jde, which `make install` puts there).
install-sim: $(SIMS)
	mkdir -p $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1
	for p in $(SIMS); do \
		cp -f $$p $(DESTDIR)$(BINDIR)/ && chmod 755 $(DESTDIR)$(BINDIR)/$$(basename $$p); \
	done
	for m in $(SIMMAN); do \
		cp -f $$m $(DESTDIR)$(MANDIR)/man1/ && chmod 644 $(DESTDIR)$(MANDIR)/man1/$$(basename $$m); \
	done

uninstall: uninstall-sim
	for p in $(PROGS) $(SCRIPTS); do rm -f $(DESTDIR)$(BINDIR)/$$(basename $$p); done
	for m in $(MAN); do s=$${m##*.}; rm -f $(DESTDIR)$(MANDIR)/man$$s/$$(basename $$m); done
	rm -rf $(DESTDIR)$(DATADIR)
uninstall-sim:
	for p in $(SIMS); do rm -f $(DESTDIR)$(BINDIR)/$$(basename $$p); done
	for m in $(SIMMAN); do rm -f $(DESTDIR)$(MANDIR)/man1/$$(basename $$m); done

clean:
	rm -f libmlc.a src/*.o sim/*.o tests/src/*.o $(PROGS) $(SIMS) $(TESTPROGS) $(TESTSIMS) $(FUZZREPLAY) $(SCRIPTS)
	rm -f $(TESTSO) $(TESTSCRIPTS)
	rm -rf tests/fuzz/bin

.PHONY: fuzz fuzz-build all check check-asan warncheck print-progs print-sims lint install install-sim \
	uninstall uninstall-sim clean
