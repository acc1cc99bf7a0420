"""One module per `jewel` job verb (synth, audit, split, train, evaluate, predict, export, index, similar, review).

The other verbs have no job: `jewel app` is `jewelhelpers.app`, `jewel demo` runs synth then train (cli.py).
A job never imports another.
"""
