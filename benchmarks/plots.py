"""Plots of benchmark results (matplotlib optional: without it, no plots and a note)."""
import sys

STYLE = {"numpy": dict(color="0.4", ls="--")}


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        print("matplotlib is not installed: no plots", file=sys.stderr)
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _series(records):
    """peer -> ([sizes], [seconds per call]) over the records of one workload."""
    out = {}
    for rec in records:
        for row in rec["rows"]:
            if row["per_call"] is not None:
                xs, ys = out.setdefault(row["peer"], ([], []))
                xs.append(rec["size"])
                ys.append(row["per_call"])
    return out


def sweep_plot(data, path):
    plt = _pyplot()
    sweep = [r for r in data["results"] if r["kind"] == "sweep"]
    if plt is None or not sweep:
        return False
    names = list(dict.fromkeys(r["workload"] for r in sweep))
    cols = 4
    rows = (len(names) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3.3 * rows), squeeze=False)
    for ax, name in zip(axes.flat, names):
        for peer, (xs, ys) in _series([r for r in sweep if r["workload"] == name]).items():
            label = "numpy (forward)" if peer == "numpy" else peer
            style = dict(marker="o", ms=3, **STYLE.get(peer, {}))
            ax.loglog(xs, ys, label=label, **style)
        ax.set_title(name)
        ax.set_xlabel("problem size n")
        ax.grid(True, which="major", alpha=0.3)
    for ax in axes.flat[len(names):]:
        ax.axis("off")
    axes[0][0].set_ylabel("seconds per call (median)")
    handles, labels = {}, {}
    for ax in axes.flat:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(lab, h)
    fig.legend(list(handles.values()), list(handles), loc="lower center",
               ncol=len(handles), frameon=False)
    fig.suptitle("gradient time per call vs problem size (numpy: forward pass only)")
    fig.tight_layout(rect=(0, 0.05, 1, 0.97))
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True
