"""``make bench``: every benchmark in one run, one table.

Each module in :data:`MODULES` has ``run(ctx)`` returning rows (see
:mod:`benchmarks.rows`).  This runner prints one table (row, goal, measured,
ratio, met), writes ``benchmarks/results/latest.json`` and the modules' plots
(PNG, into ``docs/_static/bench/``), and regenerates ``docs/benchmarks.rst``
from this run, with the machine it ran on.  The modules' own progress lines go
to ``benchmarks/results/latest.log``.

    python -m benchmarks.run [--quick] [--pin-router] [--only peers,security]

``BENCH_QUICK=1`` is ``--quick`` (fewer rounds and events, minutes not tens
of minutes); ``BENCH_PIN_ROUTER=1`` is ``--pin-router``: the router (and the
peer's server) on core 1, app, publishers and clients on core 0, as in
production where the router has a core of its own.
"""
import argparse
import contextlib
import importlib
import json
import os
import sys
import time
import traceback

sys.modules.setdefault('bjdata', None)  # its broken NumPy import only prints noise

from benchmarks import machine, report, rows  # noqa: E402

MODULES = ['benchmarks.peers', 'benchmarks.publisher', 'benchmarks.history_acks',
           'benchmarks.bridges', 'benchmarks.browser_latency', 'benchmarks.models_plugins',
           'benchmarks.security']
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, 'benchmarks', 'results')
PLOTS = os.path.join(ROOT, 'docs', '_static', 'bench')
DOCS_PAGE = os.path.join(ROOT, 'docs', 'benchmarks.rst')


class Context:
    """What a benchmark module gets: the run's options and a way to save plots."""

    def __init__(self, quick, pin_router, log):
        self.quick = quick
        self.pin_router = pin_router
        self.log = log
        self.plots = []
        self.module = None

    def scale(self, full, quick):
        """``quick`` in a quick run, else ``full``."""
        return quick if self.quick else full

    def plot(self, name, title, draw, xlabel=None, ylabel=None):
        """Save a PNG drawn by ``draw(ax)`` as ``docs/_static/bench/<name>.png``."""
        import matplotlib
        matplotlib.use('Agg')
        import matplotlib.pyplot as plt
        os.makedirs(PLOTS, exist_ok=True)
        fig, ax = plt.subplots(figsize=(7, 3.8))
        draw(ax)
        ax.set_title(title, fontsize=10)
        if xlabel:
            ax.set_xlabel(xlabel)
        if ylabel:
            ax.set_ylabel(ylabel)
        ax.grid(True, alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
        fig.tight_layout()
        path = os.path.join(PLOTS, name + '.png')
        fig.savefig(path, dpi=90)
        plt.close(fig)
        self.plots.append({'module': self.module, 'name': name, 'title': title,
                           'path': os.path.relpath(path, ROOT)})


def run_module(name, ctx):
    """Rows of one module; a module that fails gives one failed row and the run goes on."""
    ctx.module = name.rsplit('.', 1)[-1]
    started = time.monotonic()
    print('== %s' % name, file=sys.stderr, flush=True)
    try:
        with contextlib.redirect_stdout(ctx.log):
            module_rows = importlib.import_module(name).run(ctx)
    except Exception:  # noqa: BLE001 - report it and run the others
        error = traceback.format_exc()
        ctx.log.write(error)
        print(error, file=sys.stderr)
        last_line = error.strip().splitlines()[-1]
        module_rows = [rows.failed('%s (whole module)' % ctx.module, last_line)]
    for row in module_rows:
        row['module'] = ctx.module
    print('   %d rows in %.0f s' % (len(module_rows), time.monotonic() - started),
          file=sys.stderr, flush=True)
    return module_rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--quick', action='store_true',
                        default=os.environ.get('BENCH_QUICK', '') in ('1', 'true', 'yes'))
    parser.add_argument('--pin-router', action='store_true')
    parser.add_argument('--only', help='comma-separated module names, e.g. peers,security')
    parser.add_argument('--no-docs', action='store_true',
                        help='do not regenerate docs/benchmarks.rst (partial runs)')
    args = parser.parse_args(argv)
    if args.pin_router:
        os.environ['BENCH_PIN_ROUTER'] = '1'
    if args.quick:
        os.environ['BENCH_QUICK'] = '1'
    modules = MODULES
    if args.only:
        wanted = {'benchmarks.' + m.strip() for m in args.only.split(',')}
        modules = [m for m in MODULES if m in wanted]
    os.makedirs(RESULTS, exist_ok=True)
    started = machine.describe(quick=args.quick)
    all_rows, ctx = [], None
    with open(os.path.join(RESULTS, 'latest.log'), 'w') as log:
        ctx = Context(args.quick, os.environ.get('BENCH_PIN_ROUTER') == '1', log)
        for name in modules:
            all_rows.extend(run_module(name, ctx))
    results = {'machine': machine.finish(started), 'modules': modules, 'rows': all_rows,
               'plots': ctx.plots}
    with open(os.path.join(RESULTS, 'latest.json'), 'w') as fh:
        json.dump(results, fh, indent=1, default=str)
    print(report.table(all_rows))
    print(report.summary(all_rows))
    if not args.no_docs:
        with open(DOCS_PAGE, 'w') as fh:
            fh.write(report.docs_page(results))
        print('wrote %s and benchmarks/results/latest.json' % os.path.relpath(DOCS_PAGE, ROOT))
    return 1 if any(r['goal']['text'] == 'measurement failed' for r in all_rows) else 0


if __name__ == '__main__':
    sys.exit(main())
