"""The runtime: the compiled callable, its cache of traces and its statistics."""
from .cache import CompiledFunction, leaf_key
from .stats import Stats
from . import logs

logs.enable_from_env()
