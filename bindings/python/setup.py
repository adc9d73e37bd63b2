"""Builds the Rust library (cargo build --release --lib) and ships it inside the package.

The repository root is found from this file (bindings/python/../..) or SUTRA_CACHE_ROOT;
cargo's target directory is CARGO_TARGET_DIR or <root>/target, so a pip install reuses the
release build the other tests made.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist
from setuptools.dist import Distribution

HERE = Path(__file__).resolve().parent


# What of the crate an sdist carries (under rust/), enough for `cargo build --release --lib`.
CRATE_FILES = ("Cargo.toml", "Cargo.lock", "build.rs", "cbindgen.toml", "README.md")
CRATE_DIRS = ("src", "include", "benches")


def repo_root() -> Path:
    """The crate: SUTRA_CACHE_ROOT, else the copy an sdist carries (rust/), else the checkout
    this file is in (bindings/python/../..)."""
    default = HERE / "rust" if (HERE / "rust" / "Cargo.toml").exists() else HERE.parent.parent
    root = Path(os.environ.get("SUTRA_CACHE_ROOT", default)).resolve()
    if not (root / "Cargo.toml").exists():
        raise RuntimeError(
            f"sutra_cache: no Cargo.toml in {root}; set SUTRA_CACHE_ROOT to the repository root"
        )
    return root


def _strip(path: Path) -> None:
    """Drops debug information and local symbols from a shipped shared object (the release
    profile keeps line tables for profiling; users need neither). SUTRA_CACHE_NO_STRIP=1
    keeps them."""
    strip = shutil.which("strip")
    if strip is None or os.environ.get("SUTRA_CACHE_NO_STRIP") == "1":
        return
    subprocess.run([strip, "--strip-unneeded", str(path)], check=True)


class BuildWithCargo(build_py):
    def run(self) -> None:
        root = repo_root()
        target = Path(os.environ.get("CARGO_TARGET_DIR", root / "target"))
        subprocess.run(
            ["cargo", "build", "--release", "--lib", "--quiet"],
            cwd=root,
            check=True,
            env={**os.environ, "CARGO_TARGET_DIR": str(target)},
        )
        native = HERE / "sutra_cache" / "_native"
        native.mkdir(exist_ok=True)
        shutil.copy2(target / "release" / "libsutra_cache.so", native / "libsutra_cache.so")
        _strip(native / "libsutra_cache.so")
        shutil.copy2(root / "include" / "sutra_cache.h", native / "sutra_cache.h")
        self._compile_api_module(root, target)
        super().run()

    def _compile_api_module(self, root: Path, target: Path) -> None:
        """cffi API mode: a C extension linked statically with libsutra_cache.a."""
        from cffi import FFI

        sys.path.insert(0, str(HERE / "sutra_cache"))
        try:
            from _cdef import cdef_from_header
        finally:
            sys.path.pop(0)
        builder = FFI()
        builder.cdef(cdef_from_header((root / "include" / "sutra_cache.h").read_text()))
        builder.set_source(
            "sutra_cache._sutra_cffi",
            '#include "sutra_cache.h"',
            include_dirs=[str(root / "include")],
            extra_objects=[str(target / "release" / "libsutra_cache.a")],
            libraries=["gcc_s", "util", "rt", "pthread", "m", "dl"],
        )
        tmp = HERE / "build" / "cffi"
        built = Path(builder.compile(tmpdir=str(tmp)))
        for old in (HERE / "sutra_cache").glob("_sutra_cffi*.so"):
            old.unlink()
        shutil.copy2(built, HERE / "sutra_cache" / built.name)
        _strip(HERE / "sutra_cache" / built.name)
        self._compile_fastcall(root)

    def _compile_fastcall(self, root: Path) -> None:
        """sutra_cache._fastcall (sutra_cache/_fastcall.c): `Cache.get` and `Cache.search`'s
        common calls as plain CPython functions. It does not link the library: it calls the
        cffi module's functions through the addresses `engine.py` hands it."""
        from setuptools import Distribution as _Dist
        from setuptools import Extension

        ext = Extension(
            "sutra_cache._fastcall",
            [str(HERE / "sutra_cache" / "_fastcall.c")],
            include_dirs=[str(root / "include")],
            extra_compile_args=["-O2", "-std=c11"],
        )
        tmp = HERE / "build" / "fastcall"
        dist = _Dist({"ext_modules": [ext]})
        cmd = dist.get_command_obj("build_ext")
        cmd.build_lib = str(tmp / "lib")
        cmd.build_temp = str(tmp / "temp")
        cmd.ensure_finalized()
        cmd.run()
        built = Path(cmd.get_ext_fullpath(ext.name))
        for old in (HERE / "sutra_cache").glob("_fastcall*.so"):
            old.unlink()
        shutil.copy2(built, HERE / "sutra_cache" / built.name)
        _strip(HERE / "sutra_cache" / built.name)


class SdistWithCrate(sdist):
    """An sdist that carries the crate under rust/, so `pip install sutra_cache-*.tar.gz`
    builds from source with cargo alone (no checkout). Built binaries are left out."""

    def make_release_tree(self, base_dir: str, files: list) -> None:
        super().make_release_tree(base_dir, files)
        root = repo_root()
        dest = Path(base_dir) / "rust"
        dest.mkdir(exist_ok=True)
        for name in CRATE_FILES:
            if (root / name).exists():
                shutil.copy2(root / name, dest / name)
        for name in CRATE_DIRS:
            shutil.copytree(root / name, dest / name, dirs_exist_ok=True)
        for built in Path(base_dir).glob("sutra_cache/_native"):
            shutil.rmtree(built)
        for pattern in ("sutra_cache/_sutra_cffi*.so", "sutra_cache/_fastcall*.so"):
            for built in Path(base_dir).glob(pattern):
                built.unlink()


class BinaryDistribution(Distribution):
    def has_ext_modules(self) -> bool:  # the wheel carries a native library
        return True


setup(cmdclass={"build_py": BuildWithCargo, "sdist": SdistWithCrate},
      distclass=BinaryDistribution)
