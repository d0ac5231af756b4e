"""The GPU check's summary: summary.json (everything the check recorded) and summary.md (the same, to read)."""
from tabulate import tabulate

from xpnet.io import atomic_write, write_json


def write_summary(folder, summary):
    """Write `folder`/summary.json and `folder`/summary.md from the check's `summary` dict."""
    write_json(folder / "summary.json", summary)
    with atomic_write(folder / "summary.md", "w") as f:
        f.write(markdown(summary))


def markdown(summary):
    """The summary as a markdown page: verdict, problems, machine, steps, their commands."""
    failed = summary["failed"]
    lines = [f"# xpnet GPU check, {summary['date']}", "",
             f"**{'FAILED: ' + ', '.join(failed) if failed else 'Every step passed.'}**", ""]
    if summary["problems"]:
        lines += [f"- {problem}" for problem in summary["problems"]] + [""]
    machine = summary["machine"]
    described = ("The gpu backend did not load (above)." if "error" in machine else
                 tabulate(machine.items(), ["", ""], tablefmt="github", disable_numparse=True))
    lines += ["## Machine", "", described, ""]
    steps = [(s["name"], s["result"], _blank(s["seconds"]), s["limit_s"], _blank(s.get("exit_status")),
              s.get("log", "")) for s in summary["steps"]]
    lines += ["## Steps", "", tabulate(steps, ["step", "result", "seconds", "limit (s)", "exit status", "log"],
                                       tablefmt="github", disable_numparse=True), ""]
    lines += [f"- {_training(s['produced'])}" for s in summary["steps"] if "produced" in s]
    lines += [f"- Data: `{summary['data']}`; time budget {summary['budget_s']} s.", "", "## Commands", ""]
    lines += [f"- {s['name']}: `{s['command']}`" for s in summary["steps"] if s["command"]]
    return "\n".join(lines) + "\n"


def _blank(value):
    return "" if value is None else value


def _training(metrics):
    """One line from a run's metrics.json."""
    return (f"Training: {metrics.get('model')} on {metrics.get('dataset')}, {metrics.get('epochs')} epoch(s) on "
            f"{metrics.get('backend')}: test accuracy {metrics.get('test_accuracy', float('nan')):.2%}, "
            f"{metrics.get('seconds')} s")
