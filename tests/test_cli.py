"""The CLI end to end, as a user types it: s2s.cli.main(argv) in this process (run_cli), and the real
`python -m s2s` in a process of its own for what only a process shows (its exit code, one line on stderr)."""

import json

import pytest

from tests.conftest import run_cli, run_process


def run(*args):
    """A command that must succeed."""
    result = run_cli(*args)
    assert result.returncode == 0, result.stderr
    return result


@pytest.fixture(scope="module")
def cli_model(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "tiny"
    result = run("train", "--cardinality", "9", "--n-in", "4", "--n-out", "2", "--units", "32",
                 "--samples", "20000", "--batch-size", "32", "--lr", "0.005", "--schedule", "constant", "--seed", "3",
                 "--out", str(out))
    assert "Held-out exact-sequence accuracy" in result.stdout
    return out


def test_python_dash_m_s2s_decodes_and_refuses_in_processes_of_their_own(cli_model, tmp_path):
    """The entry point itself: exit 0 and one JSON document on stdout; exit 2 and one line on stderr, no
    traceback, nothing written."""
    done = run_process("decode", "--model", str(cli_model), "3", "7", "1", "9", "--json")
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert json.loads(done.stdout)["expected"] == [7, 3]
    refused = run_process("train", "--out", str(tmp_path / "bad name"))
    assert refused.returncode == 2 and refused.stdout == ""
    assert refused.stderr.startswith("error: ") and refused.stderr.count("\n") == 1, refused.stderr
    assert "Invalid model name" in refused.stderr and "Traceback" not in refused.stderr
    assert list(tmp_path.iterdir()) == []


def test_main_called_again_in_one_process_answers_the_same(cli_model):
    """Nothing of one command line leaks into the next: the tests call main() many times in one process."""
    args = ("decode", "--model", str(cli_model), "3", "7", "1", "9", "--strategy", "sample", "--json")
    first = run(*args)
    assert run_cli("decode", "--model", str(cli_model), "1", "--json").returncode == 2
    assert run("list", "--root", str(cli_model.parent)).returncode == 0
    again = run(*args)
    assert (again.stdout, again.stderr) == (first.stdout, first.stderr)


def test_train_saves_a_model_with_a_reproducible_card(cli_model):
    card = json.loads((cli_model / "card.json").read_text())
    assert card["problem"] == {"cardinality": 9, "n_in": 4, "n_out": 2, "task": "reverse-prefix"}
    assert card["evaluation"]["exact_accuracy"] >= 0.95 and card["evaluation"]["n"] == 1000
    assert card["reproduce"].startswith("python -m s2s train") and "--samples 20000" in card["reproduce"]


def test_train_keeps_the_snapshots_asked_for(cli_model, tmp_path):
    from s2s.snapshots import Timeline

    assert 20 <= len(Timeline.load(cli_model / "snapshots.npz")) <= 41  # the default: about 40
    out = tmp_path / "few"
    result = run("train", "--cardinality", "9", "--n-in", "4", "--n-out", "2", "--units", "8", "--samples", "3000",
                 "--batch-size", "64", "--snapshots", "3", "--out", str(out))
    assert "snapshots.npz (3 snapshots)" in result.stdout
    card = json.loads((out / "card.json").read_text())
    assert card["training"]["snapshots"] == 3 and "--snapshots 3" in card["reproduce"]
    none = tmp_path / "none"
    run("train", "--cardinality", "9", "--n-in", "4", "--n-out", "2", "--units", "8", "--samples", "1000",
        "--snapshots", "0", "--out", str(none))
    assert not (none / "snapshots.npz").exists() and (none / "model.keras").exists()


def test_decode_prints_each_step_and_the_result(cli_model):
    out = run("decode", "--model", str(cli_model), "3", "7", "1", "9").stdout
    assert "step 1  input 0 (start token)" in out and "step 2" in out
    assert "expected  7 3" in out
    data = json.loads(run("decode", "--model", str(cli_model), "3,7,1,9", "--feed", "softmax", "--json").stdout)
    assert data["expected"] == [7, 3] and data["steps"][0]["input"] == "all-zero vector"
    assert len(data["steps"][0]["probs"]) == 10 and abs(sum(data["steps"][0]["probs"]) - 1) < 1e-4


def test_evaluate_and_list(cli_model):
    out = run("evaluate", "--model", str(cli_model), "--n", "500").stdout
    assert "Exact-sequence accuracy" in out and out.count("X=[") == 10
    data = json.loads(run("evaluate", "--model", str(cli_model), "--n", "500", "--json").stdout)
    assert data["n"] == 500 and 0.9 <= data["exact_accuracy"] <= 1 and len(data["examples"]) == 10
    listing = json.loads(run("list", "--root", str(cli_model.parent), "--json").stdout)
    assert listing[0]["name"] == "tiny" and listing[0]["ok"]


def test_decode_by_beam_search_and_by_sampling(cli_model):
    greedy = json.loads(run("decode", "--model", str(cli_model), "3", "7", "1", "9", "--json").stdout)
    beam = json.loads(run("decode", "--model", str(cli_model), "3", "7", "1", "9", "--strategy", "beam",
                          "--beam-width", "4", "--json").stdout)
    assert beam["beam_width"] == 4 and len(beam["hypotheses"]) == 4
    totals = [h["total"] for h in beam["hypotheses"]]
    assert totals == sorted(totals, reverse=True)
    assert all(abs(sum(h["step_logp"]) - h["total"]) < 1e-9 for h in beam["hypotheses"])
    one = json.loads(run("decode", "--model", str(cli_model), "3", "7", "1", "9", "--strategy", "beam",
                         "--beam-width", "1", "--json").stdout)
    assert one["predicted"] == greedy["predicted"]
    text = run("decode", "--model", str(cli_model), "3", "7", "1", "9", "--strategy", "beam").stdout
    assert "(beam search, width 3)" in text and text.count("\n") == 2 + 3 + 1
    args = ("decode", "--model", str(cli_model), "3", "7", "1", "9", "--strategy", "sample", "--temperature", "2",
            "--samples", "30", "--seed", "5", "--json")
    drawn, again = json.loads(run(*args).stdout), json.loads(run(*args).stdout)
    assert drawn["draws"] == again["draws"] and len(drawn["draws"]) == 30
    assert sum(row["count"] for row in drawn["counts"]) == 30
    text = run("decode", "--model", str(cli_model), "3", "7", "1", "9", "--strategy", "sample").stdout
    assert "temperature 1, 10 draws, seed 1" in text


def test_evaluate_with_a_beam(cli_model):
    greedy = json.loads(run("evaluate", "--model", str(cli_model), "--n", "300", "--json").stdout)
    beam = json.loads(run("evaluate", "--model", str(cli_model), "--n", "300", "--beam-width", "1", "--json").stdout)
    assert beam["exact_accuracy"] == greedy["exact_accuracy"] and beam["beam_width"] == 1
    assert "beam width 3" in run("evaluate", "--model", str(cli_model), "--n", "300", "--beam-width", "3").stdout


@pytest.mark.parametrize("args, words", [
    (["decode", "--model", "MODEL", "1", "2", "3", "4", "--strategy", "beam", "--beam-width", "0"], "between 1 and 10"),
    (["decode", "--model", "MODEL", "1", "2", "3", "4", "--strategy", "sample", "--temperature", "0"], "above 0"),
    (["decode", "--model", "MODEL", "1", "2", "3", "4", "--strategy", "sample", "--temperature", "-1"], "above 0"),
    (["decode", "--model", "MODEL", "1", "2", "3", "4", "--strategy", "sample", "--beam-width", "3"],
     "--beam-width applies to --strategy beam"),
    (["decode", "--model", "MODEL", "1", "2", "3", "4", "--temperature", "2"], "applies to --strategy sample"),
    (["decode", "--model", "MODEL", "1", "2", "3", "4", "--strategy", "beam", "--feed", "softmax"],
     "--feed applies to --strategy greedy"),
    (["decode", "--model", "MODEL", "1", "2", "3", "4", "--strategy", "sample", "--samples", "0"], "at least 1"),
    (["decode", "--model", "MODEL", "1", "2", "3", "4", "--strategy", "nucleus"], "invalid choice"),
    (["evaluate", "--model", "MODEL", "--beam-width", "11"], "between 1 and 10"),
    (["evaluate", "--model", "MODEL", "--beam-width", "2", "--feed", "softmax"], "do not mix"),
    (["decode", "--model", "MODEL", "1"], "2 to 100 values (it was trained on 4)"),
    (["decode", "--model", "MODEL", "1", "2", "3", "0"], "start token"),
    (["decode", "--model", "/nonexistent/model", "1", "2", "3", "4"], "no such model folder"),
    (["train", "--n-in", "2", "--n-out", "3", "--out", "OUTDIR/x"], "cannot be larger"),
    (["train", "--out", "OUTDIR/bad name"], "Invalid model name"),
    (["evaluate", "--model", "MODEL", "--n", "0"], "between 1 and"),
    (["train", "--units", "many", "--out", "OUTDIR/x"], "invalid int value"),
    (["nonsense"], "invalid choice"),
    (["evaluate", "--model", "MODEL", "--seed", "-1"], "argument --seed: must be 0 or more"),
    (["decode", "--model", "MODEL", "1", "2", "3", "4", "--strategy", "sample", "--seed", "-3"],
     "argument --seed: must be 0 or more"),
    (["train", "--eval-seed", "-1", "--out", "OUTDIR/x"], "argument --eval-seed: must be 0 or more"),
    # A save that cannot happen is refused before training (the header "Training ..." never printed), not after.
    (["train", "--out", "/dev/null/x"], "/dev/null is a file, not a folder"),
    (["train", "--out", "/dev/null"], "exists and is not a folder"),
])
def test_bad_input_gives_one_line_and_exit_2(cli_model, tmp_path, args, words):
    args = [a.replace("MODEL", str(cli_model)).replace("OUTDIR", str(tmp_path)) for a in args]
    result = run_cli(*args)
    assert result.returncode == 2
    assert words in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()
