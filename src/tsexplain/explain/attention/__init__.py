"""Attention-map analysis: capture per layer/head, token → time, rollout, time-lag peaks, figures (the ViTime study)."""

from tsexplain.explain.attention.capture import AttentionCapture, CapturedAttention, attention_sites, capture_attention
from tsexplain.explain.attention.lags import find_lag_peaks, head_summary, lag_curve, lag_profile, shuffled_baseline
from tsexplain.explain.attention.tokens import TokenLayout, restrict_block, rollout_time, token_to_time

__all__ = [
    "AttentionCapture", "CapturedAttention", "TokenLayout", "attention_sites", "capture_attention", "find_lag_peaks",
    "head_summary", "lag_curve", "lag_profile", "restrict_block", "rollout_time", "shuffled_baseline",
    "token_to_time",
]
