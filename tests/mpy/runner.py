# Runs test modules under MicroPython and reports each test_* function.
# Output lines: "@@MPY PASS <name>" or "@@MPY FAIL <name>" followed by a traceback.
import sys


def run_module(name):
    mod = __import__(name)
    failed = 0
    for attr in sorted(dir(mod)):
        if not attr.startswith("test_"):
            continue
        try:
            getattr(mod, attr)()
            print("@@MPY PASS " + attr)
        except Exception as exc:
            failed += 1
            print("@@MPY FAIL " + attr)
            sys.print_exception(exc)
    return failed


sys.exit(1 if sum(run_module(n) for n in sys.argv[1:]) else 0)
