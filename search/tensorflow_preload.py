"""Imported once by the trial workers' fork server (:mod:`search.trial_process`): TensorFlow,
Keras and LiteRT loaded quietly there, so that each worker forked from it starts without
importing them again (about 4 s on 2 cores)."""

from search.quiet import load_tensorflow

load_tensorflow()
