"""The on-disk home of generated kernels: one content-hashed `.py` module per kernel.

Kernels are real modules in a private directory, registered in `sys.modules`, so numba's
`cache=True` can store their machine code beside them and a new process loads it instead of
compiling. The directory holds code that will be executed, so it must belong to the user and be
writable by nobody else; anything else is refused rather than trusted.
"""
from __future__ import annotations

import hashlib
import os
import stat
import sys
import threading
import tempfile
import types
from pathlib import Path

from ..errors import TracejitError

ENV_VAR = "TRACEJIT_CACHE_DIR"


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
        raise CacheDirError(f"tracejit cache {path} is writable by group or others (mode "
                            f"{stat.S_IMODE(info.st_mode):o}); code loaded from it could be "
                            f"replaced by them. Run `chmod 700 {path}` or set {ENV_VAR}")
    return path


def module_name(source: str) -> str:
    return "tracejit_kernel_" + hashlib.sha256(source.encode()).hexdigest()[:24]


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
