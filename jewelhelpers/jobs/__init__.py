"""One module per `jewel` verb (synth, audit, split, train, evaluate, predict, export). A job never imports another."""
