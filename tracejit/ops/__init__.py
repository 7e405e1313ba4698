"""The primitive set. Each family file declares its primitives with all of their rules."""
from . import elementwise, fft, index, linalg, reduce, shape, special
from .core import (PRIMITIVES, Builder, GuardFailure, Primitive, Tracer, bind, concretize_bool,
                   concretize_int, constant, current_builder, guard)
