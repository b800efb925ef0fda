"""Training timelines: snapshots taken during a run, saved beside a model, replayed (s2s/snapshots.py, replay.py)."""

import numpy as np
import pytest

from s2s import store
from s2s.config import ModelConfig, ProblemConfig, TrainConfig
from s2s.data import generate
from s2s.decode import decode
from s2s.replay import accuracy_over_training, learning_curve, use_snapshot
from s2s.snapshots import MAX_BYTES, Recorder, Timeline, TimelineError, planned_count, snapshot_bytes

PROBLEM = ProblemConfig(cardinality=9, n_in=4, n_out=2)
MODEL = ModelConfig(units=32)


def tiny_run(samples: int):
    from s2s.train import train

    config = TrainConfig(samples=samples, epochs=1, batch_size=64, learning_rate=0.01, seed=5, eval_every=2000,
                         schedule="constant")
    return train(PROBLEM, MODEL, config)


@pytest.fixture(scope="module")
def run():
    return tiny_run(19200)


def test_a_run_keeps_log_spaced_snapshots_from_the_first_batch_to_the_end(run):
    timeline = run.timeline
    assert timeline.samples[0] == 64 and timeline.samples[-1] == 19200
    assert 20 <= len(timeline) <= 41 and (np.diff(timeline.samples) > 0).all()
    assert (timeline.samples % 64 == 0).all()  # batch ends
    gaps = np.diff(np.log(timeline.samples.astype(float)))
    assert gaps[:5].mean() > gaps[-5:].mean()  # dense early, sparse late: log-spaced
    for final, last in zip(run.model.training.get_weights(), timeline.at(-1)):
        assert np.array_equal(final, last)


def test_the_snapshot_at_n_samples_equals_a_same_seed_run_stopped_at_n(run):
    k = 12
    n = int(run.timeline.samples[k])
    assert generate(PROBLEM, n, [5, 0]).source.tolist() == generate(PROBLEM, 19200, [5, 0]).source[:n].tolist()
    shorter = tiny_run(n)
    for snapshot, weights in zip(run.timeline.at(k), shorter.model.training.get_weights()):
        np.testing.assert_allclose(snapshot, weights, atol=1e-6)


def test_decoding_with_a_snapshot_equals_a_model_given_its_weights(run):
    from s2s.model import Seq2Seq

    fresh = Seq2Seq.build(PROBLEM, MODEL)
    scratch = Seq2Seq.build(PROBLEM, MODEL)
    sources = generate(PROBLEM, 50, 9).source
    for k in (0, 7, len(run.timeline) - 1):
        fresh.training.set_weights(run.timeline.at(k))
        use_snapshot(scratch, run.timeline, k)
        a, b = decode(fresh, sources), decode(scratch, sources)
        assert np.array_equal(a.tokens, b.tokens) and np.allclose(a.probs, b.probs, atol=1e-6)


def test_saved_snapshots_survive_save_and_load_in_float16(run, tmp_path):
    card = store.make_card("t", run.model, run.config)
    folder = store.save(run.model, tmp_path / "t", card, run.timeline)
    loaded = store.load_timeline(folder)
    assert loaded.samples.tolist() == run.timeline.samples.tolist()
    for a, b in zip(loaded.weights, run.timeline.weights):
        assert a.dtype == np.float16 and np.allclose(a, b, rtol=1e-3, atol=1e-3)
    copy = store.publish(folder, tmp_path / "copy")
    assert store.load_timeline(copy).samples.tolist() == loaded.samples.tolist()
    assert store.load_timeline(store.save(run.model, tmp_path / "bare", card)) is None


@pytest.mark.parametrize("damage, words", [
    (lambda p: p.write_bytes(b"not a zip at all"), "not a readable snapshots file"),
    (lambda p: p.write_bytes(p.read_bytes()[:300]), "not a readable snapshots file"),
    (lambda p: np.savez(p, samples=np.array([1, 2])), "not a Seq2Seq Studio snapshots file"),
    (lambda p: np.savez(p, format=np.array("seq2seq-studio-snapshots/1"), samples=np.array([5, 3]),
                        w0=np.zeros((2, 3))), "increasing"),
    (lambda p: np.savez(p, format=np.array("seq2seq-studio-snapshots/1"), samples=np.array([1, 2]),
                        w0=np.zeros((3, 3))), "does not hold 2 snapshots"),
    (lambda p: np.savez(p, format=np.array("seq2seq-studio-snapshots/1"), samples=np.array([1, 2]),
                        w0=np.array([[1.0], [np.nan]])), "NaN"),
    (lambda p: np.savez(p, format=np.array("seq2seq-studio-snapshots/1"), samples=np.array([1, 2]),
                        w0=np.array([object(), object()], dtype=object)), "not a readable snapshots file"),
])
def test_a_corrupt_snapshot_file_gives_a_clear_error_and_the_model_still_loads(run, tmp_path, damage, words):
    folder = store.save(run.model, tmp_path / "t", store.make_card("t", run.model, run.config), run.timeline)
    path = folder / store.SNAPSHOT_FILE
    path.write_bytes(b"")  # the damage below writes into an empty file
    damage(path)
    with pytest.raises(store.ModelFileError, match=words):
        store.load_timeline(folder)
    assert store.load(folder).model.count_params() == run.model.count_params()


def test_snapshots_of_another_model_are_refused(run):
    with pytest.raises(TimelineError, match="another model"):
        run.timeline.check_fits([(1, 2)] * len(run.timeline.weights))


def test_learning_curve_and_accuracy_over_training(run):
    from s2s.model import Seq2Seq

    scratch = Seq2Seq.build(PROBLEM, MODEL)
    source = [3, 7, 1, 9]
    curve = learning_curve(scratch, run.timeline, source)
    assert curve.expected.tolist() == [7, 3] and curve.expected_prob.shape == (len(run.timeline), 2)
    use_snapshot(scratch, run.timeline, 0)
    first = decode(scratch, source)
    assert np.allclose(curve.expected_prob[0], first.probs[0, [0, 1], [7, 3]], atol=1e-6)
    assert decode(run.model, source).tokens[0].tolist() == [7, 3] and curve.correct[-1]  # the run learned it
    # The first snapshot from which every later one decodes the source right, found by plain Python.
    first_always_right = next(k for k in range(len(curve.correct)) if all(curve.correct[k:]))
    assert curve.learned_at == first_always_right
    accuracy = accuracy_over_training(scratch, run.timeline, 500, 3)
    assert accuracy.per_position.shape == (len(run.timeline), 2)
    assert accuracy.exact[-1] > 0.5 > accuracy.exact[0]  # it learned during the run
    assert accuracy.first_above(0.9)[0] is None or accuracy.first_above(0.9)[0] in run.timeline.samples


def test_snapshot_memory_is_capped():
    assert planned_count(190_899) == 40 and snapshot_bytes(190_899) == 4 * 190_899 * 41
    big = 2_000_000
    assert planned_count(big) * 4 * big <= MAX_BYTES and planned_count(10**9) == 2
    recorder = Recorder(1_000_000, 256, 190_899)
    assert len(recorder.thresholds) <= 40 and recorder.thresholds[0] == 256 and recorder.thresholds[-1] == 1_000_000
    recorder.record(256, [np.ones(3)])
    recorder.record(256, [np.zeros(3)])  # the same point twice keeps the first
    assert recorder.timeline().samples.tolist() == [256] and isinstance(recorder.timeline(), Timeline)
