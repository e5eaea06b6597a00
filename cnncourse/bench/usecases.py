"""Quality of the CNN use cases: train each with its fixed budget on the CPU and score it.

``python -m cnncourse.bench usecases [--tasks T ...] [--threads N] [--epochs E]``
``python -m cnncourse.bench usecases --evaluate-checkpoints [--n-test N]``

For every use case of :mod:`cnncourse.usecases` (segmentation, localization, detection,
instance segmentation, pose) the benchmark builds the model, trains it with the use case's
:class:`~cnncourse.usecases.Budget` (epochs, batch size, learning rate, training scenes, seed)
and scores it on held-out generated scenes, then prints one Markdown table: the headline metric,
its target, the ratio reached / target, the wall time of the training and the budget. Style
transfer has no target; its row gives how far a short run of
:func:`cnncourse.models.style.stylize` brings the style loss down (final / initial) with the
committed feature network, and the time it takes.

``--evaluate-checkpoints`` trains nothing: it scores the committed checkpoints
(:func:`cnncourse.usecases.load_pretrained`) on the same test scenes, in seconds, and shows the
training time recorded when each was made.

Wall times depend on the machine and on what else runs on it: the environment line says which
machine and how many threads; compare times only within one run.
"""

from __future__ import annotations

import argparse
import time

from cnncourse.bench import environment, format_table


def _style_row(n_steps: int, device: str) -> list:
    from cnncourse.models.style import stylize
    from cnncourse.usecases import STYLE_TRANSFER, load_pretrained, make_test_set

    net = load_pretrained(STYLE_TRANSFER, device)
    scenes = make_test_set("segmentation", 8).scenes
    content, style = scenes.images[0], scenes.images[1]
    start = time.perf_counter()
    result = stylize(content, style, net, steps=n_steps)
    seconds = time.perf_counter() - start
    ratio = result.style_loss[-1] / result.style_loss[0]
    return [STYLE_TRANSFER, "style loss final / initial", "-", f"{ratio:.3f}", "-",
            f"{seconds:.1f}", f"{n_steps} Adam steps on one 64 x 64 image"]


def main(argv=None) -> int:
    import torch

    from cnncourse.usecases import (TASKS, USECASES, checkpoint_records, evaluate_usecase,
                                    load_pretrained, make_test_set, train_usecase)

    parser = argparse.ArgumentParser(prog="python -m cnncourse.bench usecases",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    parser.add_argument("--evaluate-checkpoints", action="store_true",
                        help="score the committed checkpoints instead of training")
    parser.add_argument("--threads", type=int, help="PyTorch CPU threads (default: PyTorch's)")
    parser.add_argument("--epochs", type=int, help="override every budget's epochs")
    parser.add_argument("--n-test", type=int, help="test scenes (default: the budgets')")
    parser.add_argument("--device", default="cpu", help="where to train/evaluate (default cpu)")
    parser.add_argument("--no-style", action="store_true", help="leave out the style-transfer row")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    print(environment())
    rows = []
    if args.evaluate_checkpoints:
        records = checkpoint_records()
        headers = ["task", "metric", "target", "reached", "reached / target", "eval time (s)",
                   "recorded train time (s)", "checkpoint (MB)"]
        for task in args.tasks:
            usecase = USECASES[task]
            start = time.perf_counter()
            try:
                model = load_pretrained(task, args.device)
            except FileNotFoundError:
                rows.append([task, usecase.metric, usecase.target, "no checkpoint", "-", "-", "-", "-"])
                print(f"{task}: no checkpoint (python -m cnncourse.usecases train {task})", flush=True)
                continue
            metrics = evaluate_usecase(task, model, make_test_set(task, args.n_test))
            seconds = time.perf_counter() - start
            value = metrics[usecase.metric]
            record = records.get(task, {})
            rows.append([task, usecase.metric, usecase.target, f"{value:.3f}",
                         f"{value / usecase.target:.2f}", f"{seconds:.1f}",
                         record.get("train_seconds", "-"),
                         f"{record.get('checkpoint_bytes', 0) / 1e6:.2f}"])
            print(f"{task}: {usecase.metric} {value:.4f}", flush=True)
    else:
        headers = ["task", "metric", "target", "reached", "reached / target", "train time (s)",
                   "budget"]
        for task in args.tasks:
            usecase = USECASES[task]
            overrides = {"epochs": args.epochs} if args.epochs else {}
            if args.n_test:
                overrides["n_test"] = args.n_test
            trained = train_usecase(task, device=args.device, **overrides)
            budget = trained.budget
            rows.append([task, usecase.metric, usecase.target, f"{trained.value:.3f}",
                         f"{trained.value / usecase.target:.2f}", f"{trained.train_seconds:.1f}",
                         f"{budget.epochs} epochs x {budget.n_train} scenes, batch "
                         f"{budget.batch_size}, lr {budget.lr:g}, seed {budget.seed}"])
            print(f"{task}: {usecase.metric} {trained.value:.4f} after {trained.train_seconds:.1f} s",
                  flush=True)
            if task == "localization":
                del trained
    if not args.no_style:
        try:
            row = _style_row(100, args.device)
            rows.append(row[:len(headers)] if len(headers) == len(row) else
                        row[:5] + [row[5]] + ["-"] * (len(headers) - 6))
        except FileNotFoundError as error:  # the localization checkpoint is not there yet
            print(f"style_transfer: skipped ({error})")
    print()
    print(format_table(headers, rows))
    return 0
