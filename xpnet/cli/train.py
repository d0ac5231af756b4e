"""`xpnet train`: train a built-in model on a data set into a run folder (checkpoint, history, metrics, pictures)."""
import os
import shutil
import warnings

from ..errors import ConfigError
from .options import TRAIN_TYPES, DefaultsHelpFormatter, add_backend, add_data, positive_int, use_backend
from .resume import resumed_config

# What a run writes into its folder; the first four mark a folder as holding a run.
RUN_FILES = ("config.json", "checkpoint", "history.json", "metrics.json", "curves.png", "predictions.png",
             "confusion.png")


def add_parser(sub):
    from ..data.datasets import DATASETS
    from ..models import MODELS
    from ..train.recipes import DEFAULT_RECIPE, OPTIMIZERS, SCHEDULERS
    p = sub.add_parser("train", help="train a built-in model on a data set",
                       formatter_class=DefaultsHelpFormatter)
    p.add_argument("--model", default="lenet5", choices=tuple(MODELS), help="the model to train")
    p.add_argument("--dataset", default="mnist", choices=DATASETS, help="the data set to train and test on")
    p.add_argument("--epochs", type=TRAIN_TYPES["epochs"], default=None, help=_recipe_help("epochs"))
    p.add_argument("--batch-size", type=TRAIN_TYPES["batch_size"], default=None, help=_recipe_help("batch_size"))
    p.add_argument("--optimizer", default=None, choices=tuple(OPTIMIZERS), help=_recipe_help("optimizer"))
    p.add_argument("--lr", type=TRAIN_TYPES["lr"], default=None,
                   help=f"learning rate (the peak one for onecycle); default: the recipe's "
                        f"{DEFAULT_RECIPE['lr']:g} for its optimizer, else the optimizer's own "
                        "(xpnet.train.recipes.OPTIMIZERS)")
    p.add_argument("--weight-decay", type=TRAIN_TYPES["weight_decay"], default=None,
                   help="L2 penalty (decoupled for adamw); the optimizer's default when not given")
    p.add_argument("--momentum", type=TRAIN_TYPES["momentum"], default=None,
                   help="momentum for the sgd family and rmsprop; the optimizer's default when not given")
    p.add_argument("--scheduler", default=None, choices=SCHEDULERS,
                   help="learning-rate schedule over the run (onecycle: up to --lr, then down); "
                        + _recipe_help("scheduler"))
    p.add_argument("--shift", type=TRAIN_TYPES["shift"], default=None,
                   help="augment: move each training image by a random 0 to N pixels each way (0: off); "
                        + _recipe_help("shift"))
    p.add_argument("--seed", type=TRAIN_TYPES["seed"], default=None, help="default 0")
    p.add_argument("--out", default=None, help="run folder (else runs/<model>-<dataset>)")
    again = p.add_mutually_exclusive_group()
    again.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    again.add_argument("--overwrite", action="store_true",
                       help="start a new run in --out even though it holds one, replacing that run's files")
    p.add_argument("--quiet", action="store_true", help="no progress bar or per-epoch lines")
    p.add_argument("--workers", type=positive_int, default=None, metavar="N",
                   help="train on N processes of this machine: re-runs this command under mpiexec (needs "
                        "pip install 'xpnet[mpi]'); same as mpiexec -n N xpnet train ...")
    p.add_argument("--sync-bn", action="store_true",
                   help="on several processes, batch norm over the whole batch (SyncBatchNorm) instead of each "
                        "process's part")
    add_backend(p)
    add_data(p)
    return p


def _recipe_help(key):
    from ..train.recipes import DEFAULT_RECIPE, RECIPES
    special = ", ".join(f"{model} {recipe[key]}" for model, recipe in RECIPES.items() if key in recipe)
    return f"default: the model's recipe, {special + ', else ' if special else ''}{DEFAULT_RECIPE[key]}"


def _apply_recipe(args):
    """Fill in the options that the command line left out (None) from the model's recipe."""
    from ..train.recipes import OPTIMIZERS, recipe
    defaults = recipe(args.model)
    if args.optimizer not in (None, defaults["optimizer"]):
        defaults["lr"] = OPTIMIZERS[args.optimizer][1]  # another optimizer than the recipe's: its own default rate
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)


def run(args):
    """Train on this process, or on several: under an MPI launcher, or re-run under one for --workers N."""
    from ..distributed import ReplicasDiffer, fail_together, launched_size, workers, world
    from ..train import TrainingDiverged
    launched = launched_size()
    if args.workers is not None and args.workers > 1 and launched == 1:
        return workers.relaunch(args.workers, ["-m", "xpnet", "train", *args.argv])
    if args.workers is not None and launched != args.workers:
        raise ValueError(f"--workers {args.workers} but an MPI launcher started {launched} processes: leave "
                         "--workers out under mpiexec")
    use_backend(args)
    comm = world()
    try:
        with fail_together(comm, "xpnet train", collective=(TrainingDiverged, ReplicasDiffer)):
            return _train(args, comm)
    except (TrainingDiverged, ReplicasDiffer):
        if comm.rank == 0:
            raise
        return 1  # every process raised it; process 0 reports it


def _train(args, comm):
    from .. import backend
    from ..data import DataLoader, load_dataset, prepare_images
    from ..distributed import convert_sync_batchnorm
    from ..io import write_json
    from ..losses import SoftmaxCrossEntropy
    from ..models import get_model
    from ..train import Trainer, describe
    from ..train import footprint
    from ..train.recipes import build_optimizer, build_scheduler
    backend.keep_freed_memory()
    run_dir = args.out or os.path.join("runs", f"{args.model}-{args.dataset}")
    writer = comm.rank == 0  # the one process that writes the run folder and prints
    if args.resume:  # process 0 reads the run's settings (refusing conflicting options) and hands them on
        config, settings = comm.bcast_object((resumed_config(args, run_dir), vars(args)) if writer else None)
        vars(args).update(settings)
    else:
        _check_free(run_dir, args.overwrite)
        config = {"model": args.model, "model_kwargs": {}, "dataset": args.dataset}
    _apply_recipe(args)
    args.seed = 0 if args.seed is None else args.seed
    backend.seed(args.seed)
    if not writer:
        comm.barrier()  # process 0 reads first: it downloads a missing data set before the others read it
    raw_train, y_train = load_dataset(args.dataset, "train", root=args.data)
    raw_test, y_test = load_dataset(args.dataset, "test", root=args.data)
    if writer:
        comm.barrier()
    if args.batch_size > len(y_train):
        raise ConfigError(f"--batch-size {args.batch_size}: expected at most {len(y_train)}, the number of images "
                          f"in {args.dataset}'s training set")
    x_test = prepare_images(raw_test, dataset=args.dataset)
    part = dict(rank=comm.rank, world_size=comm.size)
    train_loader = DataLoader(prepare_images(raw_train, dataset=args.dataset), y_train, batch_size=args.batch_size,
                              shuffle=True, seed=args.seed, shift=args.shift, **part)
    test_loader = DataLoader(x_test, y_test, batch_size=max(args.batch_size, 1000), shuffle=False, **part)

    model = get_model(config["model"], **config["model_kwargs"])
    share = -(-args.batch_size // comm.size)  # this process's part of each global batch
    footprint.check_batch(model, SoftmaxCrossEntropy(), x_test[0], share)
    if args.sync_bn:
        model = convert_sync_batchnorm(model, comm)
    optimizer = build_optimizer(args.optimizer, model.parameters(), args.lr, weight_decay=args.weight_decay,
                                momentum=args.momentum)
    scheduler = build_scheduler(args.scheduler, optimizer, args.epochs, len(train_loader))
    trainer = Trainer(model, SoftmaxCrossEntropy(), optimizer, scheduler=scheduler, comm=comm)
    if writer and not args.resume:  # a resumed run's config.json is rewritten only once its checkpoint has loaded
        if args.overwrite:
            _remove_run(run_dir)  # no file of the old run stays beside the new one's
        write_json(os.path.join(run_dir, "config.json"), {**config, "train_args": vars(args)})

    with warnings.catch_warnings():
        # NumPy's overflow and invalid-value warnings are how divergence shows on the CPU; the trainer
        # reports it in one clear line (TrainingDiverged) instead
        warnings.filterwarnings("ignore", r"(overflow|invalid value|divide by zero) encountered", RuntimeWarning)
        history = trainer.fit(train_loader, val_loader=test_loader, epochs=args.epochs, out_dir=run_dir,
                              resume=args.resume, verbose=not args.quiet, val_name="test",
                              metadata=describe(config["model"], config["model_kwargs"], args.dataset))
    if writer and args.resume:
        write_json(os.path.join(run_dir, "config.json"), {**config, "train_args": vars(args)})
    result = trainer.evaluate(test_loader)
    if not writer:
        return 0
    preds = trainer.predict(x_test).argmax(axis=1)
    metrics = {"model": config["model"], "dataset": args.dataset, "test_loss": float(result["loss"]),
               "test_accuracy": float(result["accuracy"]), "epochs": len(history["val_acc"]),
               "seconds": round(sum(history["seconds"]), 3), "backend": backend.current(), "processes": comm.size,
               "communicator": comm.name}
    write_json(os.path.join(run_dir, "metrics.json"), metrics)
    pictures = _draw(run_dir, history, raw_test, y_test, preds, args.dataset)

    print(f"test accuracy {metrics['test_accuracy']:.2%} (loss {metrics['test_loss']:.4f}) after "
          f"{metrics['epochs']} epoch(s) on {metrics['backend']}"
          + (f" ({comm.size} processes, {comm.name})" if comm.size > 1 else ""))
    print(f"run folder {run_dir}: checkpoint/, history.json, metrics.json, config.json"
          + (", " + ", ".join(os.path.basename(p) for p in pictures) if pictures else ""))
    return 0


def _check_free(run_dir, overwrite):
    """Refuse to start a new run in a folder that holds one, unless --overwrite says to replace it."""
    found = [name for name in RUN_FILES[:4] if os.path.lexists(os.path.join(run_dir, name))]
    if found and not overwrite:
        raise ConfigError(f"{run_dir} already holds a run ({', '.join(found)}): --resume continues it, "
                          "--overwrite replaces it, or train into another --out")


def _remove_run(run_dir):
    """Remove the files a run writes from `run_dir` (no others)."""
    for name in RUN_FILES:
        path = os.path.join(run_dir, name)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        elif os.path.lexists(path):
            os.remove(path)


def _draw(run_dir, history, images, labels, preds, dataset):
    """The run's pictures (xpnet.plots.plot_run); their paths, or none without matplotlib."""
    from .. import plots
    from ..data.datasets import get
    try:
        return plots.plot_run(run_dir, history, images, labels, preds, class_names=get(dataset).classes,
                              val_name="test")  # the command line validates on the test set
    except ImportError as exc:
        print(f"xpnet train: no pictures: {exc}")
        return []
