"""Taking a run out of the lab: TensorBoard logs, a standalone Keras script, and a zip of the run.

- ``tensorboard`` writes a run's events as TensorBoard event files (in the worker process,
  which has TensorFlow) and the Embedding Projector's files at its end;
- ``script`` writes a plain Keras + NumPy script that trains the same model the same way;
- ``bundle`` packs a run's files, that script, its metrics as CSV and its last pictures as PNGs
  into one zip.

Importing this package loads nothing heavy: the web server uses ``script`` and ``bundle``
without TensorFlow, and only ``tensorboard`` imports it (when a log is opened).
"""
