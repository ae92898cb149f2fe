"""The `wdualmine` command line: fuse, eval, demo, bench, train."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from . import __version__
from .controls import BASES, CONTROL_RANGES, FusionControls
from .errors import InputError

log = logging.getLogger("wdualmine")


@contextmanager
def progress_bar(description: str, unit: str = "slice", enabled: bool = True):
    """A tqdm bar driven by progress(done, total) callbacks; silent when stderr is not a terminal
    (a log file or a pipe would collect every redraw)."""
    from tqdm import tqdm

    bar = None
    enabled = enabled and sys.stderr.isatty()

    def update(done: int, total: int) -> None:
        nonlocal bar
        if not enabled:
            return
        if bar is None:
            bar = tqdm(total=total, desc=description, unit=unit, leave=False, file=sys.stderr)
        bar.total = total
        bar.update(done - bar.n)

    try:
        yield update
    finally:
        if bar is not None:
            bar.close()


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value


def non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


MAX_WORKING_SIZE = 2048  # 8x the scale the network was trained at; beyond it only memory grows


def working_size(text: str) -> int:
    value = non_negative_int(text)
    if value > MAX_WORKING_SIZE:
        raise argparse.ArgumentTypeError(f"must be 0..{MAX_WORKING_SIZE} (the network was trained at 256), got {value}")
    return value


def warn(command: str, message: str) -> None:
    """Warnings about the input go to stderr always, not only with --verbose."""
    print(f"wdualmine {command}: warning: {message}", file=sys.stderr)


# the controls that the per-pair adaptation chooses unless they are given on the command line
AUTO_CONTROLS = {"detail_strength": "detail", "base_power": "base_power", "curve_strength": "curve_strength", "equalise": "equalise", "emphasis": "emphasis"}


def add_controls(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("fusion controls (no retraining needed)")
    group.add_argument(
        "--no-auto", dest="auto", action="store_false",
        help="do not adapt the controls to the pair; use the values given or their defaults "
        "(by default --detail, --base-power, --curve-strength, --equalise and --emphasis are chosen for each pair "
        "by scoring a few of its slices against the plain average, unless given)",
    )
    group.add_argument(
        "--no-curve-fit", dest="curve_fit", action="store_false",
        help="3-D with auto: do not fit the reliability curve to the pair (faster: 10-30 s less on a CPU; "
        "only the searched settings are tried)",
    )
    low, high = CONTROL_RANGES["detail_strength"]
    group.add_argument("--detail", type=float, default=None, help=f"detail strength, {low}..{high}: 0 = the reliability-weighted base only, 1 = trained (default: auto, else 1)")
    low, high = CONTROL_RANGES["reliability_bias"]
    group.add_argument("--reliability-bias", type=float, default=None, help=f"{low}..{high}: > 0 trusts A (CT/PET/SPECT) more, < 0 the MRI (default 0)")
    low, high = CONTROL_RANGES["arbitration_bias"]
    group.add_argument("--arbitration-bias", type=float, default=None, help=f"{low}..{high}: > 0 favours the wavelet expert (edges), < 0 the spatial one (default 0)")
    group.add_argument("--base", choices=BASES, default=None, help="what the reliability weights combine: the sources as they are (plain, default) or z-scored")
    low, high = CONTROL_RANGES["base_power"]
    group.add_argument("--base-power", type=float, default=None, help=f"{low}..{high}: power mean of the base; 1 = arithmetic mean (default: auto, else 1)")
    low, high = CONTROL_RANGES["curve_strength"]
    group.add_argument("--curve-strength", type=float, default=None, help=f"{low}..{high}: 0 = plain 50/50 average base, 1 = the learned reliability curve (default: auto, else 1)")
    low, high = CONTROL_RANGES["equalise"]
    group.add_argument("--equalise", type=float, default=None, help=f"{low}..{high}: contrast equalisation of the two inputs before they are combined; 1 = z-scored (default: auto, else 0)")
    low, high = CONTROL_RANGES["emphasis"]
    group.add_argument("--emphasis", type=float, default=None, help=f"{low}..{high}: functional emphasis, more weight to A where A is hottest, e.g. a lesion (default: auto, else 0)")


# the other controls, which auto leaves as given
OTHER_CONTROLS = {"reliability_bias": "reliability_bias", "arbitration_bias": "arbitration_bias", "base": "base"}


def controls_from(args: argparse.Namespace) -> FusionControls:
    options = AUTO_CONTROLS | OTHER_CONTROLS
    given = {name: getattr(args, option) for name, option in options.items() if getattr(args, option) is not None}
    return replace(FusionControls(), **given)


def given_control_options(args: argparse.Namespace) -> list[str]:
    """The control options set on the command line, as the user wrote them (e.g. --base-power)."""
    options = AUTO_CONTROLS | OTHER_CONTROLS
    return ["--" + option.replace("_", "-") for option in options.values() if getattr(args, option, None) is not None]


def fixed_controls(args: argparse.Namespace) -> tuple[str, ...]:
    """The adaptable controls the user set on the command line, which the adaptation leaves alone (and the pair
    curve with --no-curve-fit)."""
    given = tuple(name for name, option in AUTO_CONTROLS.items() if getattr(args, option) is not None)
    return given + (("pair_curve",) if not args.curve_fit else ())  # a fixed pair curve (none): no fit


def saved_controls_for(args: argparse.Namespace):
    """The controls of ``--controls FILE`` (None without it); the file sets every control, so none may be given too."""
    from .controls_file import read_controls_file

    if not args.controls:
        return None
    given = given_control_options(args)
    if given:
        raise InputError(f"--controls {args.controls} sets every control; leave out {', '.join(given)} (or drop --controls)")
    return read_controls_file(args.controls)


def model_checksum(task: str, weights: str | None) -> str | None:
    """The SHA-256 of the model a fusion runs with (None where the given weights file is missing: loading says so)."""
    from .weights import sha256_of, shipped_entry

    if not weights:
        return shipped_entry(task).sha256
    return sha256_of(Path(weights)) if Path(weights).is_file() else None


def command_fuse(args: argparse.Namespace) -> int:
    from .controls_file import uses_model
    from .files import FuseOptions, check_pair_plan, fuse_file_pair, plan_outputs, validate_task
    from .inference import Fuser
    from .volume.window import Window

    a, b, out = Path(args.a), Path(args.b), Path(args.output)
    series = tuple(args.series or ())
    saved = saved_controls_for(args)
    if saved is not None and args.task == "auto":
        task = validate_task(saved.task, a, b, series)
        print(f"wdualmine fuse: task {task}, as {args.controls} says", file=sys.stderr)
    else:
        task = validate_task(args.task, a, b, series)
    if args.task == "auto" and saved is None:  # said always: a wrong guess silently uses the wrong model
        print(f"wdualmine fuse: task {task}, guessed from A's DICOM modality or the file names (--task to change)", file=sys.stderr)
    if saved is not None and saved.task != task:
        raise InputError(f"--controls {args.controls} holds controls chosen for {saved.task}-MRI, not {task}-MRI; give --task {saved.task} or controls saved for {task}")
    plan = plan_outputs(a, b, out)
    model_sha256 = model_checksum(task, args.weights) if saved is not None or args.save_controls else None
    if saved is not None and uses_model(saved.controls) and saved.model_sha256 and model_sha256 and saved.model_sha256 != model_sha256:
        warn("fuse", f"{args.controls} was saved with another model (SHA-256 {saved.model_sha256[:12]}...); its controls use the "
             "model's curve or experts, so this fusion will differ from the saved one")
    options = FuseOptions(
        task=task,
        controls=saved.controls if saved is not None else controls_from(args),
        auto=args.auto and saved is None,
        auto_fixed=fixed_controls(args),
        save_controls=args.save_controls,
        model_sha256=model_sha256,
        controls_from=args.controls,
        saved_windows=saved.windows if saved is not None else None,
        saved_reference=saved.reference if saved is not None else None,
        maps=args.maps,
        window_a=Window.parse(args.window_a) if args.window_a else None,
        window_b=Window.parse(args.window_b) if args.window_b else None,
        axis=args.axis,
        working_size=args.working_size,
        reference=args.reference,
        series=series,
    )
    # every pair is checked from its file headers first, so a bad pair stops the run before anything is written
    for pa, pb, po in plan:
        check_pair_plan(pa, pb, po, args.maps, series, args.save_controls)
    fuser = Fuser.for_task(task, device=args.device, weights=args.weights, batch_size=args.batch_size)
    log.info("task %s, device %s, %d pair(s)", task, fuser.device, len(plan))
    written_total = 0
    with progress_bar("pairs", unit="pair", enabled=len(plan) > 1) as pairs_done:
        for index, (pa, pb, po) in enumerate(plan):
            with progress_bar(pa.name, enabled=len(plan) == 1) as slices_done:
                report: list[str] = []
                written, warnings = fuse_file_pair(fuser, pa, pb, po, options, slices_done, report)
            for warning in warnings:
                warn("fuse", warning)
            for line in report:  # what auto chose: said always, like the guessed task
                print(f"wdualmine fuse: {line}" + (f" [{pa.name}]" if len(plan) > 1 else ""), file=sys.stderr)
            written_total += len(written)
            if len(plan) == 1:
                for path in written:
                    print(path)
            pairs_done(index + 1, len(plan))
    if len(plan) > 1:
        print(f"fused {len(plan)} pairs into {out} ({written_total} files)")
    return 0


def command_eval(args: argparse.Namespace) -> int:
    from .evaluation import evaluate, format_table, rows_as_dicts

    references = tuple(r for r in args.references.split(",") if r) if args.references else ()
    with progress_bar("pairs", unit="pair") as update:
        rows = evaluate(args.sources, args.fused, references, stretch=not args.no_stretch, tasks=args.tasks, method_name=args.name, progress=update)
    if args.json:
        print(json.dumps(rows_as_dicts(rows), indent=2))
    else:
        print(format_table(rows))
    return 0


def command_eval_volumes(args: argparse.Namespace) -> int:
    from .inference import Fuser
    from .pipeline import fuse_volume
    from .volume.window import Window
    from .volume_evaluation import (
        format_summaries, read_case, read_manifest, reference_methods, score_case, summaries_as_dicts, summarise,
    )

    if args.manifest:
        rows = read_manifest(args.manifest)
    elif args.a and args.b:
        rows = [{"case": Path(args.a).name, "task": args.task, "a": args.a, "b": args.b, "lesion": args.lesion}]
    else:
        raise InputError("give A and B (and --task), or --manifest CASES.csv")
    window_a = Window.parse(args.window_a) if args.window_a else None
    window_b = Window.parse(args.window_b) if args.window_b else None
    fusers: dict[str, Fuser] = {}
    controls, fixed = controls_from(args), fixed_controls(args)
    chosen = {}

    def network(case):
        fuser = fusers.setdefault(case.task, Fuser.for_task(case.task, device=args.device))
        pair = case_pair(case)
        result = fuse_volume(fuser, None, None, controls, pair=pair, auto=args.auto, auto_fixed=fixed)
        if result.auto is not None:
            chosen[case.name] = result.auto.describe()
        return sitk.GetArrayFromImage(result.fused)

    scores = []
    with progress_bar("cases", unit="case") as done:
        for index, row in enumerate(rows):
            task = row["task"].lower()
            if task not in ("ct", "pet", "spect"):
                raise InputError(f"case {row['case']}: task {row['task']!r} is not ct, pet or spect")
            case = read_case(row["case"], task, row["a"], row["b"], row.get("lesion") or None, window_a, window_b)
            scores += score_case(case, {args.name: network, **reference_methods()})
            done(index + 1, len(rows))
    summaries = summarise(scores)
    if args.json:
        print(json.dumps({"summaries": summaries_as_dicts(summaries), "auto": chosen}, indent=2))
    else:
        print(format_summaries(summaries))
        for name, text in chosen.items():
            print(f"{name}: {text}")
    return 0


def case_pair(case):
    """An evaluation case as the pipeline's aligned pair (already on one grid and windowed to [0, 1])."""
    from .pipeline import AlignedPair
    from .volume.window import Window

    images = []
    for array in (case.a, case.b):
        image = sitk.GetImageFromArray(array.astype(np.float32))
        image.CopyInformation(case.grid)
        images.append(image)
    views = tuple(sitk.GetArrayViewFromImage(image) for image in images)
    return AlignedPair(case.grid, views[0], views[1], Window(0.0, 1.0), Window(0.0, 1.0), [], tuple(images))


def command_simulate(args: argparse.Namespace) -> int:
    from .sample_data.simulate import parse_kinds, write_set

    kinds = parse_kinds(args.kinds)
    with progress_bar("simulating", unit="case") as update:
        manifest = write_set(args.out_dir, args.cases, args.seed, kinds, args.mri, overwrite=args.overwrite, progress=update)
    print(f"wrote {args.cases} simulated case(s) ({', '.join(kinds)}) into {manifest.parent}; score them with:")
    print(f"  wdualmine eval-volumes --manifest {manifest}")
    return 0


def command_demo(args: argparse.Namespace) -> int:
    from .demo import DEMO_METRICS, run_demo

    with progress_bar("fusing the sample") as update:
        report = run_demo(args.output, args.device, controls_from(args), update, args.auto, fixed_controls(args))
    for warning in report["warnings"]:
        warn("demo", warning)
    print(f"fused the bundled PET + MRI sample on {report['device']}; wrote:")
    for path in report["files"]:
        print(f"  {path}")
    print("\nmean R1 metrics over axial slices (fused image min-max stretched per slice):")
    print("method       " + "".join(f"{m:>8}" for m in DEMO_METRICS))
    for method, values in report["metrics"].items():
        print(f"{method:<13}" + "".join(f"{values[m]:8.3f}" for m in DEMO_METRICS))
    contrast = report["lesion_contrast"]
    print("\nhot lesion contrast against a 10 mm shell ((lesion - shell) / shell): " + ", ".join(f"{k} {v:+.3f}" for k, v in contrast.items()))
    if report["auto"]:
        print(report["auto"])
    return 0


def command_bench(args: argparse.Namespace) -> int:
    import torch

    from .benchmark import format_benchmark, run_benchmark
    from .inference import Fuser

    if args.threads:
        torch.set_num_threads(args.threads)
    fuser = Fuser.for_task(args.task, device=args.device)  # the volumes run at the default batch, as fuse does
    result = run_benchmark(fuser, volume=not args.no_volume, repeats=args.repeats, big=args.big)
    print(json.dumps(result, indent=2) if args.json else format_benchmark(result))
    return 0


def command_gpu_check(args: argparse.Namespace) -> int:
    from .gpu_check import gpu_check

    result = gpu_check(args.device, args.task)
    if result.get("skipped"):
        print(f"wdualmine gpu-check: skipped: {result['reason']}", file=sys.stderr)
    print(json.dumps(result))
    return 0


def train_config(args: argparse.Namespace):
    """TrainConfig from the options shared by `train` and `ablate`."""
    from dataclasses import fields

    from .training.losses import LossWeights
    from .training.trainer import TrainConfig

    if not Path(args.data).is_dir():  # before the trainer makes the work folder
        raise InputError(f"--data {args.data}: no such folder; give a folder laid out as TASK/{{CT|PET|SPECT,MRI}}/<id>.png")
    loss = {}
    for item in filter(None, (args.loss or "").split(",")):
        name, _, value = item.partition("=")
        known = {f.name: f.type for f in fields(LossWeights)}
        if name not in known:
            raise ValueError(f"unknown loss weight {name!r}; use {', '.join(known)}")
        loss[name] = int(value) if name in ("mi_bins", "hinge") else float(value)
    return TrainConfig(
        task=args.task, steps=args.steps, batch_size=args.batch_size, crop=args.crop, learning_rate=args.lr,
        curve_learning_rate=args.curve_lr, seed=args.seed, eval_every=args.eval_every, threads=args.threads, loss=LossWeights(**loss),
        base=args.base, base_power=args.base_power,
    )


def command_train(args: argparse.Namespace) -> int:
    from .training.trainer import train

    config = train_config(args)
    with progress_bar(f"training {args.task}", unit="step") as update:
        metrics = train(config, args.data, args.work_dir, lambda step, total, terms: update(step, total))
    print(json.dumps({"task": args.task, "validation": metrics, "model": str(Path(args.work_dir) / "model.pt")}, indent=2))
    return 0


def command_sweep(args: argparse.Namespace) -> int:
    import torch

    from .training.dataset import load_pairs, split_by_series, subset
    from .training.trainer import validate
    from .weights import load_model, shipped_entry

    torch.set_num_threads(args.threads)
    names = ("CC", "MI", "SCD", "VIF", "Qabf", "SSIM")
    details = [float(d) for d in args.details.split(",")]
    results: dict[str, list[dict]] = {}
    averages: dict[str, float] = {}
    for task in args.tasks:
        if args.weights:
            model, _ = load_model(args.weights)
        else:
            entry = shipped_entry(task)
            model, _ = load_model(entry.path, entry.sha256)
        pairs = load_pairs(args.data, task)
        validation = subset(pairs, split_by_series(pairs.ids)[1])
        rows = []
        for detail in details:
            controls = FusionControls(detail, base=args.base, base_power=args.base_power, curve_strength=args.curve_strength)
            rows.append({"detail": detail, **validate(model, validation, controls)})
        results[task] = rows
        if args.plot:  # the plain average on the same images: the CC panel is drawn relative to it
            averages[task] = validate(model, validation, FusionControls(0.0, curve_strength=0.0))["CC"]
        if not args.json:
            series = ", ".join(sorted({i[:3] for i in validation.ids}))
            print(f"{task}: {len(validation.ids)} validation pairs (series {series}), base {args.base}, power {args.base_power}, "
                  f"curve strength {args.curve_strength}")
            print("detail " + "".join(f"{n:>8}" for n in names))
            for row in rows:
                print(f"{row['detail']:6.2f} " + "".join(f"{row[n]:8.4f}" for n in names))
    if args.json:
        print(json.dumps(results if len(args.tasks) > 1 else results[args.tasks[0]], indent=2))
    if args.plot:
        from .tradeoff_plot import plot_tradeoff

        title = f"W-DUALMINE detail-strength sweep (base {args.base}, power {args.base_power})"
        print(f"plot: {plot_tradeoff(results, args.plot, title, averages)}", file=sys.stderr)
    return 0


def command_ablate(args: argparse.Namespace) -> int:
    from .training.ablation import format_ablation, run_ablation

    config = train_config(args)
    announced: set[str] = set()

    def update(name: str, step: int, total: int) -> None:
        if name not in announced:  # one line per variant; each trains for minutes
            print(f"training: {name}", file=sys.stderr)
            announced.add(name)

    results = run_ablation(config, args.data, args.work_dir, update)
    print(json.dumps(results, indent=2) if args.json else format_ablation(args.task.upper() + "-MRI", results))
    return 0


def add_training_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("task", choices=("ct", "pet", "spect"))
    parser.add_argument("--data", required=True, help="folder laid out as TASK/{CT|PET|SPECT,MRI}/<id>.png")
    parser.add_argument("--work-dir", required=True, help="checkpoints, log.jsonl and the final model.pt go here")
    # the recipe's defaults, as in TrainConfig (a test keeps the two equal; literal here so
    # that building the parser does not import torch)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--crop", type=int, default=256, help="square crop side; 256 = whole AANLIB slices")
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--curve-lr", type=float, default=1e-2, help="learning rate of the reliability curve's tables")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--eval-every", type=int, default=100)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--base", choices=BASES, default="plain", help="what the reliability curve combines during training (plain or zscore)")
    parser.add_argument("--base-power", type=float, default=1.0, help="power mean of that base (1 = arithmetic)")
    parser.add_argument("--loss", help="loss weights to change, e.g. mi=2,gradient=0.25,mi_bins=0 (see training/losses.py)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wdualmine", description="W-DUALMINE multimodal medical image fusion")
    parser.add_argument("--version", action="version", version=f"wdualmine {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    commands = parser.add_subparsers(dest="command", required=True)

    fuse = commands.add_parser("fuse", help="fuse two images or volumes (or two folders of same-named pairs)")
    fuse.add_argument("a", help="CT, PET or SPECT image/volume, DICOM series folder, or folder of files; its grid is the reference")
    fuse.add_argument("b", help="MRI image/volume, DICOM series folder, or folder of files")
    fuse.add_argument("-o", "--output", required=True, help="output file (2-D: PNG..., 3-D: NIfTI/NRRD/MHA) or folder")
    fuse.add_argument("--task", default="auto", help="ct, pet or spect (default: guessed from the paths)")
    fuse.add_argument("--maps", action="store_true", help="also write the reliability maps and the arbitration weight")
    fuse.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N or mps")
    fuse.add_argument("--weights", help="a checkpoint to use instead of the shipped model of the task")
    fuse.add_argument("--series", action="append", metavar="UID", help="DICOM: the series to read where a folder holds several (repeat for A and B)")
    fuse.add_argument("--window-a", help="window of A as WIDTH/LEVEL or LOW:HIGH, e.g. 400/40 or --window-a=-160:240 (a negative LOW needs the =) (default: 0.5-99.5 percentiles; 8-bit as is)")
    fuse.add_argument("--window-b", help="window of B, as --window-a")
    fuse.add_argument("--axis", default="auto", choices=("auto", "axial", "coronal", "sagittal"), help="3-D: slice plane (default: axial acquisition axis)")
    fuse.add_argument("--reference", default="a", choices=("a", "b"), help="3-D: grid of the outputs, A's (default) or B's")
    fuse.add_argument("--working-size", type=working_size, default=256, help="3-D: enlarge smaller slices to this many pixels (0: native)")
    fuse.add_argument("--batch-size", type=positive_int, default=None, help="slices per network batch (default: the device's fastest, 1 on the CPU, 8 on a GPU)")
    fuse.add_argument(
        "--save-controls", action="store_true",
        help="also write the controls the fusion ran with (auto's choice, its fitted curve included) as <name>.controls.json "
        "beside OUT, to fuse the same way again with --controls",
    )
    fuse.add_argument(
        "--controls", metavar="FILE",
        help="fuse with the controls in FILE (written by --save-controls), as they are: no auto, no control options; "
        "the same inputs and windows then get the same fusion on any machine, without auto's search or fit",
    )
    add_controls(fuse)
    fuse.set_defaults(handler=command_fuse)

    evaluation = commands.add_parser("eval", help="R1 metrics per task for a fused folder, with reference fusions")
    evaluation.add_argument("sources", help="folder laid out as TASK/{CT|PET|SPECT,MRI}/<id>.png")
    evaluation.add_argument("fused", nargs="?", help="folder laid out as TASK/<id>.png (omit to score only the references)")
    evaluation.add_argument("--references", default="average,max", help="reference fusions to add as rows (default: average,max; '' for none)")
    evaluation.add_argument("--tasks", nargs="*", help="restrict to these tasks (ct pet spect)")
    evaluation.add_argument("--name", default="W-DUALMINE", help="row name of the fused folder")
    evaluation.add_argument("--no-stretch", action="store_true", help="score fused images as they are (default: min-max stretch, as R1)")
    evaluation.add_argument("--json", action="store_true", help="print JSON instead of a table")
    evaluation.set_defaults(handler=command_eval)

    volumes = commands.add_parser(
        "eval-volumes",
        help="R1 metrics of 3-D fusions per axial slice (mean over slices, then cases) next to the plain average and the max rule, "
        "and a lesion's contrast where a mask is given",
    )
    volumes.add_argument("a", nargs="?", help="CT/PET/SPECT volume of one case (or use --manifest)")
    volumes.add_argument("b", nargs="?", help="the MRI of that case; fusions and scores are on its grid")
    volumes.add_argument("--task", default="pet", help="ct, pet or spect, for a single case")
    volumes.add_argument("--lesion", help="a lesion mask of that case (any grid; resampled onto the MRI's)")
    volumes.add_argument("--manifest", help="CSV with columns case,task,a,b[,lesion] (paths relative to the CSV)")
    volumes.add_argument("--window-a", help="window of A as WIDTH/LEVEL or LOW:HIGH, e.g. 400/40 or --window-a=-160:240 (a negative LOW needs the =) (default: 0.5-99.5 percentiles)")
    volumes.add_argument("--window-b", help="window of B, as --window-a")
    volumes.add_argument("--device", default="auto")
    volumes.add_argument("--name", default="W-DUALMINE", help="row name of the fusion")
    volumes.add_argument("--json", action="store_true", help="print JSON (with per-case rows) instead of a table")
    add_controls(volumes)
    volumes.set_defaults(handler=command_eval_volumes)

    simulate_help = (
        "write simulated held-out validation volumes (PET, SPECT or CT with an MRI and a lesion mask, never used "
        "for tuning) and a manifest for `wdualmine eval-volumes --manifest OUT_DIR/manifest.csv`"
    )
    simulate = commands.add_parser("simulate", help=simulate_help, description=simulate_help[0].upper() + simulate_help[1:] + ".")
    simulate.add_argument("out_dir", metavar="OUT_DIR", help="folder for the cases, simulation.json and manifest.csv (made if missing)")
    simulate.add_argument("--cases", type=int, default=6, help="number of cases; the kinds are taken in turn")
    simulate.add_argument("--seed", type=int, default=0, help="seed of the set, 0 or more (default: 0); the same seed gives the same volumes")
    simulate.add_argument("--kinds", default="pet,spect,ct", help="comma-separated kinds of the A volume: pet, spect, ct")
    simulate.add_argument("--mri", help="a skull-stripped 3-D T1 MRI to simulate from (default: the bundled MRI_T1.nrrd)")
    simulate.add_argument("--overwrite", action="store_true", help="replace a set already in OUT_DIR (its manifest.csv)")
    simulate.set_defaults(handler=command_simulate)

    demo = commands.add_parser("demo", help="fuse the bundled PET + MRI sample into ./demo-output")
    demo.add_argument("-o", "--output", default="demo-output", help="output folder (default: demo-output)")
    demo.add_argument("--device", default="auto")
    add_controls(demo)
    demo.set_defaults(handler=command_demo)

    bench = commands.add_parser("bench", help="parameters, FLOPs and measured speed")
    bench.add_argument("--device", default="auto")
    bench.add_argument("--task", default="pet")
    bench.add_argument("--threads", type=int, default=0, help="CPU threads (default: torch's choice)")
    bench.add_argument("--repeats", type=int, default=3)
    bench.add_argument("--no-volume", action="store_true", help="skip the 256x256x200 volume")
    bench.add_argument("--big", action="store_true", help="also a 512x512x300 CT with a 256x256x180 MRI, all maps, written as .nii.gz: time and peak memory (minutes on a CPU)")
    bench.add_argument("--json", action="store_true")
    bench.set_defaults(handler=command_bench)

    gpu = commands.add_parser("gpu-check", help="fuse the sample and a 256x256x200 volume on CUDA and on the CPU; compare; one JSON line")
    gpu.add_argument("--device", default="cuda", help="the CUDA device to check: cuda or cuda:N (default: cuda)")
    gpu.add_argument("--task", default="pet", choices=("ct", "pet", "spect"), help="whose shipped model to run (default: pet)")
    gpu.set_defaults(handler=command_gpu_check)

    sweep = commands.add_parser("sweep", help="validation R1 metrics of a model across detail strengths (the trade-off)")
    sweep.add_argument("tasks", nargs="+", choices=("ct", "pet", "spect"))
    sweep.add_argument("--data", required=True, help="folder laid out as TASK/{CT|PET|SPECT,MRI}/<id>.png")
    sweep.add_argument("--weights", help="a checkpoint (default: the shipped model of the task)")
    sweep.add_argument("--details", default="0,0.1,0.25,0.5,1,1.5", help="comma-separated detail strengths")
    sweep.add_argument("--base", choices=BASES, default="plain")
    sweep.add_argument("--base-power", type=float, default=1.0)
    sweep.add_argument("--curve-strength", type=float, default=1.0)
    sweep.add_argument("--threads", type=int, default=2)
    sweep.add_argument("--json", action="store_true")
    sweep.add_argument("--plot", help="also draw CC and MI against Qabf (one line per task, the peers marked) into this PNG")
    sweep.set_defaults(handler=command_sweep)

    training = commands.add_parser("train", help="train a model on an AANLIB-style folder (resumes from WORK_DIR)")
    add_training_options(training)
    training.set_defaults(handler=command_train)

    ablate = commands.add_parser("ablate", help="train the full model and one variant without each component; print the table")
    add_training_options(ablate)
    ablate.add_argument("--json", action="store_true")
    ablate.set_defaults(handler=command_ablate)
    from .cli_help import document  # every option's default and each command's example in --help

    return document(parser)


def main(argv: list[str] | None = None) -> int:
    from .device import DeviceError, is_out_of_memory
    from .inference import Cancelled
    from .weights import WeightsError

    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="wdualmine: %(levelname)s: %(message)s")
    try:
        return args.handler(args)
    except (InputError, WeightsError, DeviceError, ValueError, FileNotFoundError) as error:
        print(f"wdualmine {args.command}: error: {error}", file=sys.stderr)
        return 2
    except (MemoryError, RuntimeError) as error:
        if not is_out_of_memory(error):
            raise
        print(f"wdualmine {args.command}: error: out of memory; use a smaller --batch-size or --working-size, "
              "fuse on a machine with more memory, or crop the volumes", file=sys.stderr)
        return 2
    except Cancelled as error:
        print(f"wdualmine {args.command}: {error}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print(f"wdualmine {args.command}: interrupted; nothing half-written was left behind", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
