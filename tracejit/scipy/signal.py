"""`scipy.signal.convolve` for 1-D signals, via the convolution of `tracejit.numpy`."""
import scipy.signal as ss

from ..errors import UnsupportedError
from ..numpy import _funcs as F
from ..numpy._products import convolve_full, convolve_mode
from ..numpy._registry import implements


@implements(ss.convolve)
def convolve(in1, in2, mode="full", method="auto"):
    in1, in2 = F.asarray(in1), F.asarray(in2)
    if F.ndim(in1) != 1 or F.ndim(in2) != 1:
        raise UnsupportedError("scipy.signal.convolve of arrays with more than one dimension")
    n, m = F.shape(in1)[0], F.shape(in2)[0]
    return convolve_mode(convolve_full(in1, in2), n, m, mode, centre_on_first=True)
