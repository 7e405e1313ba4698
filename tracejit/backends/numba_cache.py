"""The on-disk home of generated kernels: one content-hashed `.py` module per kernel.

Kernels are real modules in a private directory, registered in `sys.modules`, so numba's
`cache=True` can store their machine code beside them and a new process loads it instead of
compiling. The directory holds code that will be executed, so it must belong to the user and be
writable by nobody else; anything else is never loaded from. A directory that cannot be used
(unsafe, unwritable) is replaced, with one warning, by a private temporary one that lives as
long as the process: kernels are then compiled in every process, but every call still works.

The directory is kept under a size (TRACEJIT_CACHE_MAX_MB, 512 by default): after a kernel is
written, the kernels compiled least recently are removed. `python -m tracejit.cache info|clear`.
"""
from __future__ import annotations

import atexit
import hashlib
import logging
import os
import shutil
import stat
import sys
import threading
import tempfile
import types
import warnings
from pathlib import Path

from ..errors import TracejitError

ENV_VAR = "TRACEJIT_CACHE_DIR"
SIZE_VAR = "TRACEJIT_CACHE_MAX_MB"
DEFAULT_MAX_MB = 512
PREFIX = "tracejit_kernel_"
log = logging.getLogger("tracejit.compile")


class CacheDirError(TracejitError):
    """The kernel cache directory is unsafe to load code from."""


def default_cache_dir() -> Path:
    """$TRACEJIT_CACHE_DIR, else the platform's per-user cache directory."""
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR])
    home = Path.home()
    if sys.platform == "darwin":
        return home / "Library" / "Caches" / "tracejit"
    if os.name == "nt":
        return Path(os.environ.get("LOCALAPPDATA", home)) / "tracejit" / "Cache"
    return Path(os.environ.get("XDG_CACHE_HOME") or home / ".cache") / "tracejit"


def private_dir(path=None) -> Path:
    """Create (mode 0700) or check the cache directory; CacheDirError if others could write it."""
    path = Path(path) if path is not None else default_cache_dir()
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = path.stat()
    if not stat.S_ISDIR(info.st_mode):
        raise CacheDirError(f"tracejit cache {path} is not a directory")
    if hasattr(os, "getuid") and info.st_uid != os.getuid():
        raise CacheDirError(f"tracejit cache {path} belongs to uid {info.st_uid}, not to you; "
                            f"code loaded from it could be replaced by its owner. Set {ENV_VAR} "
                            "to a directory of your own")
    if os.name != "nt" and info.st_mode & 0o022:
        shared = info.st_mode & stat.S_ISVTX      # /tmp and the like: meant to be shared
        advice = (f"set {ENV_VAR} to a directory of your own inside it (e.g. "
                  f"{path / ('tracejit-' + _user())})" if shared else
                  f"run `chmod 700 {path}` or set {ENV_VAR}")
        raise CacheDirError(f"tracejit cache {path} is writable by group or others (mode "
                            f"{stat.S_IMODE(info.st_mode):o}); code loaded from it could be "
                            f"replaced by them: {advice}")
    return path


def _user():
    try:
        import getpass
        return getpass.getuser()
    except Exception:                     # no user name (a container without one)
        return str(os.getuid()) if hasattr(os, "getuid") else "user"


_usable = {}                               # configured path -> the directory used for it
_usable_lock = threading.Lock()


def kernel_dir() -> Path:
    """The directory kernels go to: the configured one (`private_dir`), or, when it cannot be
    used, a private temporary directory for this process, after one warning saying why."""
    configured = default_cache_dir()
    with _usable_lock:
        used = _usable.get(configured)
        if used is None:
            try:
                used = private_dir(configured)
            except (CacheDirError, OSError) as error:
                used = Path(tempfile.mkdtemp(prefix="tracejit-kernels-"))
                atexit.register(shutil.rmtree, used, ignore_errors=True)
                warnings.warn(f"tracejit: the kernel cache {configured} cannot be used ({error}); "
                              f"kernels go to {used} for this process and are compiled again "
                              "in the next", RuntimeWarning, stacklevel=2)
            _usable[configured] = used
        return used


def module_name(source: str) -> str:
    return PREFIX + hashlib.sha256(source.encode()).hexdigest()[:24]


def _file_text(source):
    return f"# tracejit kernel, sha256 {hashlib.sha256(source.encode()).hexdigest()}\n{source}"


def write_module(directory: Path, source: str) -> Path:
    """The module file for `source`, written atomically unless an intact copy is already there.

    An existing file is trusted only if it is byte-for-byte what we would write (truncated or
    corrupted files are replaced). An intact file is left untouched so that numba, which keys
    its cache on the file's timestamp, keeps using the machine code compiled for it.
    """
    path = directory / f"{module_name(source)}.py"
    text = _file_text(source)
    try:
        if path.read_text() == text:
            return path
    except (OSError, UnicodeDecodeError):
        pass
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=".py")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    return path


def is_warm(path: Path) -> bool:
    """Whether numba has (probably) cached machine code for the module at `path`."""
    return any((path.parent / "__pycache__").glob(f"{path.stem}.*.nbi"))


_load_lock = threading.Lock()


def load_module(path: Path, source: str) -> types.ModuleType:
    """Import the kernel module at `path` (whose text is `source`) under its content name.
    Serialised: two background builds of one kernel must not see a half-executed module."""
    name = path.stem
    with _load_lock:
        module = sys.modules.get(name)
        if module is not None:
            return module
        module = types.ModuleType(name)
        module.__file__ = str(path)
        sys.modules[name] = module
        try:
            # compiled from the text we know is in the file: no .pyc of our own to go stale
            exec(compile(_file_text(source), str(path), "exec"), module.__dict__)
        except BaseException:
            del sys.modules[name]
            raise
        return module


# ---- size: least recently compiled kernels go first -------------------------------------------
def kernels(directory: Path):
    """(name, files, bytes, last used) of each kernel in `directory`: its module and numba's
    index and machine code in __pycache__; last used is the newest of their times."""
    found = {}
    for path in [*directory.glob(PREFIX + "*.py"), *(directory / "__pycache__").glob(PREFIX + "*")]:
        name = path.name.split(".")[0]
        try:
            info = path.stat()
        except OSError:
            continue
        files, size, used = found.get(name, ([], 0, 0.0))
        found[name] = (files + [path], size + info.st_size, max(used, info.st_mtime))
    return [(name, *entry) for name, entry in found.items()]


def max_bytes():
    try:
        return int(float(os.environ.get(SIZE_VAR, DEFAULT_MAX_MB)) * 2 ** 20)
    except ValueError:
        return DEFAULT_MAX_MB * 2 ** 20


def evict(directory: Path, limit=None):
    """Remove the kernels used least recently until `directory` holds at most `limit` bytes;
    kernels this process has loaded stay. Returns how many were removed."""
    limit = max_bytes() if limit is None else limit
    entries = sorted(kernels(directory), key=lambda e: e[3])
    total, removed = sum(e[2] for e in entries), 0
    for name, files, size, _ in entries:
        if total <= limit:
            break
        if name in sys.modules:
            continue
        for path in files:
            try:
                path.unlink()
            except OSError:
                pass
        total -= size
        removed += 1
    if removed:
        log.info("kernel cache %s: removed the %d least recently used kernels (limit %.0f MB)",
                 directory, removed, limit / 2 ** 20)
    return removed


def clear(directory: Path):
    """Remove every kernel in `directory` that this process has not loaded."""
    return evict(directory, limit=0)
