"""``make bench``: every benchmark, one after the other, in one run."""
import importlib
import sys
import traceback

MODULES = ['benchmarks.publisher', 'benchmarks.bridges', 'benchmarks.browser_latency',
           'benchmarks.models_plugins', 'benchmarks.security']


def main():
    failed = []
    for name in MODULES:
        print('==', name, flush=True)
        try:
            importlib.import_module(name).main()
        except Exception:  # noqa: BLE001 - report it and run the others
            traceback.print_exc()
            failed.append(name)
    if failed:
        print('benchmarks that failed: %s' % ', '.join(failed))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
