"""Pure functions from data to Plotly figures, one module per subject: training (curves, replays, sweeps),
evaluation (confusion, errors, lengths), decoding (a decode's softmaxes, attention) and strategies (beam tree,
temperature, samples, context space). Pages use them as `charts.<name>`.

No Streamlit here: every figure can be built and inspected in a test without a browser.
"""

from s2s.charts.decoding import VISIBLE_BAR_PX, attention_figure, decode_figure
from s2s.charts.evaluation import confusion_figure, error_by_value_figure, generalization_figure, per_position_figure
from s2s.charts.strategies import beam_tree_figure, context_space_figure, samples_figure, temperature_figure
from s2s.charts.training import (COLORS, accuracy_over_training_figure, learning_curve_figure, smooth, sweep_figure,
                                 training_figure)

__all__ = ["COLORS", "VISIBLE_BAR_PX", "accuracy_over_training_figure", "attention_figure", "beam_tree_figure",
           "confusion_figure", "context_space_figure", "decode_figure", "error_by_value_figure",
           "generalization_figure", "learning_curve_figure", "per_position_figure", "samples_figure", "smooth",
           "sweep_figure", "temperature_figure", "training_figure"]
