"""The ViTime attention-map study, end to end on built objects, and a small CLI for its measurements.

Train a forecaster on the generic harmonic corpus (never on the study signals), capture every head's
attention on the two study signals, convert tokens to time, find lag peaks against a shuffled baseline, and
say for each true period (and multiples) whether a peak appears with its component and disappears without
it. An untrained copy of the model is analysed the same way as a control: attention between similar
patches needs no training, so peaks that the untrained model also shows are not learned.

    python -m tsexplain.forecast.study --seeds 0 1 2 --max-minutes 3 --out results/vitime_study
    python -m tsexplain.forecast.study --timing --out results/vitime_study
"""

from __future__ import annotations

import argparse
import copy
import functools
import json
import math
import resource
import time
from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch import nn

from tsexplain.data.harmonics import HarmonicForecastDataModule, study_signal
from tsexplain.explain.attention.capture import capture_attention
from tsexplain.explain.attention.figures import plot_head, plot_lag_overview
from tsexplain.explain.attention.lags import cross_head_correlation, head_summary, lag_profile
from tsexplain.explain.attention.tokens import TokenLayout, restrict_block, rollout_time, token_to_time
from tsexplain.forecast.module import ForecastModule
from tsexplain.models.backbones.vitime import ViTimeForecaster

# The study's component periods in samples: sin(n/10), sin(n/5 + 50), cos(n + 50); "two" drops the first.
PERIODS = {"sin(n/10)": 2 * math.pi * 10, "sin(n/5+50)": 2 * math.pi * 5, "cos(n+50)": 2 * math.pi}
REMOVED = "sin(n/10)"


def signal_tensor(which: str, length: int = 512) -> torch.Tensor:
    return torch.tensor(study_signal(which, length).sample(length), dtype=torch.float32)[None, None]


def acf_peaks(x: np.ndarray, samples_per_patch: float, max_lag: int) -> list[float]:
    """Model-free reference at the model's lag resolution: peaks (in samples) of the signal's autocorrelation
    read at lags k · samples_per_patch, k = 0..max_lag — what an ideal lag detector on these tokens would find."""
    from scipy.signal import find_peaks

    z = x - x.mean()
    full = np.array([np.dot(z[: len(z) - k], z[k:]) / (len(z) - k) for k in range(len(z) // 2)]) / z.var()
    lags = np.arange(max_lag + 1) * samples_per_patch
    acf = np.interp(lags, np.arange(len(full)), full)
    idx, _ = find_peaks(np.concatenate([[acf.min() - 1], acf, [acf.min() - 1]]), prominence=0.05)
    return [float(lags[i - 1]) for i in idx if i - 1 >= 1]


def time_maps(model: nn.Module, x: torch.Tensor, layout: TokenLayout, block: str = "history×history"
              ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Per layer `[H, W', W']` time maps of one sequence (restricted to `block`), and the encoder rollout."""
    cap = capture_attention(model, x)
    maps = {n: restrict_block(token_to_time(a[0], layout), layout, block) for n, a in cap.maps.items()}
    enc = [a for n, a in cap.maps.items() if "decoder" not in n]
    roll = restrict_block(rollout_time(enc, layout)[0], layout, block)
    return maps, roll


def period_matches(peaks: list[float], periods: dict[str, float], max_lag_samples: float, tol: float) -> dict:
    """For each period and multiple k·P ≤ max lag: the nearest detected peak, its error (samples), and whether
    it lies within `tol` (half a token column: lags are quantised to columns)."""
    out = {}
    for name, p in periods.items():
        rows = []
        for k in range(1, int(max_lag_samples // p) + 1):
            near = min(peaks, key=lambda q, kp=k * p: abs(q - kp)) if peaks else None
            err = None if near is None else abs(near - k * p)
            rows.append({"k": k, "lag": k * p, "nearest_peak": near, "error": err,
                         "found": err is not None and err <= tol})
        out[name] = rows
    return out


def verdicts(with_m: dict, without_m: dict, spp: float) -> dict:
    """Per period: multiples found with its component / without. A period shorter than two token columns is not
    testable: every column lag then lies within half a column of one of its multiples."""
    out = {}
    for name in with_m:
        w = [r["found"] for r in with_m[name]]
        wo = [r["found"] for r in without_m[name]]
        testable = PERIODS[name] >= 2 * spp
        out[name] = {
            "testable": testable,
            "multiples_found_with": sum(w), "multiples_found_without": sum(wo), "multiples": len(w),
            "appears_with_disappears_without": bool(any(w) and not any(wo)) if name == REMOVED and testable else None,
            # odd multiples of 31.4 are where the two signals really differ (sin(n/10) is at −1 there)
            "odd_multiples_found": [r["found"] for r in with_m[name] if r["k"] % 2 == 1],
            "odd_multiples_found_without": [r["found"] for r in without_m[name] if r["k"] % 2 == 1],
        }
    return out


def analyse(model: nn.Module, length: int = 512, n_perm: int = 100, z: float = 2.0, figures: Path | None = None,
            tag: str = "") -> dict:
    """Lag peaks of every head, the head mean and the rollout on both study signals; best head chosen on 'three'."""
    model = model.eval()
    layout = TokenLayout.from_model(model)
    spp = layout.samples_per_patch
    tol = spp / 2  # half a token column
    res: dict = {"samples_per_patch": spp, "grid": list(layout.grid), "signals": {}}
    for which in ("three", "two"):
        with torch.no_grad():
            maps, roll = time_maps(model, signal_tensor(which, length), layout)
        w = next(iter(maps.values())).shape[-1]
        max_lag = w // 2
        heads = head_summary(maps, spp, None, max_lag=max_lag, n_perm=n_perm, z=z)
        mean_maps = {n: m.mean(0) for n, m in maps.items()}
        all_mean = torch.stack(list(mean_maps.values())).mean(0)
        prof_mean = lag_profile(all_mean, spp, max_lag, n_perm, z=z)
        prof_roll = lag_profile(roll, spp, max_lag, n_perm, z=z)
        labels, excess, curves = [], [], []
        for n, m in maps.items():
            for h in range(m.shape[0]):
                p = lag_profile(m[h], spp, max_lag, n_perm, z=z)
                labels.append(f"{n.replace('model.', '').replace('.attn', '')}/h{h}")
                curves.append(p.curve)
                excess.append((np.array(p.curve) - p.baseline_mean) / np.maximum(p.baseline_std, 1e-12))
        corr = cross_head_correlation(torch.tensor(curves))
        sig = study_signal(which, length).sample(length)
        res["signals"][which] = {
            "acf_peaks": acf_peaks(sig, spp, max_lag), "heads": heads, "labels": labels,
            "head_mean_peaks": prof_mean.peak_samples, "rollout_peaks": prof_roll.peak_samples,
            "cross_head_corr_mean": float(corr[~torch.eye(len(corr), dtype=torch.bool)].nanmean()),
            "max_lag_samples": max_lag * spp, "_maps": maps, "_excess": np.stack(excess),
            "_mean": (all_mean, prof_mean)}
    periods = {k: v for k, v in PERIODS.items()}
    max_ls = res["signals"]["three"]["max_lag_samples"]
    # best head: most true-period multiples matched on the signal with all components (as the study picked head 7)
    three, two = res["signals"]["three"], res["signals"]["two"]
    scores = []
    for i, row in enumerate(three["heads"]):
        m = period_matches(row["peaks_samples"], periods, max_ls, tol)
        scores.append((sum(r["found"] for rows in m.values() for r in rows) - 0.5 * len(row["peaks_samples"]), i))
    best = max(scores)[1]
    res["best_head_label"] = three["labels"][best]
    for kind, get in (("best_head", lambda s: s["heads"][best]["peaks_samples"]),
                      ("head_mean", lambda s: s["head_mean_peaks"]), ("rollout", lambda s: s["rollout_peaks"])):
        mw, mwo = period_matches(get(three), periods, max_ls, tol), period_matches(get(two), periods, max_ls, tol)
        res[kind] = {"peaks_three": get(three), "peaks_two": get(two), "matches_three": mw, "matches_two": mwo,
                     "verdicts": verdicts(mw, mwo, spp)}
    mw = period_matches(three["acf_peaks"], periods, max_ls, tol)
    mwo = period_matches(two["acf_peaks"], periods, max_ls, tol)
    res["acf_reference"] = {"peaks_three": three["acf_peaks"], "peaks_two": two["acf_peaks"], "matches_three": mw,
                            "matches_two": mwo, "verdicts": verdicts(mw, mwo, spp)}
    if figures is not None:
        for which in ("three", "two"):
            s = res["signals"][which]
            name, h = s["labels"][best].rsplit("/h", 1)
            layer = next(n for n in s["_maps"] if n.replace("model.", "").replace(".attn", "") == name)
            a = s["_maps"][layer][int(h)]
            plot_head(a, lag_profile(a, spp, a.shape[-1] // 2), figures / f"{tag}{which}_best_head.png",
                      f"{which}: {s['labels'][best]}", true_periods=list(PERIODS.values())[:2])
            plot_head(s["_mean"][0], s["_mean"][1], figures / f"{tag}{which}_head_mean.png", f"{which}: head mean",
                      true_periods=list(PERIODS.values())[:2])
            plot_lag_overview(s["_excess"], s["labels"], spp, figures / f"{tag}{which}_overview.png", which)
    for s in res["signals"].values():
        for k in [k for k in s if k.startswith("_")]:
            del s[k]
    return res


def forecast_scores(module: ForecastModule, dm: HarmonicForecastDataModule) -> dict:
    """Held-out test MSE/MAE/MASE of the model and of the seasonal-naive forecast."""
    trainer = L.Trainer(accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False)
    return {k: float(v) for k, v in trainer.test(module, dm, verbose=False)[0].items()}


def run_vitime_study(module: ForecastModule, datamodule: HarmonicForecastDataModule, out_dir: str | Path,
                     max_minutes: float = 3.0, max_epochs: int = 1000, seed: int = 0, n_perm: int = 100,
                     fit: bool = True) -> dict:
    """Train `module` on `datamodule` (the generic corpus) within `max_minutes`, score it, analyse its attention
    and an untrained copy's on the study signals; writes `study.json` and figures under `out_dir`."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if datamodule.context_len != 512:
        raise ValueError(f"the study signals are 512 samples; build the datamodule with context_len=512, not "
                         f"{datamodule.context_len}.")
    L.seed_everything(seed, workers=True)
    untrained = copy.deepcopy(module.backbone)
    t0 = time.perf_counter()
    if fit:
        trainer = L.Trainer(max_epochs=max_epochs, max_time={"minutes": max_minutes}, accelerator="cpu",
                            logger=False, enable_checkpointing=False, enable_progress_bar=False,
                            enable_model_summary=False, num_sanity_val_steps=0)
        trainer.fit(module, datamodule)
        epochs = trainer.current_epoch
    else:
        epochs = 0
    result = {"seed": seed, "train_seconds": time.perf_counter() - t0, "epochs": epochs,
              "n_train_series": datamodule.sizes["train"], "forecast": forecast_scores(module, datamodule),
              "trained": analyse(module.backbone, n_perm=n_perm, figures=out / "figures", tag=f"seed{seed}_"),
              "untrained": analyse(untrained, n_perm=n_perm)}
    (out / f"study_seed{seed}.json").write_text(json.dumps(result, indent=1, default=float))
    return result


# A real, daily-periodic energy series shipped inside aeon's wheel (no download): 6 days of half-hourly solar
# generation (aeon.datasets.load_solar, 289 values), whose day is 48 samples.
def _solar() -> np.ndarray:
    from aeon.datasets import load_solar  # imported here: aeon is slow to import and only this reading needs it

    return load_solar()


REAL_SERIES = {"solar": (_solar, 48.0)}


def analyse_real(model: nn.Module, name: str = "solar", length: int = 512, n_perm: int = 100, z: float = 2.0) -> dict:
    """The study's reading on a real series: resampled to the model's `length`, the lag peaks of every head, the
    head mean and the series' own autocorrelation, in the series' own samples, matched against its period."""
    if name not in REAL_SERIES:
        raise ValueError(f"real series {name!r} is unknown; use one of {sorted(REAL_SERIES)}.")
    load, period = REAL_SERIES[name]
    raw = np.asarray(load(), dtype=np.float64).ravel()
    scale = len(raw) / length  # original samples per resampled sample
    x = np.interp(np.linspace(0, len(raw) - 1, length), np.arange(len(raw)), raw)
    model = model.eval()
    layout = TokenLayout.from_model(model)
    spp = layout.samples_per_patch
    with torch.no_grad():
        maps, _ = time_maps(model, torch.tensor(x, dtype=torch.float32)[None, None], layout)
    max_lag = next(iter(maps.values())).shape[-1] // 2
    heads = head_summary(maps, spp, None, max_lag=max_lag, n_perm=n_perm, z=z)
    mean = torch.stack([m.mean(0) for m in maps.values()]).mean(0)
    to_raw = lambda peaks: [float(q) * scale for q in peaks]  # noqa: E731
    periods = {f"{name} period ({period:g} samples)": period}
    max_ls, tol = max_lag * spp * scale, spp * scale / 2
    best = [period_matches(to_raw(h["peaks_samples"]), periods, max_ls, tol) for h in heads]
    n_found = [sum(r["found"] for rows in m.values() for r in rows) for m in best]
    mean_peaks = to_raw(lag_profile(mean, spp, max_lag, n_perm, z=z).peak_samples)
    acf = to_raw(acf_peaks(x, spp, max_lag))
    return {"series": name, "n_samples": len(raw), "resampled_to": length, "samples_per_patch": spp * scale,
            "acf_peaks": acf, "acf_matches": period_matches(acf, periods, max_ls, tol),
            "head_mean_peaks": mean_peaks, "head_mean_matches": period_matches(mean_peaks, periods, max_ls, tol),
            "heads_finding_the_period": int(sum(n > 0 for n in n_found)), "n_heads": len(heads),
            "best_head_matches": best[int(np.argmax(n_found))] if best else {}}


class AttentionStudy:
    """The study as a config object (`study:` in conf/experiment/harmonics_*.yaml): after training, `run(model,
    datamodule, out_dir)` analyses the trained forecaster on both study signals (the experiment's `primary` one
    first in the figures) and writes `attention_study.json` and figures under `out_dir`."""

    #: the file `run` writes in the run folder
    output_name = "attention_study.json"

    def __init__(self, primary: str = "three", n_perm: int = 100, z: float = 2.0, untrained_control: bool = True,
                 real_series: str | None = "solar"):
        if primary not in ("three", "two"):
            raise ValueError(f"study primary={primary!r} is unknown; use 'three' or 'two'.")
        if real_series is not None and real_series not in REAL_SERIES:
            raise ValueError(f"study real_series={real_series!r} is unknown; use one of {sorted(REAL_SERIES)} or null.")
        self.primary, self.n_perm, self.z, self.untrained_control = primary, int(n_perm), float(z), untrained_control
        self.real_series = real_series

    def run(self, model: nn.Module, datamodule: HarmonicForecastDataModule | None, out_dir: str | Path) -> dict:
        out = Path(out_dir)
        bb = getattr(model, "backbone", model)
        if getattr(bb, "seq_len", 512) != 512:
            raise ValueError(f"the study signals are 512 samples; this forecaster takes seq_len={bb.seq_len}. "
                             "Use dataset.context_len=512.")
        res = {"primary": self.primary,
               "trained": analyse(bb, n_perm=self.n_perm, z=self.z, figures=out / "figures", tag="study_")}
        if self.untrained_control:
            fresh = copy.deepcopy(bb)
            fresh.model._init_weights() if hasattr(fresh, "model") and hasattr(fresh.model, "_init_weights") else None
            res["untrained"] = analyse(fresh, n_perm=self.n_perm, z=self.z)
        if self.real_series is not None:  # the seed's future work: one real series, read the same way
            res["real_series"] = analyse_real(bb, self.real_series, n_perm=self.n_perm, z=self.z)
        out.mkdir(parents=True, exist_ok=True)
        (out / self.output_name).write_text(json.dumps(res, indent=1, default=float))
        return res


def capture_cost(model: nn.Module, x: torch.Tensor, heads: str = "all") -> dict:
    """Time, captured bytes and peak-RSS growth (CPU) or peak CUDA memory of one capture of all layers."""
    model = model.eval()
    dev = x.device
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with torch.no_grad():
        t0 = time.perf_counter()
        model(x)
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        t_plain = time.perf_counter() - t0
        base_peak = torch.cuda.max_memory_allocated(dev) if dev.type == "cuda" else 0
        t0 = time.perf_counter()
        cap = capture_attention(model, x, heads=heads)
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        t_cap = time.perf_counter() - t0
    out = {"tokens": int(next(iter(cap.maps.values())).shape[-1]), "layers": len(cap.maps), "heads": heads,
           "forward_s": t_plain, "capture_s": t_cap, "captured_MB": cap.nbytes / 2**20,
           "peak_rss_growth_MB": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024}
    if dev.type == "cuda":
        out.update(forward_peak_MB=base_peak / 2**20, capture_peak_MB=torch.cuda.max_memory_allocated(dev) / 2**20)
    return out


def published_grid_model(model_size: float = 1.0) -> ViTimeForecaster:
    """A randomly initialised model on ViTime's published grid: h=128, patch 4×32, 1024+1440 columns (32 × 77)."""
    ms = model_size
    return ViTimeForecaster(1, 512, 719, h=128, patch_size=(4, 32), input_len=1024, pred_len=1440,
                            embed_dim=int(1024 * ms), depth=int(12 * ms), num_heads=int(16 * ms),
                            decoder_embed_dim=int(512 * ms), decoder_depth=int(6 * ms), decoder_num_heads=int(16 * ms),
                            max_scale=4.0, blur_kernel=(31, 31), binning="hard")


def timing(device: str = "cpu", model_size: float = 1.0, heads: tuple[str, ...] = ("mean", "all")) -> dict:
    """Capture cost at the default size and on the published grid; "mean" first, as peak RSS only grows."""
    x = signal_tensor("three").to(device)
    small = ViTimeForecaster(1, 512, 128).to(device)
    res = {"default": {h: capture_cost(small, x, h) for h in heads}}
    big = published_grid_model(model_size).to(device)
    res["published_grid"] = {h: capture_cost(big, x, h) for h in heads}
    res["published_grid"]["model_size"] = model_size
    res["published_grid"]["n_params"] = sum(p.numel() for p in big.parameters())
    return res


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--max-minutes", type=float, default=3.0)
    ap.add_argument("--n-train", type=int, default=2048)
    ap.add_argument("--n-perm", type=int, default=100)
    ap.add_argument("--out", default="results/vitime_study")
    ap.add_argument("--timing", action="store_true", help="measure capture time/memory instead of the study")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--model-size", type=float, default=1.0, help="modelSize of the published-grid timing model")
    ap.add_argument("--heads", nargs="+", default=["mean", "all"], help="capture reductions to time")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1) if args.device == "cpu" else None
    if args.timing:
        res = timing(args.device, args.model_size, tuple(args.heads))
        (out / f"timing_{args.device}_ms{args.model_size}.json").write_text(json.dumps(res, indent=1))
        print(json.dumps(res, indent=1))
        return
    summary = []
    for seed in args.seeds:
        dm = HarmonicForecastDataModule(context_len=512, horizon=128, n_train=args.n_train, seed=seed)
        module = ForecastModule(functools.partial(ViTimeForecaster), dm.meta, lr=1e-3)
        r = run_vitime_study(module, dm, out, args.max_minutes, seed=seed, n_perm=args.n_perm)
        row = {"seed": seed, "forecast": r["forecast"], "epochs": r["epochs"]}
        for m in ("trained", "untrained"):
            row[f"{m}_best_head"] = r[m]["best_head_label"]
            for k in ("best_head", "head_mean", "rollout"):
                row[f"{m}_{k}"] = {key: r[m][k][key] for key in ("peaks_three", "peaks_two", "verdicts")}
        summary.append(row)
        print(json.dumps(row, indent=1, default=float))
    (out / "summary.json").write_text(json.dumps(summary, indent=1, default=float))


if __name__ == "__main__":
    main()
