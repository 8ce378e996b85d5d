# Thin wrapper over Meson so that the README's two commands stay short.
BUILD ?= build
MESON_OPTS ?=

.PHONY: all deps demo test unit integration interop fuzz bench deb clean

all: $(BUILD)/build.ninja
	ninja -C $(BUILD)
	@# The documented paths: build/nvfabd and build/nvfab.
	@ln -sf apps/nvfabd $(BUILD)/nvfabd
	@if [ -e $(BUILD)/apps/nvfab/nvfab ]; then ln -sf apps/nvfab/nvfab $(BUILD)/nvfab; fi

$(BUILD)/build.ninja:
	meson setup $(BUILD) $(MESON_OPTS)

deps:
	./scripts/install-deps.sh

demo: deps all
	./scripts/demo.sh $(BUILD)

test: deps all
	./scripts/run-tests.sh

unit: all
	meson test -C $(BUILD) --suite unit --print-errorlogs

integration: all
	NVFAB_BUILD=$(BUILD) /usr/bin/python3 -m pytest -q tests/integration

interop: all
	./tests/interop/run.sh $(BUILD)

fuzz:
	./tests/fuzz/run.sh

bench: all
	./bench/run.sh $(BUILD) $(if $(FULL),--full)

# The Debian package (build-deb/nvfab_*.deb): apt install ./build-deb/nvfab_*.deb
deb: deps
	./scripts/make-deb.sh build-deb

clean:
	rm -rf $(BUILD) build-deb
