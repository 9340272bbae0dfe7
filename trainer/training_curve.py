"""The training curve every run saves beside its model (`training_curve.png`), and its model card shows."""

from pathlib import Path

from matplotlib.figure import Figure

READINGS = {  # FieldAccuracyCallback's measurements → how the curve names them
    "eval_field_accuracy": "field accuracy",
    "eval_json_valid_rate": "JSON validity",
    "eval_loop_rate": "repetition loops",
}


def plot_training_curve(log_history: list[dict], path: Path) -> Path:
    """Training (and evaluation) loss against the step and, when the run read validation documents as it went, what
    those readings scored (field accuracy, JSON validity, repetition loops) beside it, or for reinforcement learning
    each reward's mean over the step's answers, as a PNG."""

    def points(key: str) -> list[tuple]:
        return [(entry["step"], entry[key]) for entry in log_history if key in entry]

    readings = {label: points(key) for key, label in READINGS.items() if points(key)}
    rewards = sorted(
        {key for entry in log_history for key in entry if key.startswith("rewards/") and key.endswith("/mean")}
    )
    rewarded = not readings and bool(rewards)  # reinforcement learning: the panel shows the rewards
    if rewarded:
        readings = {key.split("/")[1]: points(key) for key in rewards}
    fig = Figure(figsize=(12 if readings else 7, 4), dpi=110)  # drawn without pyplot: no backend or global state
    loss, panel = fig.subplots(1, 2) if readings else (fig.subplots(), None)
    for key, label in (("loss", "training loss"), ("eval_loss", "evaluation loss")):
        if steps := points(key):
            loss.plot(*zip(*steps, strict=True), marker="o" if len(steps) < 30 else None, markersize=3, label=label)
    loss.set(xlabel="step", ylabel="loss", title="FinScribe fine-tuning: loss")
    if loss.lines:
        loss.legend()
    loss.grid(alpha=0.3)
    if panel is not None:
        for label, steps in readings.items():
            panel.plot(*zip(*steps, strict=True), marker="s", markersize=3, label=label)
        if rewarded:
            panel.set(xlabel="step", ylabel="mean over the step's answers", title="Rewards")
        else:
            panel.set(xlabel="step", ylabel="share of validation readings", ylim=(-0.02, 1.02),
                      title="Greedy readings of validation documents")  # fmt: skip
        panel.legend()
        panel.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    return path
