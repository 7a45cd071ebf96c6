"""The runner: a grid expanded into trials, each resolved once and trained, its record stored.

Imports the data layer, the models and the core; never the analysis, tuning or perf above it."""
