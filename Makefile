# Vigil build. Everything built goes to .output/ (.output/san/ for the
# AddressSanitizer+UBSan build). BPF: x.bpf.c -> x.bpf.o -> x.skel.h, included
# by its loader x.c.
SAN ?= 0
ifeq ($(SAN),1)
OUTPUT := .output/san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else
OUTPUT := .output/std
SANFLAGS :=
endif
CC ?= gcc
CLANG ?= clang
BPFTOOL ?= bpftool
ARCH := $(shell uname -m | sed 's/x86_64/x86/;s/aarch64/arm64/')
VERSION := 0.1.0

WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes
CFLAGS ?= -O2 -g
CFLAGS += -std=gnu11 $(WARN) $(SANFLAGS) -D_GNU_SOURCE -DVIGIL_VERSION='"$(VERSION)"'
INCLUDES := -I.output/gen -Isrc
LDLIBS := -lbpf -lelf -lz -lyaml -lssl -lcrypto -lzstd -lsqlite3 -lxxhash -lcap -lpthread
LDFLAGS += $(SANFLAGS)

BPF_SRC := $(wildcard src/sources/ebpf/*.bpf.c)
SKELS := $(patsubst src/sources/ebpf/%.bpf.c,.output/gen/%.skel.h,$(BPF_SRC))
LIB_SRC := $(filter-out src/main.c %.bpf.c,$(wildcard src/*/*.c src/*/*/*.c))
LIB_OBJ := $(patsubst src/%.c,$(OUTPUT)/obj/%.o,$(LIB_SRC))
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(patsubst tests/unit/%.c,$(OUTPUT)/tests/%,$(UNIT_SRC))

.SECONDARY:
.PHONY: all deps test-deps bench-deps run test unit integration bench clean fmt
all: deps $(OUTPUT)/vigil $(UNIT_BIN)

deps:
	@scripts/install-deps.sh build
test-deps:
	@scripts/install-deps.sh test
bench-deps:
	@scripts/install-deps.sh bench

# vmlinux.h comes from the running kernel's BTF; a host without BTF builds
# against the checked-in copy (CO-RE relocates at load time either way).
.output/gen/vmlinux.h:
	@mkdir -p $(@D)
	@if [ -r /sys/kernel/btf/vmlinux ]; then \
		$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $@.tmp; \
	else \
		xz -dc src/sources/vmlinux/vmlinux_$(ARCH).h.xz > $@.tmp; \
	fi && mv $@.tmp $@

.output/gen/%.bpf.o: src/sources/ebpf/%.bpf.c src/sources/ebpf/*.h .output/gen/vmlinux.h
	$(CLANG) -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -Wall -Werror \
		-I.output/gen -Isrc -c $< -o $@
	llvm-strip -g $@ 2>/dev/null || true

.output/gen/%.skel.h: .output/gen/%.bpf.o
	$(BPFTOOL) gen skeleton $< name $*_bpf > $@.tmp && mv $@.tmp $@

$(OUTPUT)/obj/%.o: src/%.c $(SKELS) $(wildcard src/*/*.h src/*/*/*.h)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(INCLUDES) -c $< -o $@

$(OUTPUT)/libvigil.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(OUTPUT)/vigil: src/main.c $(OUTPUT)/libvigil.a
	$(CC) $(CFLAGS) $(INCLUDES) $< $(OUTPUT)/libvigil.a $(LDFLAGS) $(LDLIBS) -o $@
	@ln -sf $(abspath $@) .output/vigil-$(if $(filter 1,$(SAN)),san,std)

$(OUTPUT)/tests/%: tests/unit/%.c tests/unit/unit.h $(OUTPUT)/libvigil.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(INCLUDES) -Itests/unit $< $(OUTPUT)/libvigil.a $(LDFLAGS) $(LDLIBS) -o $@

# make run: the whole pipeline on this host (scripts/run.sh): local PKI,
# enrolled device, collector printing each stored event, agent shipping to it.
run: deps
	@$(MAKE) --no-print-directory all
	@VIGIL=$(OUTPUT)/vigil scripts/run.sh

# make test: the whole suite, plain and under ASan+UBSan.
test: test-deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory SAN=1 all
	@tests/run.sh

unit: all
	@for t in $(UNIT_BIN); do $$t || exit 1; done

bench: bench-deps
	@$(MAKE) --no-print-directory all
	@bench/run.sh

clean:
	rm -rf .output

# make fuzz: every tests/fuzz/fuzz_*.c target under libFuzzer+ASan+UBSan,
# FUZZ_SECONDS each (make fuzz FUZZ_SECONDS=60).
FUZZ_SECONDS ?= 300
.PHONY: fuzz
fuzz: test-deps
	@tests/fuzz/run.sh $(FUZZ_SECONDS)
