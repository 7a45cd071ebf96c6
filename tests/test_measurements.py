"""Measurements recorded from elsewhere: a script's table under this machine's header, or under the
header of the machine that measured it (a GPU box's report)."""
import datetime as dt

from benchmark.measurements import main, record_measurement


def test_record_writes_the_table_under_a_header_with_the_given_commit(tmp_path, monkeypatch):
    monkeypatch.setenv("DMREC_COMMIT", "abc1234def")
    table = tmp_path / "all.md"
    table.write_text("### Epoch\n\n| model | epoch_s |\n|---|---|\n| Mult-VAE | 0.05 |\n")
    assert main(["record", "perf-cuda", "--from", str(table), "--root", str(tmp_path / "m"),
                 "--command", "bash benchmark/gpu_measure.sh"]) == 0
    latest = (tmp_path / "m" / "perf-cuda.md").read_text()
    assert "- **commit**: `abc1234`" in latest and "`bash benchmark/gpu_measure.sh`" in latest
    assert latest.endswith("| Mult-VAE | 0.05 |\n")
    (history,) = (tmp_path / "m" / "perf-cuda").iterdir()
    assert history.read_text() == latest and history.name.endswith("-abc1234.md")


def test_record_of_a_missing_file_is_one_line_and_exit_1(tmp_path, capsys):
    assert main(["record", "perf-cuda", "--from", str(tmp_path / "none.md"), "--root", str(tmp_path),
                 "--command", "x"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "none.md" in err[0]
    assert not any(tmp_path.iterdir())


def test_a_measurement_from_another_machine_names_that_machine(tmp_path):
    when = dt.datetime(2026, 11, 26, 11, 30, tzinfo=dt.timezone.utc)
    record_measurement("perf-cuda", ["bash", "benchmark/gpu_measure.sh"], "| a |", root=tmp_path,
                       state=("98db327", False), when=when, machine="16 cores; GPU: NVIDIA H100 80GB HBM3",
                       software="Python 3.12.3, torch 2.11.0+cu130")
    text = (tmp_path / "perf-cuda.md").read_text()
    assert "- **date**: 2026-11-26 11:30 UTC" in text and "- **commit**: `98db327`\n" in text
    assert "- **machine**: 16 cores; GPU: NVIDIA H100 80GB HBM3" in text
    assert "- **software**: Python 3.12.3, torch 2.11.0+cu130" in text
    assert (tmp_path / "perf-cuda" / "2026-11-26-98db327.md").exists()
