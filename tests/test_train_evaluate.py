import threading

import numpy as np

from s2s.config import TrainConfig
from s2s.data import generate
from s2s.decode import predict
from s2s.evaluate import evaluate, spot_check
from s2s.train import CONFIRM_FACTOR, NEAR_TARGET, NEAR_TARGET_SPLIT, Trainer, train
from tests.conftest import TINY_MODEL, TINY_PROBLEM, TINY_TRAIN


def test_tiny_problem_trains_to_high_exact_accuracy(tiny_result):
    assert tiny_result.reason == "completed"
    assert tiny_result.exact_accuracy >= 0.95
    assert evaluate(tiny_result.model, 2000, seed=99).exact >= 0.95
    history = tiny_result.history
    assert len(history.loss) == int(np.ceil(TINY_TRAIN.samples / TINY_TRAIN.batch_size))
    assert history.samples[-1] == TINY_TRAIN.samples
    assert np.mean(history.loss[-20:]) < np.mean(history.loss[:20]) / 5
    assert len(history.eval_exact) >= 10 and history.eval_samples[-1] == TINY_TRAIN.samples


def test_same_seed_gives_the_same_history():
    config = TrainConfig(samples=1500, batch_size=50, learning_rate=0.01, seed=4, eval_every=500)
    first, second = (train(TINY_PROBLEM, TINY_MODEL, config).history for _ in range(2))
    assert first.loss == second.loss
    assert first.eval_exact == second.eval_exact


def test_a_primed_trainer_trains_bit_for_bit_like_a_fresh_one():
    """Priming (the model service's spare traces the default run ahead) must not change the run."""
    config = TrainConfig(samples=1530, batch_size=50, learning_rate=0.01, seed=4, eval_every=500)  # a partial batch
    primed = Trainer(TINY_PROBLEM, TINY_MODEL, config)
    primed.prime()
    primed_result = primed.run()
    primed_weights = [w.copy() for w in primed_result.model.training.get_weights()]
    fresh = train(TINY_PROBLEM, TINY_MODEL, config)
    assert primed_result.history.loss == fresh.history.loss
    assert primed_result.history.eval_exact == fresh.history.eval_exact
    for a, b in zip(primed_weights, fresh.model.training.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_stop_request_ends_training_within_one_batch():
    trainer = Trainer(TINY_PROBLEM, TINY_MODEL, TrainConfig(samples=50_000, batch_size=32, seed=1))
    stop_at = {}

    def on_progress(progress):
        if not stop_at and len(progress.history.loss) >= 5:
            stop_at["batches"] = len(progress.history.loss)
            threading.Thread(target=trainer.stop).start()
            assert trainer.stop_event.wait(timeout=30), "stop() from another thread never set the stop event"

    result = trainer.run(on_progress, progress_every=0.0)
    assert result.reason == "stopped"
    assert len(result.history.loss) <= stop_at["batches"] + 1
    # The weights learned so far are kept and usable.
    assert evaluate(result.model, 100).n == 100


def test_target_accuracy_stops_as_soon_as_it_is_reached():
    config = TINY_TRAIN.replace(samples=60_000, target_accuracy=0.9, eval_every=1000)
    result = train(TINY_PROBLEM, TINY_MODEL, config)
    assert result.reason == "target reached"
    assert result.history.eval_exact[-1] >= 0.9
    assert result.history.samples[-1] < 60_000
    # It stopped where the held-out set and 4x as many other sequences, pooled, are at the target (measured anew).
    pooled = [generate(TINY_PROBLEM, n, seed=[config.seed, k]) for n, k in ((1000, 1), (CONFIRM_FACTOR * 1000, 2))]
    right = sum(int((predict(result.model, b.source) == b.target).all(axis=1).sum()) for b in pooled)
    assert right / ((1 + CONFIRM_FACTOR) * 1000) >= 0.9
    # Within NEAR_TARGET of it, a quarter of eval_every apart (to the batch); before, eval_every apart.
    history, batch = result.history, config.batch_size
    gaps = np.diff(history.eval_samples)
    near = [a >= 0.9 - NEAR_TARGET for a in history.eval_exact[:-1]]
    assert any(near) and not near[0]
    for gap, was_near in zip(gaps, near):
        assert (1000 // NEAR_TARGET_SPLIT <= gap < 1000 // NEAR_TARGET_SPLIT + batch) if was_near else \
            1000 <= gap < 1000 + batch


def test_evaluation_figures_agree_with_an_independent_count(tiny_model):
    result = evaluate(tiny_model, 3000, seed=5, batch_size=1000)
    right = [list(p) == list(s[:2][::-1]) for s, p in zip(result.source.tolist(), result.predicted.tolist())]
    assert result.exact == sum(right) / 3000
    confusion = result.confusion(tiny_model.problem.n_classes)
    assert confusion.sum() == 3000 * 2
    assert np.trace(confusion[0]) / 3000 == result.per_position[0]
    examples = spot_check(tiny_model, 10, seed=5)
    assert len(examples) == 10 and examples[0]["expected"] == examples[0]["source"][:2][::-1]
