"""agesearch: search small, fast age-estimation CNNs and ship them as TensorFlow Lite models.

The public surface is small; each module holds one idea:

- ``search.config``     the frozen :class:`RunConfig` every step reads
- ``search.synthetic``  the embedded default data set (UTKFace-named synthetic faces)
- ``search.data``       UTKFace discovery, name parsing, split, tf.data pipelines
- ``search.space``      search spaces as data files, turned into tuner parameters
- ``search.builder``    ``build_model(values, input_shape)``
- ``search.costs``      parameter count and TFLite size of a candidate
- ``search.train``      one trial: costs, fit, evaluate
- ``search.backends``   the tuners (the only code importing keras_tuner / optuna)
- ``search.records``    :class:`TrialRecord`, the one shape reports read
- ``search.pareto``     non-dominated ranks, crowding, hypervolume, knee: pure functions
- ``search.report``     leaderboards: the board as data, terminal, Markdown, CSV, JSON, files
- ``search.report_html`` the self-contained HTML page
- ``search.report_plot`` the Pareto plot (matplotlib, Agg)
- ``search.export``     TFLite conversion and verification
"""

from search.config import RunConfig
from search.errors import AgeSearchError, UserError

__all__ = ["AgeSearchError", "RunConfig", "UserError"]
__version__ = "0.1.0"
