"""What generated kernels import at run time. Kept tiny: every kernel module imports it."""


class KernelExit(Exception):
    """Raised inside a kernel when a guard fails or an op meets bad data (an index out of
    bounds); `args[0]` is the exit code the code generator assigned to that op."""
