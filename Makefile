# Thin wrapper over Meson so that the README's two commands stay short.
BUILD ?= build
MESON_OPTS ?=

.PHONY: all deps demo test unit integration interop fuzz bench clean

all: $(BUILD)/build.ninja
	ninja -C $(BUILD)

$(BUILD)/build.ninja:
	meson setup $(BUILD) $(MESON_OPTS)

deps:
	./scripts/install-deps.sh

demo: deps all
	./scripts/demo.sh $(BUILD)

test: deps all
	./scripts/run-tests.sh $(BUILD)

unit: all
	meson test -C $(BUILD) --suite unit --print-errorlogs

integration: all
	meson test -C $(BUILD) --suite integration --print-errorlogs

interop: all
	./tests/interop/run.sh $(BUILD)

fuzz:
	./tests/fuzz/run.sh

bench: all
	./bench/run.sh $(BUILD)

clean:
	rm -rf $(BUILD)
