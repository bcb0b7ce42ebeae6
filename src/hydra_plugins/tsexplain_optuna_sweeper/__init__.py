"""tsexplain's Optuna sweeper for Hydra: current Optuna (>= 4), same config schema as hydra-optuna-sweeper.

Why our own: hydra-optuna-sweeper 1.3.0 pins optuna < 3 (and so SQLAlchemy < 2, no optuna-dashboard, no
current pruning callbacks), and no maintained plugin supports a current Optuna. This one keeps that plugin's
`hydra.sweeper.*` keys (sampler, direction, storage, study_name, n_trials, n_jobs, max_failure_rate, params,
custom_search_space), so users' search-space configs keep working, and adds what a long study needs:
sqlite storage in the sweep folder by default, resume after a kill, trial folders named by trial number, and
pruning through `tsexplain.utils.optuna_pruning.OptunaPruning`.
"""
