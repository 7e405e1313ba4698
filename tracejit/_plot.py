"""Bar charts for `tracejit.compare` (matplotlib is an optional extra: `pip install .[bench]`)."""
from __future__ import annotations


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg")                 # files only: never open a window
    import matplotlib.pyplot as plt
    return plt


def plot_comparison(c, path):
    """Time per call of each peer that ran (log scale), NumPy's forward time as a line."""
    from .compare import fmt_time
    plt = _pyplot()
    if plt is None:
        return False
    rows = [r for r in c.rows if r.ok]
    fig, ax = plt.subplots(figsize=(7, 0.5 * len(rows) + 1.5))
    labels = [f"{r.peer} ({r.what})" for r in rows]
    times = [r.per_call * 1e6 for r in rows]
    colors = ["#999999" if r.what == "forward" else "#1f77b4" if r.peer.startswith("tracejit")
              else "#ff7f0e" for r in rows]
    ax.barh(labels, times, color=colors)
    ax.set_xscale("log")
    ax.invert_yaxis()
    if c.floor:
        ax.axvline(c.floor * 1e6, color="k", lw=0.8, ls="--", label="numpy forward")
        ax.legend(loc="upper right", fontsize=8)
    for y, (t, r) in enumerate(zip(times, rows)):
        ratio = c.ratio(r)
        ax.text(t, y, f" {fmt_time(r.per_call)}" + (f" ({ratio:.2g}×)" if ratio else ""),
                va="center", fontsize=8)
    ax.set_xlim(min(times) / 2, max(times) * 6)     # room for the labels right of the bars
    ax.set_xlabel("time per call (µs, median, log scale)")
    ax.set_title(f"{c.function}({c.signature}): gradient")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True
