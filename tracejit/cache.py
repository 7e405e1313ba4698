"""The kernel cache from the command line.

    python -m tracejit.cache info     where it is, how many kernels, their size, the limit
    python -m tracejit.cache clear    remove every kernel (they are compiled again when needed)

The directory is $TRACEJIT_CACHE_DIR, else the platform's per-user cache directory
(`~/.cache/tracejit` on Linux, honouring $XDG_CACHE_HOME); its size is kept under
$TRACEJIT_CACHE_MAX_MB (512 by default) by removing the least recently compiled kernels.
"""
import argparse
import sys

from .backends import numba_cache


def info(directory):
    entries = numba_cache.kernels(directory) if directory.is_dir() else []
    size = sum(e[2] for e in entries)
    return (f"kernel cache: {directory}\n"
            f"kernels:      {len(entries)}\n"
            f"size:         {size / 2 ** 20:.1f} MB (limit {numba_cache.max_bytes() / 2 ** 20:.0f} "
            f"MB, {numba_cache.SIZE_VAR})")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tracejit.cache", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["info", "clear"])
    command = parser.parse_args(argv).command
    directory = numba_cache.default_cache_dir()
    if command == "clear" and directory.is_dir():
        removed = numba_cache.clear(numba_cache.private_dir(directory))
        print(f"removed {removed} kernels from {directory}")
    else:
        print(info(directory))
    return 0


if __name__ == "__main__":
    sys.exit(main())
