"""Tables 1-3 and Figures 2-6 of the DMRec paper, regenerated from the results store only and set
beside the published numbers. `python -m benchmark.analysis --grid <grid>`; see the README, "Tables and figures".

One module per artefact (table1..3, fig2..6), each a function of the grid's finished trials
(`records.load_grid`) that returns what it wrote and the data behind it.
"""
