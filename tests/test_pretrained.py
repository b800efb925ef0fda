"""The shipped models: complete cards, weights that match them, accuracy that holds up when re-measured."""

import math
from pathlib import Path

import numpy as np
import pytest

from s2s import store
from s2s.evaluate import evaluate

PRETRAINED = Path(__file__).resolve().parent.parent / "pretrained"
REVERSE_ALL = ["reverse-all-plain", "reverse-all-stacked", "reverse-all-attention"]  # one problem, three models
SHIPPED = ["classic", "classic-tutorial", "wide", *REVERSE_ALL]
CARD_KEYS = {"format", "name", "created", "problem", "model", "training", "parameters", "evaluation", "holdout",
             "training_seconds", "history", "versions", "reproduce"}


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_model_loads_and_its_card_is_complete(name):
    loaded = store.load(PRETRAINED / name)
    card = loaded.card
    assert CARD_KEYS <= set(card) and all(card[k] is not None for k in CARD_KEYS)
    assert card["parameters"] == loaded.model.count_params()
    assert card["reproduce"].startswith("python -m s2s train") and f"--out pretrained/{name}" in card["reproduce"]
    assert card["evaluation"]["command"] == f"python -m s2s evaluate --model pretrained/{name} " \
                                            f"--n {card['evaluation']['n']} --seed {card['evaluation']['seed']}"
    assert len(card["history"]["loss"]) <= 300 and card["history"]["eval_exact"]


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_accuracy_agrees_with_its_card(name):
    loaded = store.load(PRETRAINED / name)
    claimed = loaded.card["evaluation"]["exact_accuracy"]
    measured = evaluate(loaded.model, 2000, seed=2024).exact
    # A fresh sample of 2,000 has a standard error of sqrt(p(1-p)/2000) (0.22 points at p = 0.99);
    # allow four of them, and at least 0.3 points so a near-perfect model may miss a few sequences.
    tolerance = max(4 * math.sqrt(claimed * (1 - claimed) / 2000), 0.003)
    assert abs(measured - claimed) <= tolerance, (measured, claimed, tolerance)


def test_classic_models_meet_their_promises():
    classic = store.read_card(PRETRAINED / "classic")
    assert classic["evaluation"]["n"] >= 10_000 and classic["evaluation"]["exact_accuracy"] >= 0.999
    tutorial = store.read_card(PRETRAINED / "classic-tutorial")
    assert tutorial["training"] | {"seed": 0} == {**tutorial["training"], "samples": 100_000, "epochs": 1,
                                                  "batch_size": 32, "learning_rate": 0.001, "schedule": "constant",
                                                  "seed": 0}
    wide = store.read_card(PRETRAINED / "wide")
    assert wide["problem"] == {"cardinality": 100, "n_in": 10, "n_out": 5}
    assert wide["evaluation"]["exact_accuracy"] >= 0.99


def test_the_reverse_all_models_show_what_stacking_and_attention_change():
    """One problem (12 values of 1..50 reversed), one training recipe, three models: their cards' accuracy on
    10,000 sequences, and beyond the training length, where attention holds on longest."""
    exact = {name: store.read_card(PRETRAINED / name)["evaluation"]["exact_accuracy"] for name in REVERSE_ALL}
    assert exact["reverse-all-plain"] < exact["reverse-all-attention"] < exact["reverse-all-stacked"]
    cards = [store.read_card(PRETRAINED / name) for name in REVERSE_ALL]
    assert all(c["problem"] == cards[0]["problem"] and c["training"] == cards[0]["training"] for c in cards)
    beyond = {name: evaluate(store.load(PRETRAINED / name).model, 1000, 7, n_in=14).exact for name in REVERSE_ALL}
    assert beyond["reverse-all-attention"] > beyond["reverse-all-plain"] + 0.1, beyond  # measured 57.5 vs 38.3 %


def test_pretrained_folder_stays_small():
    size = sum(f.stat().st_size for f in PRETRAINED.rglob("*") if f.is_file())
    # issue 10: classic's training timeline (float16) beside the three models (23.5 MB); issue 12: the three
    # 64-unit reverse-all models, without timelines (1.1 MB)
    assert size <= 25 * 2**20


def test_every_shipped_model_carries_a_timeline_that_fits_it():
    from s2s import store

    for name in ("classic", "classic-tutorial", "wide"):  # the reverse-all three ship without one (size)
        folder = PRETRAINED / name
        timeline = store.load_timeline(folder)
        model = store.load(folder, warm_up=False).model
        timeline.check_fits([w.shape for w in model.training.weights], name)
        assert len(timeline) >= 8 and timeline.samples[-1] == store.read_card(folder)["history"]["samples"][-1]
        # The final snapshot is the model's own weights, to float16 precision.
        for saved, final in zip(timeline.at(-1), model.training.get_weights()):
            assert np.allclose(saved, final, atol=1e-3)
    assert len(store.load_timeline(PRETRAINED / "classic")) >= 30  # the one the app opens on: a fine timeline
