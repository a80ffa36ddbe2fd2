"""The model library pages: models on this computer, the Hugging Face browser and its
downloads, remote sources, and the welcome page of a first run."""
