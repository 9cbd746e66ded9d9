"""The part of an exported script that replays what was changed while the run trained.

A run whose learning rate, β or noise level was changed mid-run (``ae_core.changes``) did not
train with one value of it. Its script writes that history as ``SCHEDULE`` (from
``ae_core.changes.schedule``), holds each changed setting in a variable the training step
reads, and sets it batch by batch with a small callback, so the script trains as the run did.
A run with no changes gets none of this.
"""

from __future__ import annotations

from ae_core.changes import schedule
from ae_core.config import TrainConfig

# Keras's own GaussianNoise keeps its stddev as a Python float, fixed once the step is traced.
GAUSSIAN_NOISE = '''class GaussianNoise(layers.Layer):
    """Denoising: while training, add Gaussian noise; its `stddev` is a variable, so SCHEDULE can change it."""

    def __init__(self, stddev, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.stddev = keras.Variable(stddev, trainable=False, name="noise_level")
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=None):
        if not training:
            return inputs
        return inputs + self.stddev * keras.random.normal(ops.shape(inputs), seed=self.seed_generator)
'''

FOLLOW_SCHEDULE = '''class FollowSchedule(keras.callbacks.Callback):
    """Give each setting in SCHEDULE its value from that batch on, as it was changed in the lab."""

    def __init__(self, settings):
        super().__init__()
        self.settings = settings  # a setting's name -> the variable training reads it from
        self.step = 0  # batches done, over all epochs

    def on_train_batch_begin(self, batch, logs=None):
        for name, values in SCHEDULE.items():
            for step, value in values:
                if step == self.step:
                    self.settings[name].assign(value)
        self.step += 1
'''


def scheduled(config: TrainConfig) -> frozenset[str]:
    """The settings of ``config``'s run that changed while it trained (``ae_core.changes.CHANGEABLE`` names)."""
    return frozenset(schedule(config))


def schedule_setting(config: TrainConfig) -> str:
    """``SCHEDULE = {...}`` for the script's settings, or "" for a run that was never changed."""
    history = schedule(config)
    if not history:
        return ""
    lines = ["# Changed while the lab trained this run: from batch `step` on (counted over all epochs),",
             "# the setting had `value`. FollowSchedule below replays it.",
             "SCHEDULE = {"]
    for field, values in history.items():
        pairs = ", ".join(f"({step}, {value!r})" for step, value in values)
        lines.append(f'    "{field}": [{pairs}],')
    return "\n".join(lines + ["}"])


def follow_schedule(config: TrainConfig, model: str) -> tuple[str, str]:
    """The callback's class and the line that makes it, for a script whose model is named ``model``.

    Returns:
        ``("", "")`` for a run that was never changed.
    """
    fields = scheduled(config)
    if not fields:
        return "", ""
    noise = f"{model}.noise" if config.model.is_variational else "noise"
    variables = {"learning_rate": f"{model}.optimizer.learning_rate", "beta": f"{model}.beta",
                 "noise_level": f"{noise}.{'stddev' if config.model.noise == 'gaussian' else 'rate'}"}
    settings = ", ".join(f'"{field}": {variables[field]}' for field in sorted(fields))
    return FOLLOW_SCHEDULE, f"schedule = FollowSchedule({{{settings}}})"
