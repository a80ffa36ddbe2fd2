"""Engines behind one contract, run in a worker process. Nothing here imports Qt."""
