# SPDX-License-Identifier: GPL-2.0
#
# cr: the module (Kbuild), crctl (cargo), the selftests, and the VM runs.
#
#   make                  the module, crctl and the selftests for FLAVOR
#   make check            set up what is missing, then every test; ends "N passed, N failed"
#   make demo             boot the fast kernel and show the main job
#   make demo-cluster     two guests: a counter migrates from cr1 to cr2 and back
#   make bench            checkpoint speed, each figure beside its limit (RUNS=5)
#   make bench-criu       cr against Debian's CRIU, side by side (RUNS=3)
#   make KDIR=/path       build the module against another Rust-enabled kernel tree
#
# FLAVOR=fast|debug picks the test kernel (default fast; make check uses debug).
# The kernels are built and cached outside the repo by scripts/kernel.

FLAVOR ?= fast
TOP := $(CURDIR)
OUT := $(TOP)/build/$(FLAVOR)
MODOUT := $(OUT)/module
TARGET := x86_64-unknown-linux-gnu
CRCTL := $(TOP)/target/$(TARGET)/release/crctl
SELFTESTS_OUT := $(TOP)/build/selftests
# Debian's Rust toolchain first (see scripts/setup), then bindgen-cli.
export PATH := /usr/bin:$(HOME)/.cargo/bin:$(PATH)

# The make variables every build against the test kernel needs (RUSTC, BINDGEN,
# LLVM for the debug flavor, ...). With KDIR= pointing elsewhere, pass what that
# tree was built with (LLVM=..., RUSTC=...) on the command line yourself.
ifeq ($(origin KDIR),undefined)
KARGS := $(shell $(TOP)/scripts/kernel make-args $(FLAVOR))
KDIR_CMD := $(TOP)/scripts/kernel build $(FLAVOR)
else
KARGS :=
KDIR_CMD := echo $(KDIR)
endif
CLIPPY_DRIVER ?= /usr/bin/clippy-driver
KMAKE = kdir=$$($(KDIR_CMD)) && $(MAKE) -C $$kdir M=$(TOP) MO=$(MODOUT) $(KARGS)

.PHONY: all module module-strict crctl selftests guest setup kernel headers \
	check fresh-check demo demo-cluster bench bench-criu bench-cluster fuzz clean modules_install rust-analyzer

all: module crctl selftests

setup:
	@$(TOP)/scripts/setup

kernel: setup
	@$(TOP)/scripts/kernel build $(FLAVOR) >/dev/null

headers: setup
	@$(TOP)/scripts/kernel headers >/dev/null

# The module. W=e makes every warning an error and CLIPPY=1 lints the Rust code.
module: setup
	@mkdir -p $(MODOUT)
	@$(KMAKE) modules

module-strict: setup
	@mkdir -p $(MODOUT)
	@$(KMAKE) W=e CLIPPY=1 CLIPPY_DRIVER=$(CLIPPY_DRIVER) modules

modules_install: module
	@$(KMAKE) modules_install

# rust-project.json for editors, in the repository root where they look for it.
# The module is built first for its generated bindings (src/Kbuild), whose
# path the crate gets in its environment, as rustc does in the build.
rust-analyzer: module
	@$(KMAKE) rust-analyzer
	@python3 -c 'import json, sys; p, out = sys.argv[1:]; d = json.load(open(p)); \
		[c["env"].update(CR_BINDINGS_GENERATED=out) for c in d["crates"] \
		 if c["root_module"] == "$(TOP)/src/cr_main.rs"]; \
		json.dump(d, open("$(TOP)/rust-project.json", "w"), indent=4)' \
		$(MODOUT)/rust-project.json $(MODOUT)/src/bindings_generated.rs

# crctl and crd, linked statically so they run in the busybox guest.
crctl:
	@$(TOP)/scripts/cargo-cache seed
	@cargo build --quiet --release --locked --target $(TARGET) -p crctl -p crd

selftests: headers
	@$(MAKE) -s -C $(TOP)/selftests OUTPUT=$(SELFTESTS_OUT) \
		KSRC=$$($(TOP)/scripts/kernel source) \
		KHDR_INCLUDES="-isystem $$($(TOP)/scripts/kernel headers)"

# Everything scripts/vm puts in the guest.
guest: module crctl selftests

check:
	@$(TOP)/scripts/check

# make demo and make check in a fresh Debian 12 root with an empty cache (slow).
fresh-check:
	@$(TOP)/scripts/fresh-check

# Benchmarks (not tests): in the fast kernel, measured side by side in one guest.
BENCH := $(TOP)/build/bench/cr_bench
$(BENCH): $(TOP)/bench/cr_bench.c $(TOP)/bench/bench.h $(TOP)/include/uapi/linux/cr.h $(TOP)/include/uapi/linux/cr_image.h
	@mkdir -p $(dir $@)
	@gcc -O2 -Wall -Werror -static -pthread -I$(TOP)/include/uapi \
		-isystem $$($(TOP)/scripts/kernel headers) -o $@ $<

# Fuzz the image reader and the format's rules (src/image/format.rs, shared with the
# kernel), the crd protocol's decoder and the cluster map parser with libFuzzer,
# FUZZ_SECONDS each; needs rustup's nightly. New inputs that reach new code land
# in crctl/fuzz/corpus/TARGET (make check replays the image corpus).
FUZZ_SECONDS ?= 60
fuzz:
	@command -v cargo-fuzz >/dev/null || cargo install --quiet --locked cargo-fuzz
	@cd $(TOP)/crctl/fuzz && $(HOME)/.cargo/bin/cargo +nightly fuzz run image corpus/image -- \
		-max_total_time=$(FUZZ_SECONDS) -max_len=131072 -rss_limit_mb=2048
	@mkdir -p $(TOP)/crctl/fuzz/corpus/proto $(TOP)/crctl/fuzz/corpus/map
	@cd $(TOP)/crctl/fuzz && $(HOME)/.cargo/bin/cargo +nightly fuzz run proto corpus/proto -- \
		-max_total_time=$(FUZZ_SECONDS) -max_len=65536 -rss_limit_mb=2048
	@cd $(TOP)/crctl/fuzz && $(HOME)/.cargo/bin/cargo +nightly fuzz run map corpus/map -- \
		-max_total_time=$(FUZZ_SECONDS) -max_len=4096 -rss_limit_mb=2048

bench:
	@$(MAKE) -s FLAVOR=fast guest $(BENCH)
	@CR_FLAVOR=fast CR_VM_MEM=$${CR_VM_MEM:-2G} CR_VM_NO_BUILD=1 \
		$(TOP)/scripts/vm --add $(BENCH) -- /extra/cr_bench $(RUNS)
	@CR_FLAVOR=fast CR_VM_MEM=$${CR_VM_MEM:-2G} CR_VM_NO_BUILD=1 \
		$(TOP)/scripts/vm --hosts 2 --add $(TOP)/bench/cluster_bench -- /extra/cluster_bench $(RUNS)

# Migration between two hosts only (bench/cluster_bench).
bench-cluster:
	@$(MAKE) -s FLAVOR=fast guest
	@CR_FLAVOR=fast CR_VM_MEM=$${CR_VM_MEM:-2G} CR_VM_NO_BUILD=1 \
		$(TOP)/scripts/vm --hosts 2 --add $(TOP)/bench/cluster_bench -- /extra/cluster_bench $(RUNS)

# cr against CRIU (Debian's criu 3.17.1, installed by scripts/setup) in one
# guest: dump, restore and downtime. vdso=0: criu 3.17 does not know 7.3's
# [vvar_vclock] mapping; criu_shim.so gets criu past its nftables probe
# (bench/criu_shim.c). Documentation/build-and-test.rst has the details.
CRIU_BENCH := $(TOP)/build/bench/criu_bench
CRIU_SHIM := $(TOP)/build/bench/criu_shim.so
$(CRIU_BENCH): $(TOP)/bench/criu_bench.c $(TOP)/bench/bench.h
	@mkdir -p $(dir $@)
	@gcc -O2 -Wall -Werror -static -pthread -o $@ $<
$(CRIU_SHIM): $(TOP)/bench/criu_shim.c
	@mkdir -p $(dir $@)
	@gcc -O2 -Wall -Werror -shared -fPIC -o $@ $<

bench-criu:
	@$(MAKE) -s FLAVOR=fast guest $(CRIU_BENCH) $(CRIU_SHIM)
	@CR_FLAVOR=fast CR_VM_MEM=$${CR_VM_MEM:-2G} CR_VM_NO_BUILD=1 \
		CR_VM_APPEND="vdso=0$${CR_VM_APPEND:+ $$CR_VM_APPEND}" \
		$(TOP)/scripts/vm --add $(CRIU_BENCH) --add $(CRIU_SHIM) --add-prog /usr/sbin/criu \
		-- /extra/criu_bench $(RUNS)

demo:
	@$(TOP)/scripts/demo

demo-cluster:
	@$(TOP)/scripts/demo-cluster

clean:
	rm -rf $(TOP)/build
	cargo clean
