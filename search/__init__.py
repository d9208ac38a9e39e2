"""agesearch: search small, fast age-estimation CNNs and ship them as TensorFlow Lite models.

The public API (:mod:`search.api`, docs/api.md)::

    import search as agesearch

    run = agesearch.search(space="lite", trials=6)       # or search(RunConfig(...))
    run.best(), run.knee(), run.front(), run.pick(max_kib=100), run.baseline
    run.to_dataframe()                                    # needs pandas
    exported = run.export("best")[0]                      # verified TFLite files
    agesearch.predict_ages(exported.files["float16"], "photos/")
    agesearch.Run.open("results/<run>")                   # a run folder, finished or not

Layers, data flowing one way (docs/architecture.md): space -> candidate -> trial (in a worker
process) -> record -> board -> reports / export.

- ``search.config``        the frozen :class:`RunConfig` every step reads
- ``search.synthetic``     the embedded default data set (UTKFace-named synthetic faces)
- ``search.data``          UTKFace discovery, name parsing, split, tf.data pipelines
- ``search.space``         search spaces as data files, turned into tuner parameters
- ``search.candidate``     one candidate: its values, resolution, description, cost key
- ``search.builder``       ``build_model(values, input_shape)``
- ``search.convert``       Keras -> TFLite (float32, float16, dynamic, int8): every conversion
- ``search.costs``         parameters, MACs, TFLite sizes and latency before training
- ``search.budget``        :class:`Budget`: what the target phone allows
- ``search.trial``         one trial in this process: costs, fit, evaluate (``run_trial``)
- ``search.trial_process`` each trial in a recycled worker process (``TrialWorker``)
- ``search.tensorflow_preload`` what the workers' fork server imports once
- ``search.pipeline``      one search: run folder, reference, tuner, worker, reports
- ``search.backends``      the tuners (the only code importing keras_tuner / optuna)
- ``search.records``       :class:`TrialRecord`, one JSON file a trial: the only contract
- ``search.pareto``        non-dominated ranks, crowding, hypervolume, knee: pure maths
- ``search.board``         records -> ranks, best, knee, budget pick: decided only here
- ``search.report``        renderers of the board: terminal, Markdown, CSV/JSON, HTML, plot
- ``search.refit``         retrain a chosen trial on train + val to ship it (refit, distillation)
- ``search.groups``        test MAE by gender, ethnicity and age band
- ``search.export``        ship trials as verified TFLite files (chosen through the board)
- ``search.files``         atomic file writes
- ``search.api``           the public API above; ``search.cli`` the command line over it
"""

from search.api import (
    Exported,
    Predictions,
    Refit,
    Run,
    Trial,
    export_run,
    load_config,
    predict_ages,
    refit_run,
    search,
)
from search.config import RunConfig
from search.errors import AgeSearchError, NothingDone, UserError

__all__ = ["AgeSearchError", "Exported", "NothingDone", "Predictions", "Refit", "Run", "RunConfig",
           "Trial", "UserError", "export_run", "load_config", "predict_ages", "refit_run", "search"]
__version__ = "0.1.0"
