"""Seq2Seq Studio's library: the encoder-decoder LSTM on the integer sequence problem, without any UI."""

from s2s.config import ModelConfig, ProblemConfig, TrainConfig

__all__ = ["ModelConfig", "ProblemConfig", "TrainConfig"]
