"""Equal-budget hyperparameter search on validation only (`python -m benchmark.tune`).

    cells.py     a grid's (dataset, model, matcher) cells, their base configs and sampled configs
    sample.py    one sampled config trained and selected on validation only, stored as a trial
    search.py    Ray Tune with Optuna's TPE and ASHA over each cell (the only module here that imports Ray)
    tuned.py     the best stored sample of each cell, written as the grid `<grid>_tuned`
"""
