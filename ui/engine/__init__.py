"""The window's side of the engine: the bridge to the worker process, loading models, the
model bar, and serving the loaded model as an API."""
