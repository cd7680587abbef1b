"""Training: folder scanning, the training stages as generators, and the runner that saves each epoch. Qt-free."""
