"""Picture of the detail-strength trade-off: CC and MI against Qabf, one line per task, the peers marked."""

from __future__ import annotations

from pathlib import Path

# Published test-split numbers of the two peers (SPEC.md section 4; R1 protocol, 24 pairs per task).
# Our curves are on this project's validation split, so the markers are a reference, not a same-data comparison.
PEERS = {
    "ct": {"AdaFuse": {"CC": 0.831, "MI": 2.33, "Qabf": 0.353}, "ASFE-Fusion": {"CC": 0.830, "MI": 2.18, "Qabf": 0.343}},
    "pet": {"AdaFuse": {"CC": 0.868, "MI": 2.80, "Qabf": 0.624}, "ASFE-Fusion": {"CC": 0.869, "MI": 2.51, "Qabf": 0.574}},
    "spect": {"AdaFuse": {"CC": 0.911, "MI": 2.46, "Qabf": 0.613}, "ASFE-Fusion": {"CC": 0.911, "MI": 2.14, "Qabf": 0.573}},
}
# The plain average's CC on that test split (SPEC.md section 4): the peers sit right at it.
TEST_AVERAGE_CC = {"ct": 0.8308, "pet": 0.8691, "spect": 0.9120}
COLOURS = {"ct": "tab:blue", "pet": "tab:red", "spect": "tab:green"}


def plot_tradeoff(
    rows: dict[str, list[dict]], path: Path | str, title: str = "", average_cc: dict[str, float] | None = None
) -> Path:
    """``rows[task]`` is a list of sweep rows ({"detail", "CC", "MI", "Qabf", ...}); writes a PNG with two panels.

    With ``average_cc`` (the plain average's CC on the same validation images, per task) the CC panel shows
    CC minus the average's, for our curves and for the peers (minus the test split's average): the two splits
    differ by up to 0.02 in CC, while the claims are about differences of 0.001.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    for task, task_rows in rows.items():
        qabf = [r["Qabf"] for r in task_rows]
        for axis, metric in zip(axes, ("CC", "MI")):
            ours = own = 0.0
            if metric == "CC" and average_cc is not None:
                ours, own = average_cc[task], TEST_AVERAGE_CC[task]
            values_y = [r[metric] - ours for r in task_rows]
            axis.plot(qabf, values_y, "-o", color=COLOURS[task], label=f"{task.upper()}-MRI (validation)")
            for r, y in zip(task_rows, values_y):
                axis.annotate(f"{r['detail']:g}", (r["Qabf"], y), fontsize=7, xytext=(3, 3), textcoords="offset points")
            for peer, marker in zip(PEERS[task], ("s", "^")):
                values = PEERS[task][peer]
                axis.scatter(values["Qabf"], values[metric] - own, marker=marker, color=COLOURS[task], edgecolor="black",
                             zorder=3, label=f"{peer} {task.upper()} (test)")
    for axis, metric in zip(axes, ("CC", "MI")):
        axis.set_xlabel("Qabf (edge preservation)")
        axis.set_ylabel(f"{metric} ({'nats, summed' if metric == 'MI' else 'mean of both sources'})")
        axis.grid(alpha=0.3)
    if average_cc is not None:
        axes[0].axhline(0.0, color="grey", linewidth=1)
        axes[0].set_ylabel("CC minus the plain average's, same images")
    axes[0].set_title("CC against Qabf; numbers are detail strengths")
    axes[1].set_title("MI against Qabf")
    handles, labels = axes[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="lower center", ncol=3, fontsize=8, frameon=False)
    if title:
        figure.suptitle(title)
    figure.tight_layout(rect=(0, 0.16, 1, 1))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
