"""Hyperparameter tuning on Ray Tune: a job searches run parameters; every trial is a run."""
