"""libnvfab installs with a pkg-config file, and the README's example program builds against
the installed copy and talks to nvfabd."""
import json
import os
import subprocess

import harness

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")


def test_example_builds_against_installed_library(tmp_path):
    build = os.path.abspath(harness.BUILD)
    if harness.WRAPPER:
        import pytest
        pytest.skip("cross build: the example is built for the host machine")
    subprocess.run(["meson", "install", "-C", build, "--destdir", str(tmp_path / "dest"), "--no-rebuild", "--quiet"],
                   check=True, capture_output=True)
    # meson installs under the configured prefix inside destdir
    dest = tmp_path / "dest"
    pcs = list(dest.rglob("libnvfab.pc"))
    assert pcs, "libnvfab.pc not installed"
    pc_dir = pcs[0].parent
    env = dict(os.environ, PKG_CONFIG_PATH=str(pc_dir), PKG_CONFIG_SYSROOT_DIR=str(dest))
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "libnvfab"], env=env, check=True,
                           capture_output=True, text=True).stdout.split()
    exe = tmp_path / "hello_nvfab"
    # A sanitizer build's library needs the sanitizer runtime in the program too.
    with open(os.path.join(build, "meson-info", "intro-buildoptions.json")) as f:
        sanitize = next(o["value"] for o in json.load(f) if o["name"] == "b_sanitize")
    if sanitize != "none":
        flags.append(f"-fsanitize={sanitize}")
    libdir = [f[2:] for f in flags if f.startswith("-L")]
    subprocess.run(["cc", "-std=c11", "-Wall", "-Werror", os.path.join(ROOT, "docs", "examples", "hello_nvfab.c"),
                    *flags, "-o", str(exe)] + [f"-Wl,-rpath,{d}" for d in libdir], check=True)
    port = harness.free_port()
    with harness.Target(harness.simple_config(port), tmpdir=str(tmp_path / "t")):
        trid = f"trtype:TCP adrfam:IPv4 traddr:127.0.0.1 trsvcid:{port} subnqn:{harness.SUBNQN}"
        r = subprocess.run([str(exe), trid], capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        assert "hello from libnvfab" in r.stdout
