"""The terminal summary: one standard deviation everywhere (ddof=1, as the tables), no ± for one seed."""
from benchmark.run import summary
from benchmark.runner.grid import expand, load_grid
from benchmark.runner.store import ResultStore


def test_summary_uses_the_sample_standard_deviation(data_root, tmp_path):
    grid = load_grid("smoke")
    trials = expand(grid)
    store = ResultStore("smoke", root=tmp_path)
    recalls = {("multvae", 0): 0.2, ("multvae", 1): 0.4, ("lightgcn", 0): 0.3}
    for trial in trials:
        if trial.matcher == "none":
            store.write_finished(trial.trial_id, {
                "config": trial.config, "best_epoch": 2,
                "metrics": {"test": {"recall@20": recalls[trial.model, trial.seed], "ndcg@20": 0.1}}})
    rows = {line.split()[1]: line for line in summary(grid, trials, store).splitlines()[2:]}
    assert "0.3000 ± 0.1414" in rows["Mult-VAE"] and "0.1000 ± 0.0000" in rows["Mult-VAE"]  # std(ddof=1) of .2,.4
    assert "0.3000" in rows["LightGCN"] and "±" not in rows["LightGCN"]
