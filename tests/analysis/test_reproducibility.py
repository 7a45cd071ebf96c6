"""The reproducibility page from a real results store: hand-computed means and stds over seeds, the
paper's four metrics, settings named by their difference to the preset, the CSV round trip, and
`--check` on the README's and the page's generated blocks."""
from __future__ import annotations

import shutil
import statistics
from pathlib import Path

import pytest

from benchmark.analysis import reproducibility as repro
from benchmark.runner.config import resolve
from benchmark.runner.record import defaults_of, stamped
from tests.analysis.synthetic import make_record, write_trial

REPO = Path(__file__).resolve().parents[2]
PAPER_LDIFFREC_AMAZON = {"recall@10": 0.1048, "recall@20": 0.1495, "ndcg@10": 0.0844, "ndcg@20": 0.0990}
# per-seed test metrics of L-DiffRec on amazon at the released settings, and with one key changed (seed 0 only)
RELEASED = {0: (0.0990, 0.1450, 0.0760, 0.0910), 1: (0.1000, 0.1470, 0.0770, 0.0920), 2: (0.1010, 0.1460, 0.0780,
                                                                                            0.0930)}
FASTER_DENOISER = {0: (0.1040, 0.1490, 0.0830, 0.0980)}


def released_config(model: str, seed: int, dataset: str = "amazon", **changes) -> dict:
    return {**resolve(model, dataset, {"preset": "released", "seed": seed}), **changes}


def record(config: dict, values: tuple, version: str = "v1", finished_at: str = "2026-11-24T12:00:00Z") -> dict:
    metrics = dict(zip(repro.METRICS, values, strict=True))
    made = make_record(config, values[1], dataset_version=version, metrics=metrics)
    return stamped({**made, "finished_at": finished_at, "provenance": {"commit": "0123456789abcdef", "dirty": False}})


def settings(config: dict, defaults: dict | None = None) -> str:
    """The settings of a record holding `config` and the defaults its code resolved (today's, unless given)."""
    return repro.describe_settings(config, defaults_of(config) if defaults is None else defaults)


def cell(frame, base: str, settings: str, metric: str, dataset: str = "amazon") -> dict:
    hit = frame[(frame.base == base) & (frame.dataset == dataset) & (frame.settings == settings)
                & (frame.metric == metric)]
    assert len(hit) == 1, f"{len(hit)} rows for {base}/{dataset}/{settings}/{metric}"
    return hit.iloc[0].to_dict()


@pytest.fixture
def store(tmp_path):
    """table2: released seed 0 of L-DiffRec and Mult-VAE; fidelity: released seeds 0-2 of L-DiffRec,
    one changed key (seed 0), and a DMRec row that is not a base."""
    root = tmp_path / "results"
    write_trial(root, "table2", record(released_config("ldiffrec", 0), RELEASED[0]))
    write_trial(root, "table2", record(released_config("multvae", 0), (0.1, 0.15, 0.08, 0.09)))
    for seed, values in RELEASED.items():
        write_trial(root, "fidelity", record(released_config("ldiffrec", seed), values))
    write_trial(root, "fidelity", record(released_config("ldiffrec", 0, learning_rate=0.0001), FASTER_DENOISER[0]))
    write_trial(root, "fidelity", record(released_config("multvae", 0, matcher="mddm"), (0.9, 0.9, 0.9, 0.9)))
    return root


def test_settings_are_the_difference_to_the_preset():
    assert settings(released_config("ldiffrec", 3)) == "released"
    assert settings(released_config("ldiffrec", 0, learning_rate=0.0001)) == "released + learning_rate=0.0001"
    two = released_config("cvga", 0, weight_decay=0.01, weight_init="xavier")
    assert settings(two) == "released + weight_decay=0.01 + weight_init=xavier"
    assert settings({**resolve("multvae", "amazon", {"seed": 0})}) == "defaults"


def test_a_key_the_recorded_defaults_lack_is_shown_from_the_record():
    newer = released_config("ldiffrec", 0, float64_loss_weights_of_the_future=True, schedule_x={"a": [1, 2]})
    assert settings(newer) == 'released + float64_loss_weights_of_the_future=true + schedule_x={"a": [1, 2]}'


def test_settings_come_from_the_recorded_defaults_not_todays():
    """A record whose code had another preset value: compared with its own defaults, it ran its preset."""
    config = released_config("ldiffrec", 0, learning_rate=0.0001)
    defaults = defaults_of(config)
    defaults["preset"]["learning_rate"] = 0.0001  # what the preset said when the record was written
    assert settings(config, defaults) == "released"


def test_a_key_the_record_lacks_counts_only_where_the_preset_changes_it():
    full = released_config("ldiffrec", 0)
    older = dict(full)
    del older["learning_rate"]  # the preset leaves it at the default: assumed run at the default
    assert settings(older, defaults_of(full)) == "released"
    del older["weight_init"]    # the preset changes it: older code cannot have done what it asks
    assert settings(older, defaults_of(full)) == "released + weight_init=(not recorded)"
    gone = {**released_config("ldiffrec", 0), "preset": "no_such_preset"}
    assert settings(gone).startswith("no_such_preset (not resolvable: ")
    assert settings({**gone, "model": "no_such_model"}).startswith("no_such_preset (not resolvable: ")


def test_paper_values_of_all_four_metrics():
    for metric, value in PAPER_LDIFFREC_AMAZON.items():
        assert repro.paper_value("L-DiffRec", "amazon", metric) == value
    assert repro.paper_value("CVGA", "steam", "ndcg@20") == 0.0847
    assert repro.paper_value("Mult-VAE", "yelp", "recall@10") == 0.0732
    assert repro.paper_value("Mult-VAE", "amazon", "recall@50") is None


def test_rows_from_a_store_use_every_seed_once_sample_std_and_the_paper(store):
    frame, notes = repro.status_from_store(store)
    assert list(frame.columns) == list(repro.COLUMNS)
    for i, metric in enumerate(repro.METRICS):
        values = [RELEASED[s][i] for s in (0, 1, 2)]
        row = cell(frame, "L-DiffRec", "released", metric)
        mean, std = statistics.fmean(values), statistics.stdev(values)
        assert float(row["ours_mean"]) == pytest.approx(mean, abs=1e-6)
        assert float(row["ours_std"]) == pytest.approx(std, abs=1e-6)
        assert row["n_seeds"] == "3" and row["per_seed"] == " ".join(f"{s}:{v:.6f}" for s, v in enumerate(values))
        paper = PAPER_LDIFFREC_AMAZON[metric]
        assert float(row["paper"]) == paper and float(row["rel_diff"]) == round((mean - paper) / paper, 6)
        assert row["within_3pct"] == str(abs(mean - paper) / paper <= 0.03)
        assert row["paper_grid_settings"] == "True" and row["grid"] == "table2 fidelity"
        assert row["commit"] == "0123456" and row["device"] == "cpu (x86_64)"
    # seed 0 is stored in both grids (the same trial): counted once
    assert any("the same settings and seed" in note for note in notes)
    changed = cell(frame, "L-DiffRec", "released + learning_rate=0.0001", "recall@10")
    assert changed["n_seeds"] == "1" and changed["ours_std"] == "" and changed["paper_grid_settings"] == "False"
    assert changed["within_3pct"] == "True" and changed["grid"] == "fidelity"
    # the DMRec row is not a base; an unrun (base, dataset) keeps its paper values with n = 0
    assert float(cell(frame, "Mult-VAE", "released", "recall@20")["ours_mean"]) == 0.15
    steam = cell(frame, "CVGA", "released", "ndcg@20", dataset="steam")
    assert steam["n_seeds"] == "0" and steam["ours_mean"] == "" and float(steam["paper"]) == 0.0847
    assert set(zip(frame.base, frame.dataset, strict=True)) == {(b, d) for b in repro.BASES.values()
                                                                for d in repro.DATASETS}


def test_the_newest_dataset_version_and_the_newest_rerun_count():
    records = [record(released_config("cvga", 0), (0.5, 0.5, 0.5, 0.5), version="old", finished_at="2026-11-01"),
               record(released_config("cvga", 0), (0.1, 0.15, 0.08, 0.09), version="new", finished_at="2026-11-02"),
               record(released_config("cvga", 1), (0.2, 0.2, 0.2, 0.2), version="new", finished_at="2026-11-03"),
               record(released_config("cvga", 1), (0.3, 0.3, 0.3, 0.3), version="new", finished_at="2026-11-04")]
    frame, notes = repro.rows_from_records(records)
    row = cell(frame, "CVGA", "released", "recall@10")
    assert row["per_seed"] == "0:0.100000 1:0.300000" and row["date"] == "2026-11-04"
    assert len(notes) == 2 and "dataset version old" in notes[0]


def test_the_screening_shows_each_change_against_the_released_seeds(store):
    frame, _ = repro.status_from_store(store)
    page = repro.render_screening(frame)
    # one seed against the same seed of released: (0.1040 - 0.0990) / 0.0990 = +5.1%
    assert "| released + learning_rate=0.0001 | 0 | 0.1040 (-0.8% ✓); +5.1% on seed 0 |" in page
    assert "| released (the paper grid's) | 0-2 | 0.1000 ± 0.0010 (-4.6% ✗) |" in page
    assert "- **Recall@10** (paper 0.1048): **not reached** within 3%: released gives 0.1000 ± 0.0010 over 3 seeds " \
           "(-4.6%). The largest move: released + learning_rate=0.0001, +5.1% against released (seed 0). " \
           "Within 3% with: released + learning_rate=0.0001 (-0.8%, 1 seed)." in page
    assert "- **Recall@20** (paper 0.1495): reached within 3%: released gives 0.1460 ± 0.0010 over 3 seeds (-2.3%)." \
           in page
    assert "### Mult-VAE on amazon" in page and "CVGA on" not in page and "on steam" not in page


def test_mean_against_mean_when_both_settings_ran_three_seeds():
    records = [record(released_config("cvga", s), (0.10 + s / 100, 0.15, 0.08, 0.09)) for s in range(3)]
    records += [record(released_config("cvga", s, weight_decay=0.01), (0.12 + s / 100, 0.15, 0.08, 0.09))
                for s in range(3)]
    frame, _ = repro.rows_from_records(records)
    page = repro.render_screening(frame)
    assert "| released + weight_decay=0.01 | 0-2 | 0.1300 ± 0.0100 (+26.2% ✗); +18.2% on seeds 0-2 |" in page  # .13/.11
    assert "- **Recall@20** (paper 0.1522): reached within 3%: released gives 0.1500 ± 0.0000 over 3 seeds" in page
    # with one seed of the paper grid's settings, the verdict waits for three
    one_seed, _ = repro.rows_from_records(records[:1] + records[3:])
    page = repro.render_screening(one_seed)
    assert "- **Recall@20** (paper 0.1522): within 3% so far (3 seeds decide): released gives 0.1500 over 1 seed " \
           "(-1.4%)." in page  # -1.445%: rounded once
    assert "- **NDCG@20** (paper 0.0960): **not within** 3% so far (3 seeds decide): released gives 0.0900 over " \
           "1 seed (-6.2%)." in page
    assert "| released + weight_decay=0.01 | 0-2 | 0.1300 ± 0.0100 (+26.2% ✗); +20.0% on seed 0 |" in page  # .12/.10


def test_a_setting_is_compared_with_the_nearest_run_setting_it_extends():
    """One change at a time: `released + a + b` against `released + a` when that ran, not against
    `released`; a setting with no run subset is compared with the paper grid's."""
    records = [record(released_config("cvga", 0), (0.10, 0.15, 0.08, 0.09)),
               record(released_config("cvga", 0, weight_decay=0.01), (0.11, 0.15, 0.08, 0.09)),
               record(released_config("cvga", 0, weight_decay=0.01, dropout=0.5), (0.121, 0.15, 0.08, 0.09)),
               record(released_config("cvga", 0, dropout=0.1, learning_rate=0.01), (0.09, 0.15, 0.08, 0.09))]
    frame, _ = repro.rows_from_records(records)
    page = repro.render_screening(frame)
    both = "released + dropout=0.5 + weight_decay=0.01"
    assert f"| {both} | 0 | 0.1210 (+17.5% ✗); +10.0% on seed 0 |" in page  # .121/.11, not .121/.10
    row = page.split(f"| {both} |")[1].split("\n")[0]
    assert row.rsplit("|", 3)[1].strip() == "released + weight_decay=0.01"  # the "change against" column
    assert "| released + dropout=0.1 + learning_rate=0.01 | 0 | 0.0900 (-12.6% ✗); -10.0% on seed 0 |" in page
    cells = repro.cells_of(frame)[("CVGA", "amazon")]
    assert repro.reference_of("released + dropout=0.1 + learning_rate=0.01", cells, "released") == "released"
    assert "The largest move: released + dropout=0.1 + learning_rate=0.01, -10.0% against released (seed 0)" in page


def test_the_status_block_shows_the_paper_grids_settings_and_what_is_not_run(store):
    frame, _ = repro.status_from_store(store)
    block = repro.render_block(frame)
    assert block.startswith(repro.BEGIN) and block.endswith(repro.END)
    assert ("| L-DiffRec | amazon | released | 3 | 0.1000 ± 0.0010 vs 0.1048, -4.6% ✗ | 0.1460 ± 0.0010 vs 0.1495, "
            "-2.3% ✓ | 0.0770 ± 0.0010 vs 0.0844, -8.8% ✗ | 0.0920 ± 0.0010 vs 0.0990, -7.1% ✗ | `0123456`, ") in block
    assert "learning_rate" not in block and "| CVGA |" not in block
    assert "Not run yet at the paper grid's settings" in block
    missing = [line for line in block.splitlines() if line.startswith("- ")]
    assert missing == [
        "- amazon (CVGA): `python -m benchmark.run --grid table2 --datasets amazon --models cvga --matchers none`",
        "- yelp (every base): `python -m benchmark.run --grid table2 --datasets yelp --models multvae,ldiffrec,cvga "
        "--matchers none`",
        "- steam (every base): `python -m benchmark.run --grid table2 --datasets steam --models multvae,ldiffrec,cvga "
        "--matchers none`"]
    assert "### Not run yet" in repro.render_screening(frame) and missing[0] in repro.render_screening(frame)


def test_the_not_run_command_runs_exactly_those_trials():
    """The command the status prints narrows the paper grid to the plain bases of one dataset."""
    from benchmark.run import _narrowing, parser
    from benchmark.runner.grid import expand, load_grid

    command = repro.run_command("yelp", ["L-DiffRec", "CVGA"]).split()
    assert command[:4] == ["python", "-m", "benchmark.run", "--grid"] and command[4] == repro.PAPER_GRID
    flags = dict(zip(command[5::2], command[6::2], strict=True))
    assert flags == {"--datasets": "yelp", "--models": "ldiffrec,cvga", "--matchers": "none"}
    args = parser().parse_args(command[3:])
    trials = expand(load_grid(args.grid), _narrowing(args), allow_unprepared=True)
    assert {(t.model, t.dataset, t.matcher) for t in trials} == {("ldiffrec", "yelp", "none"), ("cvga", "yelp", "none")}


def _files(folder: Path) -> tuple[Path, Path, Path]:
    readme, page = folder / "README.md", folder / "page.md"
    readme.write_text(f"# x\n\nprose kept\n{repro.BEGIN}\nold\n{repro.END}\nmore prose\n")
    page.write_text(f"# page\n\nhand-written\n{repro.SCREENING_BEGIN}\n{repro.SCREENING_END}\ntail\n")
    return folder / "reproducibility.csv", readme, page


def test_the_page_rebuilt_from_the_csv_alone_equals_the_page_from_the_store(store, tmp_path):
    csv, readme, page = _files(tmp_path)
    args = ["--csv", str(csv), "--readme", str(readme), "--page", str(page)]
    assert repro.main(["--results", str(store), *args]) == 0
    from_store = readme.read_text(), page.read_text()
    assert "prose kept" in from_store[0] and from_store[1].startswith("# page\n\nhand-written\n")
    assert from_store[1].endswith(f"{repro.SCREENING_END}\ntail\n")
    fresh = tmp_path / "clone"
    fresh.mkdir()
    clone_csv, clone_readme, clone_page = _files(fresh)
    shutil.copy2(csv, clone_csv)
    # a fresh clone: no trial records under its results root, the committed CSV only
    assert repro.main(["--results", str(fresh / "no-results"), "--csv", str(clone_csv), "--readme",
                       str(clone_readme), "--page", str(clone_page)]) == 0
    assert (clone_readme.read_text(), clone_page.read_text()) == from_store
    assert clone_csv.read_bytes() == csv.read_bytes()
    frame, _ = repro.status_from_store(store)
    assert repro.render_screening(repro.read_status(csv)) == repro.render_screening(frame)


def test_check_detects_a_stale_block_and_changes_nothing(store, tmp_path, capsys):
    csv, readme, page = _files(tmp_path)
    args = ["--csv", str(csv), "--readme", str(readme), "--page", str(page)]
    assert repro.main(["--results", str(store), *args]) == 0
    assert repro.main(["--check", *args]) == 0
    text = csv.read_text()
    stale = "L-DiffRec,amazon,released,True,recall@10,0.100000,"
    assert stale in text
    csv.write_text(text.replace(stale, stale.replace("0.100000", "0.100100")))  # the mean shown as 0.1001
    before = readme.read_text(), page.read_text()
    capsys.readouterr()
    assert repro.main(["--check", *args]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("error: ") and "differs from" in line for line in err)
    assert (readme.read_text(), page.read_text()) == before
    page.write_text(before[1].replace("over 3 seeds", "over 4 seeds", 1))
    csv.write_text(text)
    assert repro.main(["--check", *args]) == 1  # a hand edit inside the page's block is stale too


def test_a_csv_with_other_columns_is_one_line_and_exit_1(tmp_path, capsys):
    csv, readme, page = _files(tmp_path)
    csv.write_text("base,dataset,metric\nCVGA,amazon,recall@20\n")
    assert repro.main(["--check", "--csv", str(csv), "--readme", str(readme), "--page", str(page)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith(f"error: {csv}: expected columns")


def test_the_committed_page_block_matches_the_committed_csv():
    expected = repro.render_screening(repro.read_status())
    page = (REPO / "docs" / "reproducibility.md").read_text()
    assert repro.current_block(page, repro.SCREENING_BEGIN, repro.SCREENING_END) == expected, \
        "docs/reproducibility.md is stale: run python -m benchmark.analysis.reproducibility"
