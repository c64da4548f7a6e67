# ml-connector build configuration.  Override on the command line:
#   make PREFIX=/usr/local CFLAGS=-O0
VERSION = 0.1.0

PREFIX  = /usr/local
BINDIR  = $(PREFIX)/bin
MANDIR  = $(PREFIX)/share/man
DATADIR = $(PREFIX)/share/ml-connector

CC      = cc
CFLAGS  = -O2 -g
LDFLAGS =
# Warnings are added after the user's CFLAGS so that they cannot be switched off.
WFLAGS  = -std=c11 -Wall -Wextra -Werror=implicit-function-declaration \
          -Wshadow -Wformat=2 -Wno-format-nonliteral -Wstrict-prototypes \
          -Wmissing-prototypes -Wvla -Wpointer-arith
DEFS    = -Isrc -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE \
          -DMLC_VERSION=\"$(VERSION)\" -DMLC_DATADIR=\"$(DATADIR)\"
LIBS    = -lcurl -ljq -lsodium -lsqlite3 -lz -lcrypto -lm
SIMLIBS = -lmicrohttpd

ASAN_CFLAGS = -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
              -fno-sanitize-recover=undefined
# Both runtimes linked in, and only the libraries a program uses: gcc's
# -fsanitize link line turns --as-needed off (alert-log then loaded libcurl
# and 40 libraries), and LeakSanitizer scans the 6 MB of the shared
# libubsan's globals at every exit.  A process's start and exit cost 12 ms
# of CPU this way against 23 ms (bench/README.md, "The test suite's CPU").
ASAN_LDFLAGS = -fsanitize=address,undefined -static-libasan -static-libubsan \
               -Wl,--as-needed
