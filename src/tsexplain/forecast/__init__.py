"""Forecasting as a task: a LightningModule around forecaster backbones, metrics, baselines, explained targets."""
