"""Speed of DMRec against its base, of concurrent trials, and of Table 2, on one CPU or GPU.

    python -m benchmark.perf [--device cpu|cuda] [--dataset amazon] [--synthetic]
                             [--concurrent 1,2,4,8] [--group 1,5,10] [--project table2] [--out DIR] [--record]

Four stages, each time-boxed by `--time-limit` and each writing its table (CSV and Markdown) to
`--out` as soon as it finishes:

epoch       Mult-VAE and DMRec-G/C/M take turns for `--repeats` rounds (so a burst of load from
            other processes hits all of them alike): the seconds of one training epoch (the
            suite's trainer, Adam step included) and of one full-ranking evaluation of every user
            with training items, medians; the DMRec/base ratio (median of same-round ratios); the
            decoder's floor, its 3 products (forward, input and weight gradient) of 2 x U x 600 x N
            flop at the matmul rate measured on those shapes, and the time beyond it.
concurrent  N processes each running one short fixed-epoch trial (`--trial-model`, DMRec-M of
            Mult-VAE by default) on the same device at once: trials per hour at each N, the CPU
            threads split between them. Process start, data loading and the test count, as in a grid.
group       trials per hour when K seed-siblings of the concurrent stage's trial train as one group
            (`benchmark.runner.trial.train_group`; K = 1: one ordinary trial), for each K of `--group`,
            with one process and with each N of `--concurrent` processes at once; the ratio to K = 1 of
            the whole processes' trials per hour and of their training, validation and test seconds.
project     the wall time of a grid (Table 2: 360 trials) on one device: per-epoch and
            per-evaluation seconds measured for every (dataset, model, matcher) of the grid on a
            synthetic dataset of the paper's Table 1 shape, times the epochs each trial runs
            (the mean of stored finished runs of that grid when the results store has them, else
            `--project-epochs`), serially and at the best measured concurrency; with a group table
            (this run's or one in `--out`), also for each measured K and process count: each cell's
            seconds over the group stage's measured speed-up (a projection, not a measured grid).

On CUDA the device is synchronised before every clock read. A dataset that is not prepared is
replaced by a synthetic stand-in of its size (`--synthetic`, with a note): random Zipf-like
interactions split 3:1:1 per user and random 1536-d text vectors; say so when quoting numbers.

Modules: `synthetic` (the stand-in data), `clocks` (device clocks, matmul rate, host syncs),
`variants` (a model built as a trial builds it, one timed epoch and evaluation), `table` (a stage's
table), one module per stage (`epoch`, `concurrent`, `group`, `project`, `group_project`) and the command
line (`__main__`). `device_check.sh` runs the grouped measurement on a lent GPU in under 5 minutes.
"""
