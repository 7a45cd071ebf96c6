"""A results table for any grid, and Tables 1-3 and Figures 2-6 of the DMRec paper where a grid has
their inputs, regenerated from the results store only and set beside the published numbers.
`python -m benchmark.analysis --grid <grid>`; see the docs' "Tables and figures" page.

One module per artefact (results_table, table1..3, fig2..6), each a function of the grid's
finished trials (`records.load_grid_results`) that returns what it wrote and the data behind it.
Every name, role, colour and label comes from the model and matcher registries (`roles`).
"""
