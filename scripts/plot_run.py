#!/usr/bin/env python3
"""Turn a juice run log into a PNG (optional tool; needs matplotlib: Debian package python3-matplotlib).

Recognised inputs (by their columns / keys):
  rate CSV         `juice toy-mdp rate --csv F`: method,budget,step_size,min_grad_norm_sq,...
                   -> log-log plot of min ||grad l||^2 against TK per method, with a slope -1/2 guide
  rate JSONL log   `juice toy-mdp rate --log F`: one line per update with method, budget, global_step,
                   exact_grad_norm_sq -> running minimum against the step, one curve per (method, budget)
  robustness CSV   `juice toy-mdp robustness --csv F`: method,eps,<metric>_mean,<metric>_se,...
                   -> one panel per metric against eps, mean +- standard error per method
  ground-truth CSV `juice ground-truth --csv F`: the same layout (plus policy_steps, wall_s)
                   -> panels win_rate, true_reward, logprob_gap, kl_to_base unless --metrics says;
                   with --rounds: per method, the log-likelihood of the demonstrations, of held-out
                   correct answers and of the generations at each round's start, one colour per eps
  step-event CSV/JSONL  juice::csv_event_logger / jsonl_event_logger: loss and grad_norm_sq per step

Usage: scripts/plot_run.py LOG [-o OUT.png] [--metrics a,b,...] [--rounds]   (both: method/eps tables only)
"""
import argparse
import csv
import json
import math
import sys
from collections import defaultdict


def load(path):
    with open(path, newline="") as f:
        text = f.read()
    stripped = text.lstrip()
    if stripped.startswith("{"):
        rows = []
        for number, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as e:
                    sys.exit(f"plot_run.py: {path}:{number}: not a JSON line ({e.msg})")
        return rows
    rows = list(csv.DictReader(text.splitlines()))
    for r in rows:
        for k, v in r.items():
            try:
                r[k] = float(v)
            except (TypeError, ValueError):
                pass
    return rows


def plot_rate(plt, rows, out):
    fig, ax = plt.subplots(figsize=(6, 4.5))
    by = defaultdict(list)
    for r in rows:
        by[r["method"]].append((r["budget"], r["min_grad_norm_sq"]))
    for method, pts in sorted(by.items()):
        pts.sort()
        ax.loglog([p[0] for p in pts], [p[1] for p in pts], "o-", label=method)
    first = min(min(p for p in pts) for pts in by.values())
    x0, y0 = first
    xs = [x0, max(r["budget"] for r in rows)]
    ax.loglog(xs, [y0 * (x / x0) ** -0.5 for x in xs], "k--", lw=0.8, label="slope -1/2")
    ax.set_xlabel("budget TK")
    ax.set_ylabel(r"min $\|\nabla l(\theta)\|^2$ over iterates")
    ax.legend()
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=120)


def plot_rate_log(plt, rows, out):
    fig, ax = plt.subplots(figsize=(6, 4.5))
    curves = defaultdict(list)
    for r in rows:
        curves[(r["method"], int(r["budget"]))].append((r["global_step"], r["exact_grad_norm_sq"]))
    for (method, budget), pts in sorted(curves.items()):
        pts.sort()
        best, ys = math.inf, []
        for _, v in pts:
            best = min(best, v)
            ys.append(best)
        ax.loglog([p[0] for p in pts], ys, label=f"{method} TK={budget}")
    ax.set_xlabel("update")
    ax.set_ylabel(r"running min $\|\nabla l(\theta)\|^2$")
    ax.legend(fontsize=7)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=120)


GROUND_TRUTH_METRICS = ["win_rate", "true_reward", "logprob_gap", "kl_to_base"]


def plot_robustness(plt, rows, out, chosen=None):
    metrics = [m[:-5] for m in rows[0] if m.endswith("_mean")]
    if chosen is None and "policy_steps" in rows[0]:  # a ground-truth table: its headline panels
        chosen = GROUND_TRUTH_METRICS
    if chosen is not None:
        unknown = [m for m in chosen if m not in metrics]
        if unknown:
            sys.exit(f"plot_run.py: no metric {', '.join(unknown)}; the table has {', '.join(metrics)}")
        metrics = chosen
    fig, axes = plt.subplots(1, len(metrics), figsize=(4 * len(metrics), 3.8))
    if len(metrics) == 1:
        axes = [axes]
    by = defaultdict(list)
    for r in rows:
        if r.get("round", -1) in (-1, "", None):  # a ground-truth CSV's per-round lines repeat the run's summary
            by[r["method"]].append(r)
    for ax, m in zip(axes, metrics):
        for method, rs in by.items():
            rs.sort(key=lambda r: r["eps"])
            ax.errorbar([r["eps"] for r in rs], [r[m + "_mean"] for r in rs], yerr=[r[m + "_se"] for r in rs],
                        marker="o", capsize=3, label=method)
        ax.set_xlabel("eps (fraction of low-quality demonstrations)")
        ax.set_title(m.replace("_", " "))
        ax.grid(True, alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=120)


def plot_rounds(plt, rows, out):
    per = defaultdict(list)
    for r in rows:
        if r.get("round", -1) not in (-1, "", None):
            per[r["method"]].append(r)
    if not per:
        sys.exit("plot_run.py: --rounds: the table has no per-round lines (a ground-truth CSV of protocol sft-start has)")
    methods = sorted(per)
    fig, axes = plt.subplots(1, len(methods), figsize=(4 * len(methods), 3.8), sharey=True)
    if len(methods) == 1:
        axes = [axes]
    styles = {"demo_loglik": "-", "heldout_loglik": "--", "generation_loglik": ":"}
    eps_values = sorted({r["eps"] for rs in per.values() for r in rs})
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, method in zip(axes, methods):
        for i, e in enumerate(eps_values):
            rs = sorted((r for r in per[method] if r["eps"] == e), key=lambda r: r["round"])
            for key, style in styles.items():
                ax.plot([r["round"] for r in rs], [r[key] for r in rs], style, color=colours[i % len(colours)], marker="o", markersize=3,
                        label=f"{key.replace('_loglik', '')} eps {e:g}")
        ax.set_title(method)
        ax.set_xlabel("round")
        ax.grid(True, alpha=0.3)
    axes[0].set_ylabel("mean log-likelihood at the round's start")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=120)


def plot_steps(plt, rows, out):
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    by = defaultdict(list)
    for r in rows:
        by[r["algorithm"]].append(r)
    for alg, rs in by.items():
        a.plot([r["global_step"] for r in rs], [r["loss"] for r in rs], label=alg)
        b.semilogy([r["global_step"] for r in rs], [max(r["grad_norm_sq"], 1e-300) for r in rs], label=alg)
    a.set_xlabel("update"); a.set_ylabel("loss"); a.legend()
    b.set_xlabel("update"); b.set_ylabel(r"$\|grad\|^2$"); b.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=120)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("log")
    p.add_argument("-o", "--output", help="PNG to write (default: LOG with .png)")
    p.add_argument("--metrics", help="comma-separated metrics to plot (method/eps tables)")
    p.add_argument("--rounds", action="store_true", help="a ground-truth CSV's per-round log-likelihoods instead")
    a = p.parse_args()
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        sys.exit("plot_run.py: needs matplotlib (Debian package python3-matplotlib)")
    try:
        rows = load(a.log)
    except OSError as e:
        sys.exit(f"plot_run.py: cannot read {a.log}: {e.strerror}")
    if not rows:
        sys.exit(f"plot_run.py: {a.log} has no rows")
    out = a.output or a.log.rsplit(".", 1)[0] + ".png"
    keys = set(rows[0])
    if {"exact_grad_norm_sq", "budget", "method"} <= keys:
        plot_rate_log(plt, rows, out)
    elif {"budget", "min_grad_norm_sq", "method"} <= keys:
        plot_rate(plt, rows, out)
    elif {"method", "eps"} <= keys and a.rounds:
        plot_rounds(plt, rows, out)
    elif {"method", "eps"} <= keys:
        plot_robustness(plt, rows, out, a.metrics.split(",") if a.metrics else None)
    elif {"algorithm", "global_step", "loss", "grad_norm_sq"} <= keys:
        plot_steps(plt, rows, out)
    else:
        sys.exit(f"plot_run.py: {a.log}: unrecognised columns {sorted(keys)}")
    print(out)


if __name__ == "__main__":
    main()
