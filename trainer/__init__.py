"""Lance -> PyTorch datasets, the Lightning DataModule and exports. Not built yet: see the open
issue 'Training from the lake'."""
