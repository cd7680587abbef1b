"""The Trainer tab and its panels: the photos folder, the settings, the stage progress, the
loss plots, the validation colorizations and the user's models. The training itself is
`trainer.app_jobs.train_job`, run by the app's Worker."""

from .tab import TrainerTab

__all__ = ["TrainerTab"]
