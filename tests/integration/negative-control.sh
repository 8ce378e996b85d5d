#!/usr/bin/env bash
# Negative control for the teardown tests: rebuilds nvfabd (ASan + UBSan) from the committed
# tree with each patch of tests/integration/negative/ applied (each puts a fixed lifetime bug
# back), runs the randomized teardown test and the controller-teardown regressions against it,
# and passes only if they FAIL on every patch. Not part of `make test` (a build per patch).
#   tests/integration/negative-control.sh     (from the repository root)
set -uo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
work=$(mktemp -d /tmp/nvfab-negative.XXXX)
trap 'rm -rf "$work"' EXIT
status=0
for patch in tests/integration/negative/*.patch; do
  name=$(basename "$patch" .patch)
  src=$work/$name
  mkdir -p "$src"
  git archive HEAD | tar -x -C "$src"
  if ! patch -s -p1 -d "$src" < "$patch"; then
    echo "negative-control: $name: patch does not apply"; status=1; continue
  fi
  if ! (meson setup "$src/build" "$src" -Db_sanitize=address,undefined -Db_lundef=false -Db_lto=false \
          --buildtype=debug >/dev/null && ninja -C "$src/build" apps/nvfabd apps/nvfab/nvfab >/dev/null); then
    echo "negative-control: $name: build failed"; status=1; continue
  fi
  echo "=== $name: running the teardown tests against the broken build (they must fail)"
  # Outputs go to files: grep -q on a pipe under pipefail would race with the writer.
  NVFAB_BUILD="$src/build" NVFAB_TEARDOWN_SECONDS=20 /usr/bin/python3 -m pytest -q -x -p no:cacheprovider \
    "$root/tests/integration/test_teardown_random.py" > "$work/$name-teardown.log" 2>&1
  if tail -n 3 "$work/$name-teardown.log" | grep -q "1 failed"; then
    echo "negative-control: $name: randomized teardown test failed, as it must:"
    grep -m2 -E "ERROR: AddressSanitizer|#[0-9]+ 0x[0-9a-f]+ in |seed [0-9]+" "$work/$name-teardown.log" | sed 's/^/    /'

  else
    echo "negative-control: $name: randomized teardown test did not fail on a broken build:"
    tail -n 5 "$work/$name-teardown.log"; status=1
  fi
  NVFAB_BUILD="$src/build" /usr/bin/python3 -m pytest -q -p no:cacheprovider \
    "$root/tests/integration/test_robustness_hosts.py" -k admin_only > "$work/$name-regression.log" 2>&1
  if tail -n 3 "$work/$name-regression.log" | grep -q "failed"; then
    echo "negative-control: $name: regression tests failed, as they must"
  else
    echo "negative-control: $name: regression tests did not fail on a broken build:"
    tail -n 5 "$work/$name-regression.log"; status=1
  fi
done
[ $status -eq 0 ] && echo "negative-control: every broken build was caught"
exit $status
